//! The PMU's instruction counter: event counter 0 counting INST_RETIRED (ARM ARM D11, event
//! 0x08). QEMU counts guest instructions only under `-icount`; without it the counter stays 0.

use core::arch::asm;

/// Starts event counter 0 on the calling core counting retired instructions at EL1 and EL0.
pub fn start_instruction_counter() {
    const INST_RETIRED: u64 = 0x08;
    // SAFETY: programs this core's PMU (PMEVTYPER0 selects the event, PMCNTENSET enables
    // counter 0, PMCR.E enables counting); no memory is touched.
    unsafe {
        asm!(
            "msr pmevtyper0_el0, {event}",
            "msr pmcntenset_el0, {enable}",
            "mrs {tmp}, pmcr_el0",
            "orr {tmp}, {tmp}, #1",
            "msr pmcr_el0, {tmp}",
            "isb",
            event = in(reg) INST_RETIRED,
            enable = in(reg) 1u64,
            tmp = out(reg) _,
            options(nostack, preserves_flags),
        );
    }
}

/// Instructions retired on this core since the counter started.
pub fn instructions_retired() -> u64 {
    let value: u64;
    // SAFETY: reads PMU event counter 0; no memory is touched.
    unsafe { asm!("isb", "mrs {}, pmevcntr0_el0", out(reg) value, options(nostack, preserves_flags)) };
    value
}

/// Runs `f` and returns its result with the instructions it retired.
pub fn count<T>(f: impl FnOnce() -> T) -> (T, u64) {
    let before = instructions_retired();
    let result = f();
    (result, instructions_retired().wrapping_sub(before))
}
