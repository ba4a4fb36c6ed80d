//! Decision cache vs the best concurrent Rust maps and caches, same keys, same run:
//! quick_cache 0.7 (`sync::Cache`), papaya 0.2, scc 3 (`HashIndex`), dashmap 6, moka 0.12
//! (`sync::Cache`) and `std::sync::RwLock<HashMap>` with foldhash.
//!
//! `cargo bench -p kingly-kernel --bench dcache` (add `-- l1_hit` etc. to pick a group).
//!
//! Every structure stores a decision (value + expiry tick) under (hook, key); a hit also checks
//! the expiry, like the cache does. Keys hash as their precomputed 64-bit hash everywhere.
//! Workloads:
//! - `l1_hit`: 16 keys that all sit in CPU 0's L1, looked up round-robin;
//! - `global_hit`: 256 keys round-robin, 4 per slot of the 64-slot direct-mapped L1, so it always
//!   misses and the global table answers (Kingly's time includes the L1 probe and the L1
//!   refill); `global_hit_4k`: the same with 4096 keys in a strided order (working set beyond
//!   the data cache);
//! - `miss`: keys that were never inserted;
//! - `read_mostly_{1,2,4}t`: 1024 keys (beyond the L1, so the global table answers), lookups
//!   only (a miss inserts), on 1, 2 and 4 threads (time per operation of each thread);
//! - `writes_1pct_{1,2,4}t`: the same with 1% of operations replacing a decision.
//!
//! Times are thread CPU time (`CLOCK_THREAD_CPUTIME_ID`), not wall time, so that other jobs on
//! a shared machine do not inflate them; the 2-thread runs report the slower thread.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use kingly_kernel::cpu::host::HostCpu;
use kingly_kernel::dcache::l1::{Probe, L1_SLOTS};
use kingly_kernel::dcache::{CacheConfig, DecisionCache, HookId, Key, L1Outcome, Lookup};
use kingly_kernel::rcu::Rcu;
use std::hint::black_box;
use std::sync::RwLock;
use std::time::Duration;

#[path = "support/cpu_time.rs"]
mod cpu_time;
use cpu_time::{cpu_timed, thread_cpu_time};

const HOOK: HookId = HookId::SCHED_SLICE;
const NOW: u64 = 1_000;
const TTL: u64 = 1 << 40;

type BenchKey = (HookId, Key);

#[derive(Clone, Copy)]
struct Decision {
    value: u64,
    expiry_ticks: u64,
}

/// What every baseline offers.
trait Baseline: Send + Sync {
    const NAME: &'static str;
    fn with_capacity(capacity: usize) -> Self;
    fn get(&self, key: &BenchKey) -> Option<Decision>;
    fn insert(&self, key: BenchKey, decision: Decision);

    #[inline(always)]
    fn lookup(&self, key: &BenchKey, now_ticks: u64) -> Option<u64> {
        self.get(key).filter(|d| now_ticks < d.expiry_ticks).map(|d| d.value)
    }
}

struct QuickCache(quick_cache::sync::Cache<BenchKey, Decision>);
impl Baseline for QuickCache {
    const NAME: &'static str = "quick_cache";
    fn with_capacity(capacity: usize) -> Self {
        Self(quick_cache::sync::Cache::new(capacity * 2))
    }
    fn get(&self, key: &BenchKey) -> Option<Decision> {
        self.0.get(key)
    }
    fn insert(&self, key: BenchKey, decision: Decision) {
        self.0.insert(key, decision)
    }
}

struct Papaya(papaya::HashMap<BenchKey, Decision>);
impl Baseline for Papaya {
    const NAME: &'static str = "papaya";
    fn with_capacity(capacity: usize) -> Self {
        Self(papaya::HashMap::with_capacity(capacity))
    }
    fn get(&self, key: &BenchKey) -> Option<Decision> {
        self.0.pin().get(key).copied()
    }
    fn insert(&self, key: BenchKey, decision: Decision) {
        self.0.pin().insert(key, decision);
    }
}

struct SccIndex(scc::HashIndex<BenchKey, Decision>);
impl Baseline for SccIndex {
    const NAME: &'static str = "scc_hashindex";
    fn with_capacity(capacity: usize) -> Self {
        Self(scc::HashIndex::with_capacity(capacity))
    }
    fn get(&self, key: &BenchKey) -> Option<Decision> {
        self.0.peek_with(key, |_, decision| *decision)
    }
    fn insert(&self, key: BenchKey, decision: Decision) {
        if self.0.insert_sync(key, decision).is_err() {
            self.0.remove_sync(&key);
            let _ = self.0.insert_sync(key, decision);
        }
    }
}

struct DashMap(dashmap::DashMap<BenchKey, Decision>);
impl Baseline for DashMap {
    const NAME: &'static str = "dashmap";
    fn with_capacity(capacity: usize) -> Self {
        Self(dashmap::DashMap::with_capacity(capacity))
    }
    fn get(&self, key: &BenchKey) -> Option<Decision> {
        self.0.get(key).map(|entry| *entry)
    }
    fn insert(&self, key: BenchKey, decision: Decision) {
        self.0.insert(key, decision);
    }
}

struct Moka(moka::sync::Cache<BenchKey, Decision>);
impl Baseline for Moka {
    const NAME: &'static str = "moka";
    fn with_capacity(capacity: usize) -> Self {
        Self(moka::sync::Cache::new(capacity as u64 * 2))
    }
    fn get(&self, key: &BenchKey) -> Option<Decision> {
        self.0.get(key)
    }
    fn insert(&self, key: BenchKey, decision: Decision) {
        self.0.insert(key, decision)
    }
}

struct RwLockMap(RwLock<std::collections::HashMap<BenchKey, Decision, foldhash::fast::RandomState>>);
impl Baseline for RwLockMap {
    const NAME: &'static str = "rwlock_hashmap_foldhash";
    fn with_capacity(capacity: usize) -> Self {
        Self(RwLock::new(std::collections::HashMap::with_capacity_and_hasher(
            capacity,
            foldhash::fast::RandomState::default(),
        )))
    }
    fn get(&self, key: &BenchKey) -> Option<Decision> {
        self.0.read().unwrap().get(key).copied()
    }
    fn insert(&self, key: BenchKey, decision: Decision) {
        self.0.write().unwrap().insert(key, decision);
    }
}

fn keys(range: std::ops::Range<u64>) -> Vec<Key> {
    range.map(|n| Key::from_u64(n.wrapping_mul(0x9E37_79B9_7F4A_7C15))).collect()
}

fn kingly_cache<'r>(rcu: &'r Rcu<HostCpu>, keys: &[Key]) -> DecisionCache<'r, HostCpu> {
    let cache = DecisionCache::new(rcu, CacheConfig { max_entries: 1 << 16 });
    for (index, key) in keys.iter().enumerate() {
        cache.insert(&cache.ticket(HOOK, key, NOW), index as u64, TTL).unwrap();
    }
    cache
}

fn baseline<B: Baseline>(keys: &[Key]) -> B {
    let map = B::with_capacity(keys.len().max(1024) * 2);
    for (index, key) in keys.iter().enumerate() {
        map.insert((HOOK, *key), Decision { value: index as u64, expiry_ticks: NOW + TTL });
    }
    map
}

/// 16 keys that all stay in CPU 0's L1 together.
fn l1_resident_keys(rcu: &Rcu<HostCpu>) -> Vec<Key> {
    let candidates = keys(0..64);
    let cache = kingly_cache(rcu, &candidates);
    let mut resident: Vec<Key> = Vec::new();
    for key in &candidates {
        resident.push(*key);
        for _ in 0..2 {
            for key in &resident {
                black_box(cache.lookup(0, HOOK, key, NOW));
            }
        }
        if !resident.iter().all(|key| matches!(cache.front().l1_lookup(0, HOOK, key, NOW).outcome, L1Outcome::Hit(_))) {
            resident.pop();
        }
        if resident.len() == 16 {
            break;
        }
    }
    assert_eq!(resident.len(), 16);
    resident
}

fn bench_reads(c: &mut Criterion, group_name: &str, present: &[Key], probe: &[Key]) {
    let mut group = c.benchmark_group(group_name);
    let rcu = Rcu::<HostCpu>::new();
    let cache = kingly_cache(&rcu, present);
    HostCpu::set_current(0);
    assert!(probe.len().is_power_of_two());
    let mask = probe.len() - 1;
    group.bench_function("kingly", |b| {
        b.iter_custom(|iters| {
            // A local, so the index stays in a register (a captured one is stored and reloaded
            // around every `black_box`, which costs every row about a nanosecond).
            let mut index = 0;
            let elapsed = cpu_timed(iters, || {
                index = (index + 1) & mask;
                let result = match cache.lookup(0, HOOK, black_box(&probe[index]), NOW) {
                    Lookup::Hit(value) => Some(value),
                    Lookup::Miss(_) => None,
                };
                black_box(result);
            });
            rcu.quiescent_state(0);
            elapsed
        });
    });
    rcu.offline(0);
    drop(cache);
    fn run<B: Baseline>(
        group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
        present: &[Key],
        probe: &[Key],
    ) {
        let map = baseline::<B>(present);
        let probe: Vec<BenchKey> = probe.iter().map(|key| (HOOK, *key)).collect();
        let mask = probe.len() - 1;
        group.bench_function(B::NAME, |b| {
            b.iter_custom(|iters| {
                let mut index = 0;
                cpu_timed(iters, || {
                    index = (index + 1) & mask;
                    black_box(map.lookup(black_box(&probe[index]), NOW));
                })
            });
        });
    }
    // Calibration, not a competitor: the loop alone (next index, load the probe key, keep the
    // result), which every row above and below includes.
    group.bench_function("loop_only_reference", |b| {
        b.iter_custom(|iters| {
            let mut index = 0;
            cpu_timed(iters, || {
                index = (index + 1) & mask;
                black_box(black_box(&probe[index]).hash_value());
            })
        });
    });
    // Calibration, not a competitor: an unsynchronized std HashMap (read-only here) shows what
    // a lookup costs on this machine with no concurrency control at all.
    {
        let mut map = std::collections::HashMap::with_hasher(foldhash::fast::RandomState::default());
        for (index, key) in present.iter().enumerate() {
            map.insert((HOOK, *key), Decision { value: index as u64, expiry_ticks: NOW + TTL });
        }
        let probe: Vec<BenchKey> = probe.iter().map(|key| (HOOK, *key)).collect();
        group.bench_function("unsync_hashmap_reference", |b| {
            b.iter_custom(|iters| {
                let mut index = 0;
                cpu_timed(iters, || {
                    index = (index + 1) & mask;
                    let found = map.get(black_box(&probe[index])).filter(|d| NOW < d.expiry_ticks);
                    black_box(found.map(|d| d.value));
                })
            });
        });
    }
    run::<QuickCache>(&mut group, present, probe);
    run::<Papaya>(&mut group, present, probe);
    run::<SccIndex>(&mut group, present, probe);
    run::<DashMap>(&mut group, present, probe);
    run::<Moka>(&mut group, present, probe);
    run::<RwLockMap>(&mut group, present, probe);
    group.finish();
}

fn l1_hit(c: &mut Criterion) {
    let rcu = Rcu::<HostCpu>::new();
    let resident = l1_resident_keys(&rcu);
    bench_reads(c, "l1_hit", &resident, &resident);
}

fn global_hit(c: &mut Criterion) {
    // 256 keys round-robin, exactly 4 per slot of the direct-mapped 64-slot L1, so every lookup
    // misses the L1 (and refills it) while the global table's working set stays in the data
    // cache. (Any 256 keys would leave a few alone in their slot, answered by the L1.)
    let mut per_slot = [0usize; L1_SLOTS];
    let present: Vec<Key> = keys(0..1 << 16)
        .into_iter()
        .filter(|key| {
            let slot = Probe::for_key(HOOK, key).slot();
            per_slot[slot] += 1;
            per_slot[slot] <= 4
        })
        .take(4 * L1_SLOTS)
        .collect();
    assert_eq!(present.len(), 4 * L1_SLOTS);
    bench_reads(c, "global_hit", &present, &present);
}

fn global_hit_4k(c: &mut Criterion) {
    // 4096 keys: the same, with a working set that spills to L2.
    let present = keys(0..4096);
    // Stride through the keys so consecutive lookups never find the previous fill.
    let probe: Vec<Key> = (0..4096).map(|n| present[(n * 1031) % 4096]).collect();
    bench_reads(c, "global_hit_4k", &present, &probe);
}

fn miss(c: &mut Criterion) {
    bench_reads(c, "miss", &keys(0..4096), &keys(1 << 20..(1 << 20) + 4096));
}

/// One mixed operation stream per thread: `xorshift` picks the key and whether to replace.
struct Stream(u64);
impl Stream {
    #[inline(always)]
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

const MIXED_KEYS: usize = 1024;

fn mixed(c: &mut Criterion, name: &str, threads: usize, replace_percent: u64) {
    let name = format!("{name}_{threads}t");
    let mut group = c.benchmark_group(&name);
    let present = keys(0..MIXED_KEYS as u64);
    let rcu = Rcu::<HostCpu>::new();
    let cache = kingly_cache(&rcu, &present);
    group.bench_function(BenchmarkId::from_parameter("kingly"), |b| {
        b.iter_custom(|iters| {
            std::thread::scope(|scope| {
                let handles: Vec<_> = (0..threads)
                    .map(|cpu| {
                        let (cache, rcu, present) = (&cache, &rcu, &present);
                        scope.spawn(move || {
                            HostCpu::set_current(cpu);
                            let mut stream = Stream(0x1234_5678 + cpu as u64);
                            let start = thread_cpu_time();
                            for op in 0..iters {
                                let r = stream.next();
                                let key = &present[(r >> 20) as usize % MIXED_KEYS];
                                if r % 100 < replace_percent {
                                    let _ = cache.insert(&cache.ticket(HOOK, key, NOW), r, TTL);
                                } else if let Lookup::Miss(ticket) = cache.lookup(cpu, HOOK, key, NOW) {
                                    let _ = cache.insert(&ticket, r, TTL);
                                }
                                if op % 64 == 0 {
                                    rcu.quiescent_state(cpu);
                                }
                            }
                            let elapsed = thread_cpu_time() - start;
                            rcu.offline(cpu);
                            elapsed
                        })
                    })
                    .collect();
                handles.into_iter().map(|h| h.join().unwrap()).max().unwrap_or(Duration::ZERO)
            })
        });
    });
    drop(cache);
    fn run<B: Baseline>(
        group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
        present: &[Key],
        threads: usize,
        replace_percent: u64,
    ) {
        let map = baseline::<B>(present);
        let keys: Vec<BenchKey> = present.iter().map(|key| (HOOK, *key)).collect();
        group.bench_function(BenchmarkId::from_parameter(B::NAME), |b| {
            b.iter_custom(|iters| {
                std::thread::scope(|scope| {
                    let handles: Vec<_> = (0..threads)
                        .map(|thread| {
                            let (map, keys) = (&map, &keys);
                            scope.spawn(move || {
                                let mut stream = Stream(0x1234_5678 + thread as u64);
                                let start = thread_cpu_time();
                                for _ in 0..iters {
                                    let r = stream.next();
                                    let key = &keys[(r >> 20) as usize % MIXED_KEYS];
                                    let decision = Decision { value: r, expiry_ticks: NOW + TTL };
                                    // Replace, or look up and insert on a miss.
                                    if r % 100 < replace_percent || map.lookup(key, NOW).is_none() {
                                        map.insert(*key, decision);
                                    }
                                }
                                thread_cpu_time() - start
                            })
                        })
                        .collect();
                    handles.into_iter().map(|h| h.join().unwrap()).max().unwrap_or(Duration::ZERO)
                })
            });
        });
    }
    run::<QuickCache>(&mut group, &present, threads, replace_percent);
    run::<Papaya>(&mut group, &present, threads, replace_percent);
    run::<SccIndex>(&mut group, &present, threads, replace_percent);
    run::<DashMap>(&mut group, &present, threads, replace_percent);
    run::<Moka>(&mut group, &present, threads, replace_percent);
    run::<RwLockMap>(&mut group, &present, threads, replace_percent);
    group.finish();
}

fn read_mostly(c: &mut Criterion) {
    for threads in [1, 2, 4] {
        mixed(c, "read_mostly", threads, 0);
    }
}

fn writes_1pct(c: &mut Criterion) {
    for threads in [1, 2, 4] {
        mixed(c, "writes_1pct", threads, 1);
    }
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_millis(1500))
        .sample_size(20)
}

criterion_group! { name = benches; config = config(); targets = l1_hit, global_hit, global_hit_4k, miss, read_mostly, writes_1pct }
criterion_main!(benches);
