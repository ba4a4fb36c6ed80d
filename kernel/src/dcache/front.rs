//! The cache's front: each hook's version word and each CPU's L1 and counters. Not generic, so
//! the L1 hit function exists once in the kernel library and can be disassembled
//! (`kernel/tests/l1_disasm.rs`).

use super::key::{HookId, Key, MAX_HOOKS};
use super::l1::{L1Outcome, Probe, L1};
use crate::cpu::MAX_CPUS;
use crate::rcu::sync::{AtomicU64, Ordering};
use crate::rcu::CachePadded;
use alloc::boxed::Box;
use alloc::vec::Vec;

/// A hook's version: generation (high 32 bits) | epoch (low 32 bits).
pub(crate) const fn version_generation(version: u64) -> u32 {
    (version >> 32) as u32
}

/// The first version of every hook; slots start with version 0, which never matches.
const FIRST_VERSION: u64 = 1 << 32;

/// One CPU's counters. Written only by that CPU, with a load and a store (no RMW); an interrupt
/// on the same CPU landing between the two can lose one count, which statistics tolerate.
#[derive(Default)]
struct CpuCounters {
    l1_hits: AtomicU64,
    l1_stale: AtomicU64,
    global_hits: AtomicU64,
    misses: AtomicU64,
    l1_evictions: AtomicU64,
    poisoned_reads: AtomicU64,
}

#[inline(always)]
fn bump(counter: &AtomicU64) {
    counter.store(counter.load(Ordering::Relaxed).wrapping_add(1), Ordering::Relaxed);
}

/// One CPU's counters, as read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuCacheStats {
    /// Lookups answered by the L1.
    pub l1_hits: u64,
    /// Lookups answered by the global table.
    pub global_hits: u64,
    /// Lookups answered by neither.
    pub misses: u64,
    /// L1 fills that evicted a live decision of another key.
    pub l1_evictions: u64,
    /// L1 copies found invalidated (old generation or epoch) or expired.
    pub l1_invalidated: u64,
    /// Global entries read after being freed: always 0 unless RCU is broken.
    pub poisoned_reads: u64,
}

impl CpuCacheStats {
    fn add(&mut self, other: &Self) {
        self.l1_hits += other.l1_hits;
        self.global_hits += other.global_hits;
        self.misses += other.misses;
        self.l1_evictions += other.l1_evictions;
        self.l1_invalidated += other.l1_invalidated;
        self.poisoned_reads += other.poisoned_reads;
    }
}

/// One CPU's L1 and counters.
#[repr(C, align(64))]
struct CpuLocal {
    l1: L1,
    counters: CachePadded<CpuCounters>,
}

/// Hook versions, per-CPU L1s and per-CPU counters.
pub struct Front {
    versions: CachePadded<[AtomicU64; MAX_HOOKS]>,
    cpus: Box<[CpuLocal; MAX_CPUS]>,
}

impl Default for Front {
    fn default() -> Self {
        Self::new()
    }
}

impl Front {
    /// Empty L1s; every hook at its first version.
    pub fn new() -> Self {
        let cpus: Vec<CpuLocal> =
            (0..MAX_CPUS).map(|_| CpuLocal { l1: L1::new(), counters: CachePadded(CpuCounters::default()) }).collect();
        let Ok(cpus) = cpus.into_boxed_slice().try_into() else { unreachable!("exactly MAX_CPUS elements") };
        Self { versions: CachePadded(core::array::from_fn(|_| AtomicU64::new(FIRST_VERSION))), cpus }
    }

    /// The hit path: looks (`hook`, `key`) up in CPU `cpu`'s L1.
    ///
    /// Loads only, plus one store to this CPU's own counter line on a hit: no atomic
    /// read-modify-write, no barrier instruction, no write to a line another CPU writes.
    /// `kernel/tests/l1_disasm.rs` checks the aarch64 build of this function.
    ///
    /// # Panics
    /// If `cpu >= MAX_CPUS`.
    #[inline(never)]
    pub fn l1_lookup(&self, cpu: usize, hook: HookId, key: &Key, now_ticks: u64) -> L1Outcome {
        let local = &self.cpus[cpu];
        let version = self.versions.0[hook.index()].load(Ordering::Relaxed);
        let probe = Probe::new(hook.index(), hook.salt(), key);
        let outcome = local.l1.lookup(&probe, key, version, now_ticks);
        if let L1Outcome::Hit(_) = outcome {
            bump(&local.counters.l1_hits);
        }
        outcome
    }

    /// The current version of `hook`.
    #[inline(always)]
    pub(crate) fn version(&self, hook: HookId, order: Ordering) -> u64 {
        self.versions.0[hook.index()].load(order)
    }

    /// The current generation of the hook with index `hook_index`.
    pub(crate) fn generation_of_index(&self, hook_index: usize) -> u32 {
        version_generation(self.versions.0[hook_index % MAX_HOOKS].load(Ordering::Acquire))
    }

    /// Starts a new generation of `hook` (writers only). An RMW: writers bump concurrently.
    pub(crate) fn bump_generation(&self, hook: HookId) {
        self.versions.0[hook.index()].fetch_add(1 << 32, Ordering::AcqRel);
    }

    /// Starts a new epoch of `hook`: L1 copies become stale, global entries stay (writers only).
    /// After 2^32 epochs the carry bumps the generation, which only invalidates more.
    pub(crate) fn bump_epoch(&self, hook: HookId) {
        self.versions.0[hook.index()].fetch_add(1, Ordering::AcqRel);
    }

    /// Fills CPU `cpu`'s L1 after a global hit (that CPU only).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn fill(
        &self,
        cpu: usize,
        probe: &Probe,
        key: &Key,
        value: u64,
        expiry_ticks: u64,
        version: u64,
        now_ticks: u64,
    ) {
        let local = &self.cpus[cpu];
        bump(&local.counters.global_hits);
        let victim_hint = local.counters.global_hits.load(Ordering::Relaxed) as usize;
        let evicted = local.l1.fill(
            probe,
            key,
            value,
            expiry_ticks,
            version,
            |tag| self.versions.0[(tag & 0xFF) as usize % MAX_HOOKS].load(Ordering::Relaxed),
            now_ticks,
            victim_hint,
        );
        if evicted {
            bump(&local.counters.l1_evictions);
        }
    }

    pub(crate) fn count_miss(&self, cpu: usize) {
        bump(&self.cpus[cpu].counters.misses);
    }

    pub(crate) fn count_stale(&self, cpu: usize) {
        bump(&self.cpus[cpu].counters.l1_stale);
    }

    pub(crate) fn count_poisoned(&self, cpu: usize) {
        bump(&self.cpus[cpu].counters.poisoned_reads);
    }

    /// CPU `cpu`'s counters.
    pub fn cpu_stats(&self, cpu: usize) -> CpuCacheStats {
        let counters = &self.cpus[cpu].counters;
        CpuCacheStats {
            l1_hits: counters.l1_hits.load(Ordering::Relaxed),
            global_hits: counters.global_hits.load(Ordering::Relaxed),
            misses: counters.misses.load(Ordering::Relaxed),
            l1_evictions: counters.l1_evictions.load(Ordering::Relaxed),
            l1_invalidated: counters.l1_stale.load(Ordering::Relaxed),
            poisoned_reads: counters.poisoned_reads.load(Ordering::Relaxed),
        }
    }

    /// All CPUs' counters summed.
    pub fn total_stats(&self) -> CpuCacheStats {
        let mut total = CpuCacheStats::default();
        for cpu in 0..MAX_CPUS {
            total.add(&self.cpu_stats(cpu));
        }
        total
    }
}
