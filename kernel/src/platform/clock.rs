//! The kernel's clocks: the tick rate, milliseconds since boot, and the decision cache's
//! TTL clock. All read the generic timer, so every core agrees.

use kingly_drivers::generic_timer::GenericTimer;

/// Timer ticks per second on every core.
pub const TICK_HZ: u64 = 1000;

/// Milliseconds since boot.
pub fn uptime_ms() -> u64 {
    GenericTimer.uptime_ns() / 1_000_000
}

/// Current time in ticks (the decision cache's TTL clock): [`TICK_HZ`] per second since boot.
pub fn now_ticks() -> u64 {
    GenericTimer.uptime_ns() / (1_000_000_000 / TICK_HZ)
}
