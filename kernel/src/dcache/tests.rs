//! Unit tests of the decision cache (single-threaded semantics; the concurrent ones are in
//! `kernel/tests/`).

use super::*;
use crate::cpu::host::HostCpu;

const HOOK: HookId = HookId::SCHED_SLICE;
const OTHER: HookId = HookId::SCHED_CPU;

fn miss(lookup: Lookup) -> Ticket {
    match lookup {
        Lookup::Miss(ticket) => ticket,
        Lookup::Hit(value) => panic!("expected a miss, got {value}"),
    }
}

fn hit(lookup: Lookup) -> u64 {
    match lookup {
        Lookup::Hit(value) => value,
        Lookup::Miss(ticket) => panic!("expected a hit, missed {:?}", ticket.key()),
    }
}

#[test]
fn miss_insert_then_global_hit_then_l1_hit() {
    let rcu = Rcu::<HostCpu>::new();
    let cache = DecisionCache::new(&rcu, CacheConfig::default());
    let key = Key::from_bytes(b"thread-7").unwrap();
    let ticket = miss(cache.lookup(0, HOOK, &key, 10));
    cache.insert(&ticket, 42, 100).unwrap();
    assert_eq!(hit(cache.lookup(0, HOOK, &key, 11)), 42);
    assert_eq!(cache.front().l1_lookup(0, HOOK, &key, 12).outcome, L1Outcome::Hit(42));
    assert_eq!(hit(cache.lookup(0, HOOK, &key, 12)), 42);
    assert_eq!(cache.front().l1_lookup(1, HOOK, &key, 12).outcome, L1Outcome::Absent, "L1s are per CPU");
    miss(cache.lookup(0, OTHER, &key, 12));
    let stats = cache.stats();
    assert_eq!(stats.cpus.misses, 2);
    assert_eq!(stats.cpus.global_hits, 1);
    assert_eq!(stats.cpus.l1_hits, 2);
    assert_eq!(stats.entries, 1);
}

#[test]
fn ttl_expires_in_l1_and_global() {
    let rcu = Rcu::<HostCpu>::new();
    let cache = DecisionCache::new(&rcu, CacheConfig::default());
    let key = Key::from_u64(5);
    let ticket = miss(cache.lookup(0, HOOK, &key, 100));
    cache.insert(&ticket, 1, 10).unwrap();
    assert_eq!(hit(cache.lookup(0, HOOK, &key, 109)), 1);
    assert_eq!(cache.front().l1_lookup(0, HOOK, &key, 109).outcome, L1Outcome::Hit(1));
    assert_eq!(cache.front().l1_lookup(0, HOOK, &key, 110).outcome, L1Outcome::Stale);
    let ticket = miss(cache.lookup(0, HOOK, &key, 110));
    cache.insert(&ticket, 2, 10).unwrap();
    assert_eq!(hit(cache.lookup(0, HOOK, &key, 111)), 2);
}

#[test]
fn hook_invalidation_reaches_every_cpu_and_refuses_old_tickets() {
    let rcu = Rcu::<HostCpu>::new();
    let cache = DecisionCache::new(&rcu, CacheConfig::default());
    let key = Key::from_u64(9);
    let other_key = Key::from_u64(10);
    let ticket = miss(cache.lookup(0, HOOK, &key, 0));
    cache.insert(&ticket, 7, u64::MAX).unwrap();
    let other = miss(cache.lookup(0, OTHER, &other_key, 0));
    cache.insert(&other, 8, u64::MAX).unwrap();
    for cpu in 0..4 {
        assert_eq!(hit(cache.lookup(cpu, HOOK, &key, 1)), 7);
        assert_eq!(hit(cache.lookup(cpu, HOOK, &key, 1)), 7);
    }
    let in_flight = miss(cache.lookup(0, HOOK, &Key::from_u64(11), 1));
    cache.invalidate(HOOK);
    for cpu in 0..4 {
        assert_eq!(cache.front().l1_lookup(cpu, HOOK, &key, 2).outcome, L1Outcome::Stale);
        miss(cache.lookup(cpu, HOOK, &key, 2));
    }
    assert_eq!(cache.insert(&in_flight, 1, 5), Err(InsertError::Stale));
    assert_eq!(hit(cache.lookup(0, OTHER, &other_key, 2)), 8, "other hooks untouched");
    assert_eq!(cache.stats().entries, 1);
}

#[test]
fn key_invalidation_keeps_other_keys() {
    let rcu = Rcu::<HostCpu>::new();
    let cache = DecisionCache::new(&rcu, CacheConfig::default());
    let a = Key::from_u64(1);
    let b = Key::from_u64(2);
    for (key, value) in [(a, 10), (b, 20)] {
        let ticket = miss(cache.lookup(0, HOOK, &key, 0));
        cache.insert(&ticket, value, u64::MAX).unwrap();
        hit(cache.lookup(0, HOOK, &key, 0));
        hit(cache.lookup(0, HOOK, &key, 0));
    }
    let in_flight_a = cache.ticket(HOOK, &a, 0);
    let in_flight_other = miss(cache.lookup(1, HOOK, &Key::from_u64(3), 0));
    assert!(cache.invalidate_key(HOOK, &a));
    assert!(!cache.invalidate_key(HOOK, &Key::from_u64(99)));
    assert_eq!(cache.front().l1_lookup(0, HOOK, &a, 1).outcome, L1Outcome::Stale);
    miss(cache.lookup(0, HOOK, &a, 1));
    assert_eq!(cache.front().l1_lookup(0, HOOK, &b, 1).outcome, L1Outcome::Hit(20), "b's L1 copy survives");
    assert_eq!(cache.insert(&in_flight_a, 1, 5), Err(InsertError::Stale));
    assert_eq!(cache.insert(&in_flight_other, 3, 5), Ok(()), "other keys' tickets stay valid");
}

#[test]
fn replacing_a_decision_updates_other_cpus_l1() {
    let rcu = Rcu::<HostCpu>::new();
    let cache = DecisionCache::new(&rcu, CacheConfig::default());
    let key = Key::from_u64(1);
    let ticket = cache.ticket(HOOK, &key, 0);
    cache.insert(&ticket, 1, u64::MAX).unwrap();
    hit(cache.lookup(2, HOOK, &key, 0));
    assert_eq!(hit(cache.lookup(2, HOOK, &key, 0)), 1);
    let ticket = cache.ticket(HOOK, &key, 0);
    cache.insert(&ticket, 2, u64::MAX).unwrap();
    assert_eq!(hit(cache.lookup(2, HOOK, &key, 0)), 2);
    assert_eq!(cache.stats().replaced, 1);
}

#[test]
fn table_grows_evicts_l1_and_reports_full() {
    let rcu = Rcu::<HostCpu>::new();
    let cache = DecisionCache::new(&rcu, CacheConfig { max_entries: 500 });
    for n in 0..500u64 {
        let ticket = miss(cache.lookup(0, HOOK, &Key::from_u64(n), 0));
        cache.insert(&ticket, n * 3, u64::MAX).unwrap();
    }
    for n in 0..500u64 {
        assert_eq!(hit(cache.lookup(0, HOOK, &Key::from_u64(n), 0)), n * 3);
    }
    let ticket = cache.ticket(HOOK, &Key::from_u64(1000), 0);
    assert_eq!(cache.insert(&ticket, 0, 1), Err(InsertError::Full));
    let stats = cache.stats();
    assert_eq!(stats.entries, 500);
    assert!(stats.resizes > 0);
    assert!(stats.cpus.l1_evictions > 0);
    // Expired entries are purged to make room.
    let rcu2 = Rcu::<HostCpu>::new();
    let small = DecisionCache::new(&rcu2, CacheConfig { max_entries: 2 });
    small.insert(&small.ticket(HOOK, &Key::from_u64(1), 0), 1, 5).unwrap();
    small.insert(&small.ticket(HOOK, &Key::from_u64(2), 0), 1, 5).unwrap();
    small.insert(&small.ticket(HOOK, &Key::from_u64(3), 10), 1, 5).unwrap();
    assert_eq!(small.stats().entries, 1);
}

#[test]
fn decide_runs_agent_once() {
    let rcu = Rcu::<HostCpu>::new();
    let cache = DecisionCache::new(&rcu, CacheConfig::default());
    let mut runs = 0;
    for _ in 0..10 {
        let value = cache.decide(3, HOOK, &Key::from_u64(4), 0, 1000, || {
            runs += 1;
            77
        });
        assert_eq!(value, 77);
    }
    assert_eq!(runs, 1);
}

#[test]
fn removed_slots_are_reused_after_a_grace_period() {
    let rcu = Rcu::<HostCpu>::new();
    let cache = DecisionCache::new(&rcu, CacheConfig::default());
    for round in 0..200u64 {
        let key = Key::from_u64(round % 5);
        let ticket = miss(cache.lookup(0, HOOK, &key, round));
        cache.insert(&ticket, round, 1).unwrap();
        cache.invalidate_key(HOOK, &key);
        // CPU 0 (online since its lookup) reports a quiescent state: the removal's grace
        // period completes and its slot may be filled again.
        rcu.quiescent_state(0);
    }
    assert_eq!(cache.stats().resizes, 0, "tombstones were reused, the 64-slot table never rebuilt");
    assert_eq!(cache.stats().entries, 0);
}

#[test]
fn tombstones_held_by_a_reader_force_a_rebuild_whose_array_is_freed_later() {
    let rcu = Rcu::<HostCpu>::new();
    let cache = DecisionCache::new(&rcu, CacheConfig::default());
    for round in 0..50u64 {
        let key = Key::from_u64(round % 5);
        let ticket = miss(cache.lookup(0, HOOK, &key, round));
        cache.insert(&ticket, round, 1).unwrap();
        cache.invalidate_key(HOOK, &key);
        // No quiescent state: CPU 0 may still read every removed slot, so none is refilled;
        // tombstones pile up until a rebuild moves the live entries to a fresh array.
    }
    let rebuilds = cache.stats().resizes;
    assert!(rebuilds >= 3, "50 removals with no grace period rebuild a 64-slot table: {rebuilds}");
    rcu.quiescent_state(0);
    rcu.reclaim();
    rcu.quiescent_state(0);
    rcu.reclaim();
    let stats = rcu.stats();
    assert_eq!(stats.pending, 0, "{stats:?}");
    assert_eq!(stats.freed, rebuilds, "every retired array is freed after the grace periods");
}

/// The L1 is direct-mapped: a refill of a key replaces its stale copy in place, and a key that
/// shares the slot evicts it (and says so). A miss survives the trip through one word (how
/// `Runtime::decide` hands it to the out-of-line path).
#[test]
fn refill_replaces_the_slot_and_reports_evictions() {
    use l1::{Cached, L1};
    let l1 = L1::new();
    let slot = Probe::for_key(HOOK, &Key::from_u64(0)).slot();
    let keys: Vec<Key> =
        (0..).map(Key::from_u64).filter(|key| Probe::for_key(HOOK, key).slot() == slot).take(2).collect();
    let other = (0..).map(Key::from_u64).find(|key| Probe::for_key(HOOK, key).slot() != slot).unwrap();
    let lookup = |key: &Key, version: u64| l1.lookup(&Probe::for_key(HOOK, key), key, version, 0);
    let fill = |key: &Key, value: u64, version: u64| {
        l1.fill(&Probe::for_key(HOOK, key), key, Cached { value, expiry_ticks: 100, version })
    };

    assert!(!fill(&keys[0], 1, 1), "an empty slot evicts nothing");
    assert!(!fill(&other, 9, 1));
    assert_eq!(lookup(&keys[0], 1).outcome, L1Outcome::Hit(1));
    assert_eq!(lookup(&keys[0], 2).outcome, L1Outcome::Stale, "an old version is stale, not absent");
    assert_eq!(lookup(&keys[1], 1).outcome, L1Outcome::Absent);
    for miss in [lookup(&keys[0], 2), lookup(&keys[1], 1)] {
        assert_eq!(l1::L1Lookup::from_miss_word(miss.miss_word(), miss.version()), miss);
    }
    assert_eq!(lookup(&keys[0], 1).miss_word(), 0, "a hit is no miss");

    assert!(!fill(&keys[0], 10, 2), "replacing the key's own copy evicts nothing");
    assert_eq!(lookup(&keys[0], 2).outcome, L1Outcome::Hit(10));
    assert!(fill(&keys[1], 20, 2), "another key in the slot evicts it");
    assert_eq!(lookup(&keys[1], 2).outcome, L1Outcome::Hit(20));
    assert_eq!(lookup(&keys[0], 2).outcome, L1Outcome::Absent);
    assert_eq!(lookup(&other, 1).outcome, L1Outcome::Hit(9), "other slots are untouched");
}
