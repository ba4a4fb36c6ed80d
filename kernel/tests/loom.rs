//! Loom models of the decision cache's concurrency: the QSBR grace period (with a CPU coming
//! online), RCU pointer swap + reclaim, L1 slot publish/validate, generation invalidation, and
//! the global table's inline slots (publish, replace, rebuild, refill only after a grace period).
//!
//! `RUSTFLAGS="--cfg loom" cargo test -p kingly-kernel --release --test loom` (preemption bound 5
//! by default, about 5 s; `LOOM_MAX_PREEMPTIONS=10` explores more in about 25 s).
//!
//! The planted ordering bug (`--cfg kingly_planted_bug`: the quiescent-state store loses its
//! `Release`) must be caught: with both flags, `planted_bug_is_caught` passes only if loom
//! reports the causality violation.
#![cfg(loom)]

use kingly_kernel::cpu::CpuOps;
use kingly_kernel::dcache::l1::{Cached, Probe, L1};
use kingly_kernel::dcache::{CacheConfig, DecisionCache, HookId, Key, L1Outcome, Lookup};
use kingly_kernel::rcu::{Rcu, RcuPtr};
use loom::cell::UnsafeCell;
use loom::sync::atomic::{AtomicBool, AtomicPtr, Ordering};
use loom::sync::Arc;
use loom::thread;

/// Loom's CPU: every model thread names its CPU explicitly; spinning yields to loom.
struct LoomCpu;

impl CpuOps for LoomCpu {
    fn cpu_id() -> usize {
        0
    }
    fn irq_save() -> usize {
        0
    }
    fn irq_restore(_state: usize) {}
    fn relax() {
        thread::yield_now();
    }
}

fn model(body: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(5);
    }
    builder.max_branches = 100_000;
    builder.check(body);
}

const POISON: u64 = 0xDEAD;

/// The writer polls for its grace period a bounded number of times instead of spinning in
/// `synchronize`: loom checks safety (no read of a freed object) on every interleaving without
/// needing the fairness a spin loop relies on, which loom does not model.
fn reclaim_a_few_times(rcu: &Rcu<LoomCpu>) {
    for _ in 0..3 {
        rcu.reclaim();
        thread::yield_now();
    }
}

/// An object of a leaked arena: "freeing" it writes poison through a loom cell, so loom reports
/// any read that does not happen-before the free (and memory stays valid for the test itself).
struct Object {
    cell: UnsafeCell<u64>,
}

// SAFETY: an `Object` is shared between the model's threads only to check RCU's protocol:
// loom's cell reports any read that races with the poisoning write.
unsafe impl Sync for Object {}

/// Retiring it "frees" an arena object: dropping it poisons the object.
struct Poisoner(&'static Object);

impl Drop for Poisoner {
    fn drop(&mut self) {
        self.0.cell.with_mut(|value| {
            // SAFETY: loom checks this write against every read (causality).
            unsafe { *value = POISON }
        });
    }
}

/// The QSBR core: a reader (CPU 1) reads the current object in two read-side sections with a
/// quiescent state between; a CPU-less writer swaps, retires the old object and synchronizes.
/// The reader comes online inside the model, so the online/offline handshake is covered too.
fn grace_period_model() {
    model(|| {
        let arena: &'static [Object; 2] =
            Box::leak(Box::new([Object { cell: UnsafeCell::new(1) }, Object { cell: UnsafeCell::new(2) }]));
        let rcu = Arc::new(Rcu::<LoomCpu>::new());
        let current = Arc::new(AtomicPtr::new(&arena[0] as *const Object as *mut Object));

        let reader = {
            let (rcu, current) = (rcu.clone(), current.clone());
            thread::spawn(move || {
                for _ in 0..2 {
                    let guard = rcu.read(1);
                    let object = current.load(Ordering::Acquire);
                    // SAFETY: arena objects are never deallocated.
                    let object = unsafe { &*object };
                    object.cell.with(|value| {
                        // SAFETY: loom checks this read against the poison write.
                        assert_ne!(unsafe { *value }, POISON, "read a freed object");
                    });
                    drop(guard);
                    rcu.quiescent_state(1);
                }
                rcu.offline(1);
            })
        };

        let old = current.swap(&arena[1] as *const Object as *mut Object, Ordering::AcqRel);
        // SAFETY: `old` points into the leaked arena, which outlives the model iteration.
        let old: &'static Object = unsafe { &*old };
        // Unlinked (swapped out): retired, it is poisoned after a grace period.
        rcu.retire(Box::new(Poisoner(old)));
        reclaim_a_few_times(&rcu);
        reader.join().unwrap();
        // Every CPU is offline now: the next grace period completes at once.
        rcu.reclaim();
        assert_eq!(rcu.stats().pending, 0, "{:?}", rcu.stats());
    });
}

#[cfg(not(kingly_planted_bug))]
#[test]
fn qsbr_grace_period_protects_readers() {
    grace_period_model();
}

#[cfg(kingly_planted_bug)]
#[test]
#[should_panic(expected = "Causality violation")]
fn planted_bug_is_caught() {
    grace_period_model();
}

/// `RcuPtr`: real boxes, real frees. The dropped value poisons itself; a reader on CPU 0 must
/// never see that.
struct Payload {
    cell: UnsafeCell<u64>,
}

impl Drop for Payload {
    fn drop(&mut self) {
        self.cell.with_mut(|value| {
            // SAFETY: `&mut self`; loom checks it against readers.
            unsafe { *value = POISON }
        });
    }
}

// SAFETY: `Payload` is shared only through `RcuPtr`, whose protocol loom checks here.
unsafe impl Sync for Payload {}

#[cfg(not(kingly_planted_bug))]
#[test]
fn rcu_ptr_swap_and_reclaim() {
    model(|| {
        let rcu: &'static Rcu<LoomCpu> = Box::leak(Box::new(Rcu::new()));
        let pointer = Arc::new(RcuPtr::new(rcu, Some(Box::new(Payload { cell: UnsafeCell::new(7) }))));
        let reader = {
            let pointer = pointer.clone();
            thread::spawn(move || {
                {
                    let guard = rcu.read(0);
                    if let Some(payload) = pointer.load(&guard) {
                        payload.cell.with(|value| {
                            // SAFETY: loom checks this read against the drop's write.
                            assert_ne!(unsafe { *value }, POISON)
                        });
                    }
                }
                rcu.quiescent_state(0);
                rcu.offline(0);
            })
        };
        pointer.replace(Some(Box::new(Payload { cell: UnsafeCell::new(8) })));
        reclaim_a_few_times(rcu);
        reader.join().unwrap();
        rcu.reclaim();
        assert_eq!(rcu.stats().pending, 0, "{:?}", rcu.stats());
    });
}

/// L1 slot publish/validate: the owner refills one slot ((value 1, version 1) then (value 2,
/// version 2)) while another context validates it: a torn read would pair a value with the
/// other fill's version.
#[cfg(not(kingly_planted_bug))]
#[test]
fn l1_slot_publish_validate() {
    model(|| {
        let l1 = Arc::new(L1::new());
        let key = Key::from_u64(3);
        let probe = Probe::for_key(HookId::SCHED_SLICE, &key);
        l1.fill(&probe, &key, Cached { value: 1, expiry_ticks: u64::MAX, version: 1 });
        let reader = {
            let l1 = l1.clone();
            thread::spawn(move || {
                for (version, value) in [(1, 1), (2, 2)] {
                    match l1.lookup(&probe, &key, version, 0).outcome {
                        L1Outcome::Hit(seen) => assert_eq!(seen, value, "torn slot"),
                        L1Outcome::Stale | L1Outcome::Absent => {}
                    }
                }
            })
        };
        l1.fill(&probe, &key, Cached { value: 2, expiry_ticks: u64::MAX, version: 2 });
        reader.join().unwrap();
        assert_eq!(l1.lookup(&probe, &key, 2, 0).outcome, L1Outcome::Hit(2));
    });
}

/// Generation invalidation: once a CPU knows `invalidate(hook)` returned, its lookups miss,
/// though its L1 still holds the old decision.
#[cfg(not(kingly_planted_bug))]
#[test]
fn invalidation_is_seen_after_it_completes() {
    model(|| {
        let rcu: &'static Rcu<LoomCpu> = Box::leak(Box::new(Rcu::new()));
        let cache = Arc::new(DecisionCache::new(rcu, CacheConfig { max_entries: 4 }));
        let hook = HookId::SCHED_SLICE;
        let key = Key::from_u64(1);
        let ticket = cache.ticket(hook, &key, 0);
        cache.insert(&ticket, 5, u64::MAX).unwrap();
        assert!(matches!(cache.lookup(0, hook, &key, 0), Lookup::Hit(5))); // fills CPU 0's L1
        rcu.offline(0);
        let done = Arc::new(AtomicBool::new(false));
        let reader = {
            let (cache, done) = (cache.clone(), done.clone());
            thread::spawn(move || {
                let invalidated = done.load(Ordering::Acquire);
                let lookup = cache.lookup(0, hook, &key, 0);
                if invalidated {
                    assert!(matches!(lookup, Lookup::Miss(_)), "stale decision after invalidate");
                }
                rcu.offline(0);
            })
        };
        cache.invalidate(hook);
        done.store(true, Ordering::Release);
        reader.join().unwrap();
        assert!(matches!(cache.lookup(0, hook, &key, 0), Lookup::Miss(_)));
    });
}

/// Global table publish and replace: a writer inserts a decision, replaces it in place and
/// inserts a second key, which rebuilds the small table into a new array and retires the old
/// one, while a reader on another CPU looks the first key up twice. The first decision (5) has
/// expired by the reader's clock and the second (7) has not; key 0 and the first decision's
/// values make any half-read show: a payload word read before its store (0) or a value paired
/// with the other decision's expiry gives a hit other than 7.
#[cfg(not(kingly_planted_bug))]
#[test]
fn global_slots_publish_replace_and_rebuild() {
    model(|| {
        let rcu: &'static Rcu<LoomCpu> = Box::leak(Box::new(Rcu::new()));
        let cache = Arc::new(DecisionCache::new(rcu, CacheConfig { max_entries: 4 }));
        let hook = HookId::SCHED_SLICE;
        let key = Key::from_u64(0);
        let reader = {
            let cache = cache.clone();
            thread::spawn(move || {
                for _ in 0..2 {
                    match cache.lookup(1, hook, &key, 6) {
                        Lookup::Hit(value) => assert_eq!(value, 7, "slot read half written or expired"),
                        Lookup::Miss(_) => {}
                    }
                }
                rcu.offline(1);
            })
        };
        cache.insert(&cache.ticket(hook, &key, 0), 5, 5).unwrap();
        cache.insert(&cache.ticket(hook, &key, 0), 7, 100).unwrap();
        cache.insert(&cache.ticket(hook, &Key::from_u64(2), 0), 9, 100).unwrap();
        reclaim_a_few_times(rcu);
        reader.join().unwrap();
        assert!(matches!(cache.lookup(0, hook, &key, 6), Lookup::Hit(7)));
        rcu.offline(0);
    });
}

/// Slot reuse waits for a grace period: a reader on CPU 1 looks key A up while the writer
/// removes A and inserts key B, whose probe starts at A's slot. B may take A's slot only once
/// no reader can still hold A's `meta`; refilled earlier, the reader would pair A's matched
/// `meta` and key with B's value.
#[cfg(not(kingly_planted_bug))]
#[test]
fn a_removed_slot_is_refilled_only_after_a_grace_period() {
    model(|| {
        let rcu: &'static Rcu<LoomCpu> = Box::leak(Box::new(Rcu::new()));
        let cache = Arc::new(DecisionCache::new(rcu, CacheConfig { max_entries: 4 }));
        let hook = HookId::SCHED_SLICE;
        let a = Key::from_u64(0);
        cache.insert(&cache.ticket(hook, &a, 0), 5, 100).unwrap();
        let home = cache.global_home_slot(hook, &a);
        let b = (1..).map(Key::from_u64).find(|key| cache.global_home_slot(hook, key) == home).unwrap();
        let reader = {
            let cache = cache.clone();
            thread::spawn(move || {
                match cache.lookup(1, hook, &a, 6) {
                    Lookup::Hit(value) => assert_eq!(value, 5, "read a slot refilled under the reader"),
                    Lookup::Miss(_) => {}
                }
                rcu.offline(1);
            })
        };
        cache.invalidate_key(hook, &a);
        cache.insert(&cache.ticket(hook, &b, 0), 9, 100).unwrap();
        reader.join().unwrap();
        assert!(matches!(cache.lookup(0, hook, &b, 6), Lookup::Hit(9)));
        rcu.offline(0);
    });
}
