//! The text console's commands on this machine (`help`, `ticks`, `uart`, `reboot`, …), for a
//! person at a terminal while no host speaks the framed protocol. Parsing is portable
//! ([`crate::console`]); this runs what was parsed.

use super::ratelimit::ErrorLimiter;
use super::services::KernelServices;
use super::{clock, heap, irq, power, smp, state};
use crate::console::{self, Command, LineAssembler};
use crate::cpu::MAX_CPUS;
use crate::kprintln;
use crate::port::Services;
use core::sync::atomic::Ordering;

/// Runs one console command; unknown words get an error reply, at most as often as `limiter`
/// allows.
pub fn run_command(command: Command<'_>, assembler: &LineAssembler, limiter: &mut ErrorLimiter) {
    match command {
        Command::Help => kprintln!("{}", console::HELP),
        Command::Ping => kprintln!("pong"),
        Command::Echo(text) => kprintln!("{text}"),
        Command::Ticks => {
            let t: [u64; MAX_CPUS] = core::array::from_fn(|i| irq::TICKS[i].load(Ordering::Relaxed));
            kprintln!("ticks: 0={} 1={} 2={} 3={}", t[0], t[1], t[2], t[3]);
        }
        Command::Uart => {
            let c = KernelServices.uart_counters();
            kprintln!(
                "uart: rx_bytes={} overruns={} framing_errors={} parity_errors={} breaks={} ring_drops={} rx_holds={} non_text={} overlong_lines={} suppressed_errors={}",
                c.rx_bytes, c.overruns, c.framing_errors, c.parity_errors, c.breaks, c.ring_drops, c.rx_holds,
                assembler.non_text_bytes, assembler.overlong_lines, limiter.suppressed()
            );
        }
        Command::Reboot => power::reboot(),
        Command::Info => kprintln!(
            "info: board={} cpus={} uptime_ms={} heap={} heap_used={}",
            state::board().name,
            smp::online(),
            clock::uptime_ms(),
            heap::size_bytes(),
            heap::used_bytes()
        ),
        Command::Unknown(word) if limiter.allow(clock::uptime_ms()) => {
            let shown = &word[..word.len().min(32)];
            kprintln!("error: unknown command '{shown}' (try help)")
        }
        Command::Unknown(_) => {}
    }
}
