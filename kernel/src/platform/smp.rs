//! Secondary cores: starting them, counting them in, and running work on all of them.

use crate::arch::aarch64::cpu::{self, Aarch64Cpu};
use crate::arch::aarch64::psci::{self, Conduit};
use crate::board::{Board, SecondaryStart};
use crate::cpu::CpuOps;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Cores that finished their setup (core 0 included once it counts itself).
static ONLINE: AtomicUsize = AtomicUsize::new(0);

/// Starts cores 1..MAX_CPUS with the board's method.
pub fn start_secondaries(board: &Board, entry_el: u64) {
    let entry = kingly_boot::secondary_entry_address() as u64;
    match board.secondary_start {
        SecondaryStart::SpinTable { release_slots } => {
            for slot in release_slots {
                // SAFETY: the spin-table slots are words in the first page of RAM, reserved
                // for this by the firmware (and by QEMU's boot stub), identity-mapped.
                unsafe { core::ptr::write_volatile(slot as *mut u64, entry) };
                cpu::clean_to_poc(slot as usize);
            }
            // Cores parked in entry.s (ELF entry at EL3) wait on this word instead.
            let release = kingly_boot::secondary_release_word();
            // SAFETY: a u64 in .data that only this core writes; parked cores read it.
            unsafe { core::ptr::write_volatile(release, 1) };
            cpu::clean_to_poc(release as usize);
            cpu::send_event();
        }
        SecondaryStart::Psci { core_affinity } => {
            let conduit = Conduit::for_entry_el(entry_el);
            // Targets are the board's MPIDR affinities (Pi 5: the core number in Aff1), in the
            // calling core's Aff3/Aff2 cluster.
            let cluster = cpu::mpidr() & 0xff_00ff_0000;
            for (core, affinity) in (1u64..).zip(core_affinity) {
                let status = psci::cpu_on(conduit, cluster | affinity, entry, core);
                if status != 0 {
                    crate::kprintln!("warning: PSCI CPU_ON for core {core} ({affinity:#x}) returned {status}");
                }
            }
        }
    }
}

/// Counts the calling core as up.
pub fn mark_online() {
    ONLINE.fetch_add(1, Ordering::AcqRel);
}

/// Cores up so far.
pub fn online() -> usize {
    ONLINE.load(Ordering::Acquire)
}

/// Waits up to `timeout_ns` for `expected` cores; returns how many came up.
pub fn wait_online(expected: usize, timeout_ns: u64) -> usize {
    let timer = kingly_drivers::generic_timer::GenericTimer;
    let deadline = timer.uptime_ns() + timeout_ns;
    while online() < expected && timer.uptime_ns() < deadline {
        Aarch64Cpu::relax();
    }
    online()
}

/// The job secondaries run next, published with `JOB_GENERATION`.
static JOB: spin::Mutex<Option<fn(usize)>> = spin::Mutex::new(None);
static JOB_GENERATION: AtomicU64 = AtomicU64::new(0);
static JOB_DONE: AtomicUsize = AtomicUsize::new(0);

/// Runs `job(core)` on every online core (the caller's included) and waits for all.
pub fn run_on_all_cores(job: fn(usize)) {
    let others = online().saturating_sub(1);
    *JOB.lock() = Some(job);
    JOB_DONE.store(0, Ordering::Release);
    JOB_GENERATION.fetch_add(1, Ordering::AcqRel);
    job(Aarch64Cpu::cpu_id());
    while JOB_DONE.load(Ordering::Acquire) < others {
        Aarch64Cpu::relax();
    }
}

/// The idle loop of a secondary core: run published jobs, otherwise sleep.
pub fn secondary_idle(core: usize) -> ! {
    let mut seen = JOB_GENERATION.load(Ordering::Acquire);
    loop {
        let generation = JOB_GENERATION.load(Ordering::Acquire);
        if generation != seen {
            seen = generation;
            let job = *JOB.lock();
            if let Some(job) = job {
                job(core);
            }
            JOB_DONE.fetch_add(1, Ordering::AcqRel);
        }
        super::state::RCU.quiescent_state(core);
        // WFI, not WFE: the tick wakes it within a millisecond of a new job, and under QEMU a
        // WFE does not sleep (TCG only yields), so three idle cores would each spin a host
        // thread at 100%.
        cpu::wait_for_interrupt();
    }
}
