//! The kernel's shared state, set once at boot and read everywhere above: the board it runs
//! on, its RAM, the RCU domain and the decision cache.

use crate::arch::aarch64::cpu::Aarch64Cpu;
use crate::board::{self, Board};
use crate::dcache::{CacheConfig, DecisionCache};
use crate::rcu::Rcu;
use core::sync::atomic::{AtomicU64, Ordering};

// One board per build (build.rs picks the same one for the linker script: virt, then pi5).
#[cfg(feature = "board-virt")]
static TABLE: &Board = &board::virt::BOARD;
#[cfg(all(feature = "board-pi5", not(feature = "board-virt")))]
static TABLE: &Board = &board::pi5::BOARD;
#[cfg(not(any(feature = "board-virt", feature = "board-pi5")))]
static TABLE: &Board = &board::raspi4b::BOARD;

/// The board table refined by the device tree, once core 0 has read it (MMU on).
static REFINED: spin::Once<Board> = spin::Once::new();

static RAM_BYTES: AtomicU64 = AtomicU64::new(0);

/// The table of the board this kernel was built for.
pub fn board_table() -> &'static Board {
    TABLE
}

/// The board this kernel runs on: the table of the board it was built for, with the devices
/// of the firmware's device tree once boot has read it.
pub fn board() -> &'static Board {
    REFINED.get().unwrap_or(TABLE)
}

/// Records the board refined by the device tree (once; later calls keep the first).
pub fn set_board(refined: Board) -> &'static Board {
    REFINED.call_once(|| refined)
}

/// Bytes of RAM found at boot.
pub fn ram_bytes() -> u64 {
    RAM_BYTES.load(Ordering::Relaxed)
}

/// Records the RAM found at boot.
pub fn set_ram_bytes(bytes: u64) {
    RAM_BYTES.store(bytes, Ordering::Relaxed);
}

/// The kernel's RCU domain: the tick and idle loops report quiescent states to it.
pub static RCU: Rcu<Aarch64Cpu> = Rcu::new();
static CACHE: spin::Once<DecisionCache<'static, Aarch64Cpu>> = spin::Once::new();

/// The kernel's decision cache.
pub fn cache() -> &'static DecisionCache<'static, Aarch64Cpu> {
    CACHE.call_once(|| DecisionCache::new(&RCU, CacheConfig { max_entries: 4096 }))
}
