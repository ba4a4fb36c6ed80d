//! `verify-bench`: how long the in-kernel verifier (the one `bpf_load` runs) can hold a core.
//! Verifies each worst-case shape of `kingly_bpf::shapes` (every one at the 64 KiB
//! `bpf_load` limit) and prints its verdict, retired instructions and generic-timer time.
//! Under QEMU run it with `--icount 0` so instruction counts are exact; on a Pi 4 the time
//! column is the real bound.

use super::Tally;
use crate::arch::aarch64::pmu;
use crate::kprintln;
use kingly_bpf::shapes;
use kingly_bpf::verifier::Options;
use kingly_bpf::{asm, Program};
use kingly_drivers::generic_timer::GenericTimer;

/// Prints one line per shape and a summary with the largest count; returns the exit status.
pub(super) fn run() -> u32 {
    pmu::start_instruction_counter();
    let frequency_hz = GenericTimer.frequency_hz().max(1);
    let mut tally = Tally::new("verify-bench");
    let (mut worst_insns, mut worst_us) = (0u64, 0u64);
    for shape in shapes::all() {
        let Ok(slots) = asm::assemble(&shape.asm) else {
            kprintln!("verify-bench: shape={} does not assemble", shape.name);
            tally.count(false);
            continue;
        };
        let count = slots.len();
        let start = GenericTimer.counter();
        let (verdict, insns) =
            pmu::count(|| Program::load_slots(slots, &shape.prog_type, shape.maps, &Options::default()));
        let elapsed_us = (GenericTimer.counter() - start) * 1_000_000 / frequency_hz;
        let verdict = match &verdict {
            Ok(_) => alloc::string::String::from("accepted"),
            Err(e) => alloc::format!("refused ({e})"),
        };
        kprintln!("verify-bench: shape={} slots={count} insns={insns} us={elapsed_us} verdict={verdict}", shape.name);
        worst_insns = worst_insns.max(insns);
        worst_us = worst_us.max(elapsed_us);
        tally.count(true);
    }
    kprintln!("verify-bench: worst insns={worst_insns} us={worst_us}");
    tally.finish()
}
