//! Exception dispatch: interrupts through the GIC (timer tick, UART), faults to a report.

use super::clock::TICK_HZ;
use super::{agents, devices, log, power, sched, state, uart, virtio_port};
use crate::arch::aarch64::cpu::Aarch64Cpu;
use crate::arch::aarch64::exceptions::TrapFrame;
use crate::cpu::{CpuOps, MAX_CPUS};
use crate::fault;
use core::sync::atomic::{AtomicU64, Ordering};
use kingly_drivers::generic_timer::GenericTimer;

/// Ticks taken by each core.
pub static TICKS: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];
/// Interrupts acknowledged that nobody handles.
pub static UNHANDLED: AtomicU64 = AtomicU64::new(0);

/// Per-core timer state: (next deadline, interval) in counter ticks. Written only by its core.
static DEADLINE: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];
static INTERVAL: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];

/// Starts this core's periodic tick and enables its (banked) timer interrupt.
pub fn start_tick() {
    let core = Aarch64Cpu::cpu_id();
    let (deadline, interval) = GenericTimer.start_periodic(1_000_000_000 / TICK_HZ);
    DEADLINE[core].store(deadline, Ordering::Relaxed);
    INTERVAL[core].store(interval, Ordering::Relaxed);
    if let Some(d) = devices::get() {
        d.gic.enable(d.board.timer_intid, 0x80, 0);
    }
}

fn tick() {
    let core = Aarch64Cpu::cpu_id();
    let (deadline, _missed) =
        GenericTimer.rearm_after(DEADLINE[core].load(Ordering::Relaxed), INTERVAL[core].load(Ordering::Relaxed));
    DEADLINE[core].store(deadline, Ordering::Relaxed);
    TICKS[core].store(TICKS[core].load(Ordering::Relaxed) + 1, Ordering::Relaxed);
    // A no-op when the tick interrupted a read-side section (RCU counts nesting).
    state::RCU.quiescent_state(core);
    agents::tick(core);
    // Canary: clobber caller-saved SIMD registers on every tick. The `smoke` suite checks
    // that interrupted code never notices, i.e. that exception entry saves q0-q31.
    // SAFETY: the registers are declared clobbered; no memory is touched.
    unsafe {
        core::arch::asm!("movi v16.16b, #0xa5", "movi v31.16b, #0x5a", out("v16") _, out("v31") _,
                         options(nomem, nostack, preserves_flags));
    }
}

/// Handles every pending interrupt; true if one was the tick.
fn irq() -> bool {
    let Some(d) = devices::get() else { return false };
    let mut ticked = false;
    while let Some(ack) = d.gic.acknowledge() {
        match ack.intid() {
            id if id == d.board.timer_intid => {
                tick();
                ticked = true;
            }
            id if id == d.board.uart_intid => uart::handle_interrupt(),
            id if Some(id) == virtio_port::intid() => virtio_port::handle_interrupt(),
            _ => {
                UNHANDLED.fetch_add(1, Ordering::Relaxed);
            }
        }
        d.gic.end_of_interrupt(ack);
    }
    ticked
}

/// Entry from `vectors.s`.
pub fn handle_exception(frame: &mut TrapFrame, kind: usize) -> &mut TrapFrame {
    match kind {
        1 | 5 => {
            if irq() {
                // The tick may switch this core to another task.
                sched::switch(frame)
            } else {
                frame
            }
        }
        _ => fault_report(frame, kind),
    }
}

fn fault_report(frame: &TrapFrame, kind: usize) -> ! {
    let core = Aarch64Cpu::cpu_id();
    let ec = fault::exception_class(frame.esr);
    let vector = fault::VECTOR_NAMES.get(kind).copied().unwrap_or("?");
    log::write_fmt_panicking(format_args!(
        "\nFAULT on core {core}: {} (EC {ec:#04x}) via {vector}\n  ESR={:#010x} FAR={:#018x} ELR={:#018x} SPSR={:#010x}\n",
        fault::class_name(ec),
        frame.esr,
        frame.far,
        frame.elr,
        frame.spsr,
    ));
    if fault::is_abort(ec) {
        let access = if fault::is_write(frame.esr) { "write" } else { "read" };
        log::write_fmt_panicking(format_args!(
            "  {} on {access} of {:#x}\n",
            fault::abort_status(frame.esr),
            frame.far
        ));
    }
    log::write_fmt_panicking(format_args!(
        "  x0={:#x} x1={:#x} x29={:#x} x30={:#x}\n",
        frame.x[0], frame.x[1], frame.x[29], frame.x[30]
    ));
    power::exit(3)
}
