//! rcutorture-style torture test of RCU and the decision cache, portable (core + alloc) so the
//! same code runs on host threads (`kernel/tests/torture.rs`) and on the kernel's cores
//! (`kingly boot --test dcache-torture`).
//!
//! Readers look decisions up and hold an RCU-protected object across batches of lookups;
//! writers swap that object (a "swap"), insert decisions, and invalidate keys and hooks. Each
//! hook is owned by one writer, which keeps a model of what the cache must hold. Checks:
//! - **poisoned**: a reader sees an object (or a global cache entry) after it was freed;
//! - **too old**: a reader holds an object whose retirement grace period has completed
//!   (stricter than "older than 2 grace periods": one completed grace period is already wrong);
//! - **stale**: a lookup returns a decision older than an invalidation the reader knows completed;
//! - **lost**: a lookup misses (or returns an older value) although the model held a decision
//!   during the whole lookup.
//!
//! Kernel use: `static TORTURE_RCU: Rcu<Arch> = Rcu::new();`, one shared
//! `Torture::new(&TORTURE_RCU, 4, lookups, swaps)`; every core calls
//! [`Torture::run_on_this_cpu`] (CPUs 0 and 1 also write); core 0 then calls [`Torture::wait`]
//! and prints [`Torture::report`] (exit non-zero if `violations() != 0`).

use super::front::KEY_EPOCHS;
use super::l1::Probe;
use super::{CacheConfig, DecisionCache, HookId, InsertError, Key, Lookup};
use crate::cpu::{CpuOps, MAX_CPUS};
use crate::rcu::sync::{AtomicU64, Ordering};
use crate::rcu::{CachePadded, Rcu, RcuPtr};
use alloc::boxed::Box;
use alloc::vec::Vec;
use core::fmt;

/// Hooks the torture test uses (each owned by writer `hook % writers`).
const HOOKS: usize = 4;
/// Keys per hook (all fit the global table: no legitimate loss).
const KEYS_PER_HOOK: usize = 16;
/// Lookups per read-side section (between quiescent states).
const LOOKUPS_PER_SECTION: u64 = 8;
/// The live object marker.
const LIVE: u64 = 0x5452_5554_4845_4C4C;
const POISONED: u64 = 0xDEAD_BEEF_DEAD_BEEF;

/// The object writers swap.
struct Swapped {
    magic: AtomicU64,
    /// Grace-period number when it was unlinked (0 while current).
    retired_at_gp: AtomicU64,
}

impl Drop for Swapped {
    fn drop(&mut self) {
        self.magic.store(POISONED, Ordering::Relaxed);
    }
}

/// What the model knows of one key.
#[derive(Default)]
struct ModelKey {
    /// Invalidation epoch: odd while an invalidation of this key runs, +2 per invalidation.
    epoch: AtomicU64,
    /// The decision the cache must hold (`epoch << 32 | serial`), 0 = none.
    expected: AtomicU64,
}

#[derive(Default)]
struct Counters {
    lookups: AtomicU64,
    swaps: AtomicU64,
    poisoned: AtomicU64,
    too_old: AtomicU64,
    stale: AtomicU64,
    lost: AtomicU64,
    finished: AtomicU64,
}

/// The outcome of a torture run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TortureReport {
    /// CPUs (reader participants).
    pub cpus: usize,
    /// Lookups made.
    pub lookups: u64,
    /// RCU pointer swaps made.
    pub swaps: u64,
    /// Freed objects or entries read.
    pub poisoned: u64,
    /// Objects held past their grace period.
    pub too_old: u64,
    /// Decisions older than a completed invalidation.
    pub stale: u64,
    /// Decisions the model holds but the cache lost.
    pub lost: u64,
}

impl TortureReport {
    /// All violations.
    pub fn violations(&self) -> u64 {
        self.poisoned + self.too_old + self.stale + self.lost
    }
}

impl fmt::Display for TortureReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "dcache torture: cpus={} lookups={} swaps={} violations={}",
            self.cpus,
            self.lookups,
            self.swaps,
            self.violations()
        )
    }
}

/// A small, fast PRNG (xorshift64*): the test's choices, reproducible per participant.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, bound: usize) -> usize {
        (self.next() >> 33) as usize % bound
    }
}

/// A torture run shared by all participants.
pub struct Torture<C: CpuOps> {
    rcu: &'static Rcu<C>,
    cache: DecisionCache<'static, C>,
    object: RcuPtr<'static, Swapped, C>,
    model: Box<[ModelKey]>,
    keys: Box<[Key]>,
    readers: usize,
    writers: usize,
    /// Kernel layout: writers are CPUs that also read; host layout: writers are CPU-less.
    writers_read: bool,
    lookups_per_reader: u64,
    swaps_per_writer: u64,
    /// Next value serial per writer.
    serials: [CachePadded<AtomicU64>; MAX_CPUS],
    counters: Counters,
}

impl<C: CpuOps> Torture<C> {
    /// The kernel layout: `cpus` cores all read `lookups_per_reader` times; cores 0 and 1
    /// (core 0 alone if `cpus == 1`) also make `swaps` swaps between them. `rcu` should be a
    /// domain of its own (`static TORTURE_RCU: Rcu<Arch> = Rcu::new();`): every participant
    /// goes offline in it when done.
    ///
    /// # Panics
    /// If `cpus` is 0 or above `MAX_CPUS`.
    pub fn new(rcu: &'static Rcu<C>, cpus: usize, lookups_per_reader: u64, swaps: u64) -> Self {
        assert!((1..=MAX_CPUS).contains(&cpus), "torture: cpus must be 1..={MAX_CPUS}");
        Self::build(rcu, cpus, cpus.min(2), true, lookups_per_reader, swaps)
    }

    /// The host layout: `readers` CPUs (threads calling [`Torture::run_reader`]) and
    /// `writers` CPU-less threads calling [`Torture::run_writer`].
    ///
    /// # Panics
    /// If `readers` is 0 or above `MAX_CPUS`, or `writers` is 0 or above `MAX_CPUS`.
    pub fn with_threads(
        rcu: &'static Rcu<C>,
        readers: usize,
        writers: usize,
        lookups_per_reader: u64,
        swaps: u64,
    ) -> Self {
        assert!((1..=MAX_CPUS).contains(&readers), "torture: readers must be 1..={MAX_CPUS}");
        assert!((1..=MAX_CPUS).contains(&writers), "torture: writers must be 1..={MAX_CPUS}");
        Self::build(rcu, readers, writers, false, lookups_per_reader, swaps)
    }

    fn build(
        rcu: &'static Rcu<C>,
        readers: usize,
        writers: usize,
        writers_read: bool,
        lookups_per_reader: u64,
        swaps: u64,
    ) -> Self {
        let keys: Vec<Key> = (0..HOOKS * KEYS_PER_HOOK)
            .map(|index| {
                // Mixed lengths: 8-byte keys and 20-byte keys.
                if index % 2 == 0 {
                    Key::from_u64(index as u64 * 7919)
                } else {
                    let mut bytes = [0u8; 20];
                    bytes[..8].copy_from_slice(&(index as u64).to_le_bytes());
                    bytes[19] = 0xA5;
                    Key::from_bytes(&bytes).unwrap_or(Key::from_u64(index as u64))
                }
            })
            .collect();
        Self {
            rcu,
            cache: DecisionCache::new(rcu, CacheConfig { max_entries: HOOKS * KEYS_PER_HOOK * 2 }),
            object: RcuPtr::new(rcu, Some(Box::new(Swapped::new()))),
            model: (0..HOOKS * KEYS_PER_HOOK).map(|_| ModelKey::default()).collect(),
            keys: keys.into_boxed_slice(),
            readers,
            writers,
            writers_read,
            lookups_per_reader,
            swaps_per_writer: swaps.div_ceil(writers as u64),
            serials: core::array::from_fn(|_| CachePadded(AtomicU64::new(1))),
            counters: Counters::default(),
        }
    }

    fn participants(&self) -> u64 {
        if self.writers_read {
            self.readers as u64
        } else {
            (self.readers + self.writers) as u64
        }
    }

    /// Kernel layout: runs this core's share (`C::cpu_id()`), then goes RCU-offline.
    pub fn run_on_this_cpu(&self) {
        let cpu = C::cpu_id();
        let writer = (self.writers_read && cpu < self.writers).then_some(cpu);
        self.run(Some(cpu), writer);
    }

    /// Host layout: reader CPU `cpu` runs its lookups.
    pub fn run_reader(&self, cpu: usize) {
        self.run(Some(cpu), None);
    }

    /// Host layout: CPU-less writer `writer` runs its swaps.
    pub fn run_writer(&self, writer: usize) {
        self.run(None, Some(writer));
    }

    fn run(&self, cpu: Option<usize>, writer: Option<usize>) {
        let seed = cpu.map_or(100, |cpu| cpu as u64) * 31 + writer.map_or(7, |w| w as u64);
        let mut rng = Rng::new(seed);
        let mut lookups_left = if cpu.is_some() { self.lookups_per_reader } else { 0 };
        let mut swaps_left = if writer.is_some() { self.swaps_per_writer } else { 0 };
        // Interleave writes evenly among reads on a CPU that does both.
        let lookups_per_swap = lookups_left.checked_div(swaps_left).map_or(u64::MAX, |n| n.max(1));
        let mut since_swap = 0;
        while lookups_left > 0 || swaps_left > 0 {
            if let Some(cpu) = cpu.filter(|_| lookups_left > 0) {
                let batch = LOOKUPS_PER_SECTION.min(lookups_left);
                self.read_section(cpu, batch, &mut rng);
                lookups_left -= batch;
                since_swap += batch;
                self.rcu.quiescent_state(cpu);
            }
            if let Some(writer) = writer {
                if swaps_left > 0 && cpu.is_none() && !self.readers_caught_up(swaps_left) {
                    // A CPU-less writer paces itself to the readers' progress, so that writes
                    // spread over the whole run instead of racing ahead.
                    C::relax();
                    continue;
                }
                if swaps_left > 0 && (lookups_left == 0 || since_swap >= lookups_per_swap) {
                    self.write_step(writer, &mut rng);
                    swaps_left -= 1;
                    since_swap = 0;
                    if let Some(cpu) = cpu {
                        self.rcu.quiescent_state(cpu);
                    }
                }
            }
        }
        if let Some(cpu) = cpu {
            self.rcu.offline(cpu);
        }
        self.counters.finished.fetch_add(1, Ordering::AcqRel);
    }

    /// Whether the readers have made their share of lookups for a writer with `swaps_left`.
    fn readers_caught_up(&self, swaps_left: u64) -> bool {
        let total_lookups = self.lookups_per_reader * self.readers as u64;
        let swaps_done = self.swaps_per_writer - swaps_left;
        let due = (total_lookups as u128 * swaps_done as u128 / self.swaps_per_writer as u128) as u64;
        self.counters.lookups.load(Ordering::Relaxed) >= due
            || self.counters.finished.load(Ordering::Relaxed) >= self.readers as u64
    }

    fn read_section(&self, cpu: usize, lookups: u64, rng: &mut Rng) {
        let guard = self.rcu.read(cpu);
        let object = self.object.load(&guard);
        if let Some(object) = object {
            self.check_object(object);
        }
        for _ in 0..lookups {
            let index = rng.below(self.keys.len());
            self.check_lookup(cpu, index);
        }
        if let Some(object) = object {
            self.check_object(object);
        }
        self.counters.lookups.fetch_add(lookups, Ordering::Relaxed);
    }

    fn check_object(&self, object: &Swapped) {
        if object.magic.load(Ordering::Relaxed) != LIVE {
            self.counters.poisoned.fetch_add(1, Ordering::Relaxed);
        }
        let retired_at_gp = object.retired_at_gp.load(Ordering::Acquire);
        if retired_at_gp != 0 && self.rcu.completed_gp() > retired_at_gp {
            self.counters.too_old.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn check_lookup(&self, cpu: usize, index: usize) {
        let model = &self.model[index];
        let hook = hook_of(index);
        let epoch_before = model.epoch.load(Ordering::Acquire);
        let expected_before = model.expected.load(Ordering::Acquire);
        let lookup = self.cache.lookup(cpu, hook, &self.keys[index], 0);
        let expected_after = model.expected.load(Ordering::Acquire);
        let epoch_after = model.epoch.load(Ordering::Acquire);
        let completed_epoch = epoch_before & !1;
        match lookup {
            Lookup::Hit(value) => {
                if value >> 32 < completed_epoch {
                    self.counters.stale.fetch_add(1, Ordering::Relaxed);
                } else if epoch_before == epoch_after && expected_before == expected_after && value < expected_before {
                    self.counters.lost.fetch_add(1, Ordering::Relaxed);
                }
            }
            Lookup::Miss(_) => {
                let held = epoch_before == epoch_after
                    && epoch_before & 1 == 0
                    && expected_before == expected_after
                    && expected_before != 0;
                if held {
                    self.counters.lost.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }

    /// One writer step: swap the object, then insert a decision or invalidate.
    fn write_step(&self, writer: usize, rng: &mut Rng) {
        self.object.replace_and(Some(Box::new(Swapped::new())), |old| {
            old.retired_at_gp.store(self.rcu.current_gp(), Ordering::Release);
        });
        self.counters.swaps.fetch_add(1, Ordering::Relaxed);

        // A hook this writer owns, and one of its keys.
        let owned: Vec<usize> = (0..HOOKS).filter(|hook| hook % self.writers == writer).collect();
        if owned.is_empty() {
            return;
        }
        let hook_number = owned[rng.below(owned.len())];
        let index = hook_number * KEYS_PER_HOOK + rng.below(KEYS_PER_HOOK);
        let hook = hook_of(index);
        let roll = rng.below(256);
        if roll == 0 {
            // Invalidate the whole hook.
            let range = hook_number * KEYS_PER_HOOK..(hook_number + 1) * KEYS_PER_HOOK;
            for model in &self.model[range.clone()] {
                model.epoch.fetch_add(1, Ordering::AcqRel);
            }
            self.cache.invalidate(hook);
            for model in &self.model[range] {
                model.expected.store(0, Ordering::Release);
                model.epoch.fetch_add(1, Ordering::AcqRel);
            }
        } else if roll < 16 {
            let model = &self.model[index];
            model.epoch.fetch_add(1, Ordering::AcqRel);
            self.cache.invalidate_key(hook, &self.keys[index]);
            model.expected.store(0, Ordering::Release);
            model.epoch.fetch_add(1, Ordering::AcqRel);
        } else {
            let model = &self.model[index];
            let epoch = model.epoch.load(Ordering::Acquire);
            let serial = self.serials[writer].fetch_add(1, Ordering::Relaxed) & 0xFFFF_FFFF;
            let value = epoch << 32 | serial;
            let ticket = self.cache.ticket(hook, &self.keys[index], 0);
            match self.cache.insert(&ticket, value, u64::MAX) {
                Ok(()) => model.expected.store(value, Ordering::Release),
                // The key's epoch counter is shared with a key another writer owns (the
                // counters are hashed), whose invalidation or replacement made the ticket
                // stale: the documented spurious refusal. The cache still holds what the model
                // says, which is left as it was.
                Err(InsertError::Stale) if self.epoch_shared_across_writers(index) => {}
                // Otherwise this writer owns the hook and the key's epoch: nothing can
                // invalidate them meanwhile, and the keys fit: a refused insert is a bug.
                Err(_) => {
                    self.counters.lost.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }

    /// Whether key `index` shares its key-epoch counter with a key of another writer's hook.
    fn epoch_shared_across_writers(&self, index: usize) -> bool {
        let counter = |i: usize| Probe::for_key(hook_of(i), &self.keys[i]).epoch_index(KEY_EPOCHS);
        let writer_of = |i: usize| (i / KEYS_PER_HOOK) % self.writers;
        (0..self.keys.len()).any(|other| writer_of(other) != writer_of(index) && counter(other) == counter(index))
    }

    /// Whether every participant has finished.
    pub fn finished(&self) -> bool {
        self.counters.finished.load(Ordering::Acquire) >= self.participants()
    }

    /// Spins (with `C::relax`) until every participant has finished.
    pub fn wait(&self) {
        while !self.finished() {
            C::relax();
        }
    }

    /// The run's counts. After every participant finished, also drains RCU (every retired
    /// object freed) and checks the final cache contents against the model.
    pub fn report(&self) -> TortureReport {
        let mut lost = self.counters.lost.load(Ordering::Relaxed);
        let mut poisoned = self.counters.poisoned.load(Ordering::Relaxed);
        if self.finished() {
            self.rcu.synchronize();
            self.rcu.synchronize();
            for (index, model) in self.model.iter().enumerate() {
                let expected = model.expected.load(Ordering::Acquire);
                let ticket = self.cache.ticket(hook_of(index), &self.keys[index], 0);
                if expected != 0 && !self.cache.holds(ticket.hook(), ticket.key(), expected) {
                    lost += 1;
                }
            }
            if self.rcu.stats().pending != 0 {
                lost += 1;
            }
        }
        poisoned += self.cache.stats().cpus.poisoned_reads;
        TortureReport {
            cpus: self.readers,
            lookups: self.counters.lookups.load(Ordering::Relaxed),
            swaps: self.counters.swaps.load(Ordering::Relaxed),
            poisoned,
            too_old: self.counters.too_old.load(Ordering::Relaxed),
            stale: self.counters.stale.load(Ordering::Relaxed),
            lost,
        }
    }
}

impl Swapped {
    fn new() -> Self {
        Self { magic: AtomicU64::new(LIVE), retired_at_gp: AtomicU64::new(0) }
    }
}

fn hook_of(index: usize) -> HookId {
    HookId::new(index / KEYS_PER_HOOK).unwrap_or(HookId::SCHED_SLICE)
}
