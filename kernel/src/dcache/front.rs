//! The cache's front: each hook's version word and each CPU's L1 and counters. Not generic, so
//! the L1 hit function exists once in the kernel library and can be disassembled
//! (`kernel/tests/l1_disasm.rs`).

use super::key::{HookId, Key, MAX_HOOKS};
use super::l1::{Cached, L1Lookup, L1Outcome, Probe, L1};
use crate::cpu::MAX_CPUS;
use crate::rcu::sync::{AtomicU32, AtomicU64, Ordering};
use crate::rcu::CachePadded;
use alloc::boxed::Box;
use alloc::vec::Vec;

/// A decision's version: hook generation (high 32 bits) | key epoch (low 32 bits).
pub(crate) const fn version_generation(version: u64) -> u32 {
    (version >> 32) as u32
}

/// Key-epoch counters (a key's epoch is shared by the keys hashing to the same counter, which
/// only costs those keys an extra L1 miss).
#[cfg(not(loom))]
pub(crate) const KEY_EPOCHS: usize = 1024;
#[cfg(loom)]
pub(crate) const KEY_EPOCHS: usize = 4;

const _: () = assert!(KEY_EPOCHS.is_power_of_two());

/// Every hook's first generation; slots start with version 0, which never matches.
const FIRST_GENERATION: u32 = 1;

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
pub(crate) struct CpuLocal {
    l1: L1,
    counters: CachePadded<CpuCounters>,
}

impl CpuLocal {
    /// Fills this CPU's L1 after a global hit (this CPU only) and counts the hit and the
    /// eviction it caused. Branch-free counting: nearly every fill of a busy direct-mapped L1
    /// evicts.
    #[inline(always)]
    pub(crate) fn fill(&self, probe: &Probe, key: &Key, cached: Cached) {
        let evicted = self.l1.fill(probe, key, cached);
        let counters = &self.counters;
        bump(&counters.global_hits);
        let evictions = &counters.l1_evictions;
        evictions.store(evictions.load(Ordering::Relaxed).wrapping_add(evicted as u64), Ordering::Relaxed);
    }

    #[inline(always)]
    pub(crate) fn count_miss(&self) {
        bump(&self.counters.misses);
    }

    #[inline(always)]
    pub(crate) fn count_stale(&self) {
        bump(&self.counters.l1_stale);
    }

    #[inline(always)]
    pub(crate) fn count_poisoned(&self) {
        bump(&self.counters.poisoned_reads);
    }
}

/// Hook generations, key epochs, per-CPU L1s and per-CPU counters.
///
/// A cached copy is valid while its version equals `(generation of its hook, epoch of its key)`:
/// `invalidate(hook)` bumps the generation, `invalidate_key` and replacing a decision bump the
/// key's epoch. Neither touches a copy.
pub struct Front {
    generations: CachePadded<[AtomicU32; MAX_HOOKS]>,
    key_epochs: [AtomicU32; KEY_EPOCHS],
    cpus: Box<[CpuLocal; MAX_CPUS]>,
}

impl Default for Front {
    fn default() -> Self {
        Self::new()
    }
}

impl Front {
    /// Empty L1s; every hook at its first generation.
    pub fn new() -> Self {
        let cpus: Vec<CpuLocal> =
            (0..MAX_CPUS).map(|_| CpuLocal { l1: L1::new(), counters: CachePadded(CpuCounters::default()) }).collect();
        let Ok(cpus) = cpus.into_boxed_slice().try_into() else { unreachable!("exactly MAX_CPUS elements") };
        Self {
            generations: CachePadded(core::array::from_fn(|_| AtomicU32::new(FIRST_GENERATION))),
            key_epochs: core::array::from_fn(|_| AtomicU32::new(0)),
            cpus,
        }
    }

    /// The hit path: looks (`hook`, `key`) up in CPU `cpu`'s L1.
    ///
    /// Loads only, plus one store to this CPU's own counter line on a hit: no atomic
    /// read-modify-write, no barrier instruction, no write to a line another CPU writes.
    /// `kernel/tests/l1_disasm.rs` checks the aarch64 build of this function, an out-of-line
    /// copy of [`Front::l1_lookup_inline`], which `DecisionCache::lookup` inlines.
    ///
    /// # Panics
    /// If `cpu >= MAX_CPUS`.
    #[inline(never)]
    pub fn l1_lookup(&self, cpu: usize, hook: HookId, key: &Key, now_ticks: u64) -> L1Lookup {
        self.l1_lookup_inline(cpu, hook, key, now_ticks)
    }

    /// [`Front::l1_lookup`], inlined into its caller: a call costs about a third of a hit.
    #[inline(always)]
    pub fn l1_lookup_inline(&self, cpu: usize, hook: HookId, key: &Key, now_ticks: u64) -> L1Lookup {
        let local = &self.cpus[cpu];
        let probe = Probe::new(hook.index(), hook.salt(), key);
        let version = self.version(hook, &probe, Ordering::Relaxed);
        let lookup = local.l1.lookup(&probe, key, version, now_ticks);
        if let L1Outcome::Hit(_) = lookup.outcome {
            bump(&local.counters.l1_hits);
        }
        lookup
    }

    /// The current version of (`hook`, the key of `probe`).
    #[inline(always)]
    pub(crate) fn version(&self, hook: HookId, probe: &Probe, order: Ordering) -> u64 {
        let generation = self.generations.0[hook.index()].load(order);
        let epoch = self.key_epochs[probe.epoch_index(KEY_EPOCHS)].load(order);
        (generation as u64) << 32 | epoch as u64
    }

    /// The current generation of the hook with index `hook_index`.
    pub(crate) fn generation_of_index(&self, hook_index: usize) -> u32 {
        self.generations.0[hook_index].load(Ordering::Acquire)
    }

    /// Starts a new generation of `hook`: every decision of it becomes stale (writers only).
    pub(crate) fn bump_generation(&self, hook: HookId) {
        self.generations.0[hook.index()].fetch_add(1, Ordering::AcqRel);
    }

    /// Starts a new epoch of the key of `probe`: its L1 copies become stale (writers only).
    pub(crate) fn bump_key_epoch(&self, probe: &Probe) {
        self.key_epochs[probe.epoch_index(KEY_EPOCHS)].fetch_add(1, Ordering::AcqRel);
    }

    /// CPU `cpu`'s L1 and counters (taken once per lookup: through `self`, the compiler reloads
    /// the per-CPU array's address after every counter store).
    ///
    /// # Panics
    /// If `cpu >= MAX_CPUS`.
    #[inline(always)]
    pub(crate) fn local(&self, cpu: usize) -> &CpuLocal {
        &self.cpus[cpu]
    }

    /// Fills CPU `cpu`'s L1 after a global hit (that CPU only). Out of line: the aarch64
    /// disassembly test uses its `dmb` to check that it can see one; the global hit path
    /// inlines the same fill.
    #[inline(never)]
    pub fn fill(&self, cpu: usize, probe: &Probe, key: &Key, cached: Cached) {
        self.local(cpu).fill(probe, key, cached);
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
