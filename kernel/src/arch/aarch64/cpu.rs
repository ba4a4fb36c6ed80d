//! The calling core: its index, interrupt masking, events, cache maintenance.

use crate::cpu::CpuOps;
use aarch64_cpu::asm;
use aarch64_cpu::registers::{CurrentEL, DAIF, MPIDR_EL1, TPIDR_EL1};
use core::arch::asm;
use tock_registers::interfaces::{Readable, Writeable};

/// CPU operations of the running core.
pub struct Aarch64Cpu;

impl CpuOps for Aarch64Cpu {
    #[inline(always)]
    fn cpu_id() -> usize {
        TPIDR_EL1.get() as usize
    }

    #[inline(always)]
    fn irq_save() -> usize {
        let state = DAIF.get() as usize;
        // SAFETY: masking IRQs on this core has no memory effects.
        unsafe { asm!("msr daifset, #2", options(nomem, nostack, preserves_flags)) };
        state
    }

    #[inline(always)]
    fn irq_restore(state: usize) {
        DAIF.set(state as u64);
    }

    #[inline(always)]
    fn relax() {
        core::hint::spin_loop();
    }
}

/// Records this core's index where [`Aarch64Cpu::cpu_id`] finds it.
pub fn set_cpu_id(core: usize) {
    TPIDR_EL1.set(core as u64);
}

/// MPIDR_EL1 of the calling core.
pub fn mpidr() -> u64 {
    MPIDR_EL1.get()
}

/// The current exception level.
pub fn current_el() -> u64 {
    CurrentEL.read(CurrentEL::EL)
}

/// Unmasks IRQs on this core.
pub fn enable_irqs() {
    // SAFETY: unmasking IRQs; the vector table is installed before any caller does this.
    unsafe { asm!("msr daifclr, #2", options(nomem, nostack, preserves_flags)) };
}

/// Waits for an event or interrupt.
pub fn wait_for_event() {
    asm::wfe();
}

/// Waits for an interrupt.
pub fn wait_for_interrupt() {
    asm::wfi();
}

/// Wakes cores waiting in WFE.
pub fn send_event() {
    asm::sev();
}

/// Cleans the data cache line holding `address` to the point of coherency, so a core with
/// its MMU (and caches) still off sees the value.
pub fn clean_to_poc(address: usize) {
    // SAFETY: DC CVAC on a mapped address only writes back a cache line.
    unsafe { asm!("dc cvac, {0}", "dsb sy", in(reg) address, options(nostack, preserves_flags)) };
}

/// Stops this core for good (interrupts masked).
pub fn halt() -> ! {
    Aarch64Cpu::irq_save();
    loop {
        asm::wfe();
    }
}
