//! `smoke` (the machine: heap, cores, ticks, SIMD state across interrupts, atomics), the
//! deliberate `fault` and `panic` the host's fault reports are tested with, and
//! `dcache-torture` (the decision cache under RCU on every core).

use super::{Case, Tally, SUITES};
use crate::arch::aarch64::cpu::Aarch64Cpu;
use crate::cpu::{CpuOps, MAX_CPUS};
use crate::kprintln;
use crate::platform::{heap, irq, smp};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};
use kingly_drivers::generic_timer::GenericTimer;

const SMOKE: &[Case<&str>] = &[
    ("heap_allocates_and_frees", heap_allocates_and_frees),
    ("all_cores_online", all_cores_online),
    ("ticks_on_every_core", ticks_on_every_core),
    ("simd_registers_survive_interrupts", simd_registers_survive_interrupts),
    ("atomics_across_cores", atomics_across_cores),
    ("registry_matches_the_host_list", registry_matches_the_host_list),
];

pub(super) fn run() -> u32 {
    let mut tally = Tally::new("smoke");
    tally.cases(SMOKE);
    tally.finish()
}

/// The host refuses `--test` names not in [`crate::bootargs::TEST_SUITES`] before it builds:
/// a suite missing from that list could never be run, a name missing here would boot to an
/// error.
fn registry_matches_the_host_list() -> Result<(), &'static str> {
    let host = crate::bootargs::TEST_SUITES;
    if SUITES.len() != host.len() || !SUITES.iter().all(|suite| host.contains(&suite.name)) {
        return Err("the kernel's suites and bootargs::TEST_SUITES differ");
    }
    Ok(())
}

pub(super) fn deliberate_panic() -> u32 {
    panic!("deliberate panic requested by --test panic")
}

pub(super) fn deliberate_fault() -> u32 {
    kprintln!("fault: reading unmapped address 0x20_0000_0000 on purpose");
    // SAFETY: not safe at all, on purpose: the read must raise a translation fault, which
    // the exception handler reports before ending the kernel.
    let value = unsafe { core::ptr::read_volatile(0x20_0000_0000 as *const u64) };
    kprintln!("error: the unmapped read returned {value:#x} instead of faulting");
    1
}

fn heap_allocates_and_frees() -> Result<(), &'static str> {
    let before = heap::used_bytes();
    let blocks: Vec<Vec<u64>> = (0..64).map(|i| alloc::vec![i; 1024]).collect();
    if blocks.iter().enumerate().any(|(i, b)| b.iter().any(|v| *v != i as u64)) {
        return Err("allocated blocks overlap");
    }
    if heap::used_bytes() < before + 64 * 8 * 1024 {
        return Err("heap usage did not grow");
    }
    drop(blocks);
    if heap::used_bytes() != before {
        return Err("heap usage did not return to its starting value");
    }
    Ok(())
}

fn all_cores_online() -> Result<(), &'static str> {
    if smp::online() != MAX_CPUS {
        return Err("not every core came up");
    }
    Ok(())
}

fn ticks_on_every_core() -> Result<(), &'static str> {
    // Every core must take a few ticks; allow 2 s of wall time for a loaded host.
    let before: [u64; MAX_CPUS] = core::array::from_fn(|i| irq::TICKS[i].load(Ordering::Relaxed));
    let end = GenericTimer.uptime_ns() + 2_000_000_000;
    loop {
        let behind = (0..MAX_CPUS).find(|&core| irq::TICKS[core].load(Ordering::Relaxed) < before[core] + 5);
        match behind {
            None => return Ok(()),
            Some(core) if GenericTimer.uptime_ns() > end => {
                kprintln!(
                    "  core {core}: {} -> {} ticks in 2 s",
                    before[core],
                    irq::TICKS[core].load(Ordering::Relaxed)
                );
                return Err("a core's timer is not ticking");
            }
            Some(_) => Aarch64Cpu::relax(),
        }
    }
}

fn simd_registers_survive_interrupts() -> Result<(), &'static str> {
    // The tick handler overwrites v16 and v31 on purpose; exception entry must restore them.
    let pattern: u64 = 0x0123_4567_89ab_cdef;
    let ticks_before = irq::TICKS[Aarch64Cpu::cpu_id()].load(Ordering::Relaxed);
    // 1 s of counter time: about 1000 ticks, so many interrupts land inside the window even
    // when a loaded host runs this vCPU only a fraction of the time.
    let end = GenericTimer.counter() + GenericTimer.frequency_hz();
    let (low16, low31): (u64, u64);
    // SAFETY: uses only the declared registers; spins on the counter with IRQs enabled.
    unsafe {
        core::arch::asm!(
            "fmov d16, {p}",
            "fmov d31, {p}",
            "2: mrs {t}, cntpct_el0",
            "cmp {t}, {end}",
            "b.lo 2b",
            "fmov {a}, d16",
            "fmov {b}, d31",
            p = in(reg) pattern,
            end = in(reg) end,
            t = out(reg) _,
            a = out(reg) low16,
            b = out(reg) low31,
            out("v16") _,
            out("v31") _,
        );
    }
    let ticks_after = irq::TICKS[Aarch64Cpu::cpu_id()].load(Ordering::Relaxed);
    if ticks_after < ticks_before + 5 {
        return Err("no interrupts arrived during the check");
    }
    if low16 != pattern || low31 != pattern {
        return Err("SIMD registers changed across interrupts");
    }
    Ok(())
}

static SHARED_COUNTER: AtomicU64 = AtomicU64::new(0);
const INCREMENTS_PER_CORE: u64 = 100_000;

fn atomics_across_cores() -> Result<(), &'static str> {
    SHARED_COUNTER.store(0, Ordering::Relaxed);
    smp::run_on_all_cores(|_core| {
        for _ in 0..INCREMENTS_PER_CORE {
            SHARED_COUNTER.fetch_add(1, Ordering::Relaxed);
        }
    });
    if SHARED_COUNTER.load(Ordering::Relaxed) != INCREMENTS_PER_CORE * smp::online() as u64 {
        return Err("lost updates: atomic read-modify-write is broken");
    }
    Ok(())
}

/// Lookups each core makes in the in-kernel torture run (QEMU TCG: about 1 µs each).
const TORTURE_LOOKUPS_PER_CORE: u64 = 1_000_000;
/// RCU pointer swaps in the run, shared by the two writer cores.
const TORTURE_SWAPS: u64 = 10_000;

static TORTURE: spin::Once<crate::dcache::torture::Torture<Aarch64Cpu>> = spin::Once::new();
/// The torture run's own RCU domain (the kernel's keeps serving the port meanwhile).
static TORTURE_RCU: crate::rcu::Rcu<Aarch64Cpu> = crate::rcu::Rcu::new();

pub(super) fn dcache_torture() -> u32 {
    let cpus = smp::online();
    TORTURE.call_once(|| {
        crate::dcache::torture::Torture::new(&TORTURE_RCU, cpus, TORTURE_LOOKUPS_PER_CORE, TORTURE_SWAPS)
    });
    smp::run_on_all_cores(|_core| {
        if let Some(torture) = TORTURE.get() {
            torture.run_on_this_cpu();
        }
    });
    let mut tally = Tally::new("dcache-torture");
    let Some(torture) = TORTURE.get() else {
        tally.refuse("the torture run was not set up");
        return tally.finish();
    };
    torture.wait();
    let report = torture.report();
    kprintln!("{report}");
    tally.count(report.violations() == 0 && report.cpus == MAX_CPUS);
    tally.finish()
}
