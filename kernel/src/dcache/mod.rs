//! The decision cache: memoized agent decisions, answered on every core without running the
//! agent again. A per-CPU L1 sits in front of a global RCU-protected hash table.
//!
//! ```text
//! decide(cpu, hook, key, now)
//!   ├─ L1 of `cpu` (l1.rs, front.rs): seqlock-validated slot whose version equals
//!   │   (hook generation, key epoch) and now < expiry → hit: loads only, one CPU-local store
//!   ├─ global table (global.rs) under an RCU guard → hit: fill the L1
//!   └─ miss → a Ticket (version at lookup) → run the agent → insert(ticket, value, ttl)
//! ```
//!
//! Invalidation never touches a cached copy: `invalidate(hook)` bumps the hook's generation
//! (every decision of the hook, global and L1, stops matching); `invalidate_key` removes the
//! global entry and bumps the key's epoch (its L1 copies stop matching; the epoch counters are
//! hashed, 1024 of them, so a few unrelated keys may miss once); replacing a decision bumps the
//! key's epoch too. A decision whose ticket predates an invalidation of its hook or key is
//! refused ([`InsertError::Stale`]), so an agent that ran under the old policy never
//! repopulates the cache. TTLs are in ticks of the caller's clock.
//!
//! The CPU index is passed explicitly on the read side (`cpu`, usually `C::cpu_id()`): it saves
//! a system-register read per lookup and lets CPU-less host threads act as writers. Writers
//! (`insert`, `invalidate*`) need no CPU and never block on a grace period.
//!
//! # Kernel wiring
//! - boot: `static RCU: Rcu<Arch> = Rcu::new();` and a `DecisionCache::new(&RCU, CacheConfig::default())`;
//! - hot path: `cache.decide(cpu, hook, &key, now_ticks, ttl_ticks, || agent())`;
//! - tick, idle, after a hook: `RCU.quiescent_state(cpu)`; idle also `RCU.reclaim()`;
//!   a core that parks calls `RCU.offline(cpu)`.
// The cache is safe code on top of `rcu`'s `RcuCell` and atomics; the one unsafe invariant
// it relies on (RCU-owned boxes) is argued once, in `rcu/owned.rs`.
#![forbid(unsafe_code)]

mod front;
mod global;
pub mod key;
pub mod l1;
pub mod torture;

pub use front::{CpuCacheStats, Front};
use global::Found;
pub use global::InsertError;
pub use key::{HookId, Key, KeyError, MAX_HOOKS, MAX_KEY_BYTES};
pub use l1::{Cached, L1Lookup, L1Outcome};

use crate::cpu::CpuOps;
use crate::rcu::sync::{fence, Ordering};
use crate::rcu::Rcu;
use front::version_generation;
use l1::Probe;

/// How big the global table may grow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CacheConfig {
    /// Most live decisions in the global table.
    pub max_entries: usize,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self { max_entries: 16 * 1024 }
    }
}

/// Proof of a miss: the hook's version when the lookup ran. An insert with a ticket older than
/// an invalidation is refused.
#[derive(Clone, Copy, Debug)]
pub struct Ticket {
    hook: HookId,
    key: Key,
    version: u64,
    now_ticks: u64,
}

impl Ticket {
    /// The hook looked up.
    pub fn hook(&self) -> HookId {
        self.hook
    }
    /// The key looked up.
    pub fn key(&self) -> &Key {
        &self.key
    }
}

/// The result of a lookup.
#[derive(Clone, Copy, Debug)]
pub enum Lookup {
    /// A cached decision.
    Hit(u64),
    /// No valid decision: run the agent, then [`DecisionCache::insert`] with this ticket.
    Miss(Ticket),
}

/// Totals over all CPUs plus writer-side counters (the `cache_stats` tool's data).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Per-CPU counters summed.
    pub cpus: CpuCacheStats,
    /// Decisions inserted (including replacements).
    pub inserts: u64,
    /// Inserts that replaced a decision of the same key.
    pub replaced: u64,
    /// Entries removed from the global table by invalidation.
    pub removed: u64,
    /// Hook and key invalidations.
    pub invalidations: u64,
    /// Global table rebuilds (growth and purges of dead entries).
    pub resizes: u64,
    /// Live entries in the global table.
    pub entries: usize,
}

/// The decision cache.
pub struct DecisionCache<'r, C: CpuOps> {
    front: Front,
    global: global::Global<'r, C>,
    invalidations: crate::rcu::sync::AtomicU64,
}

impl<'r, C: CpuOps> DecisionCache<'r, C> {
    /// An empty cache whose global table is protected by `rcu`.
    pub fn new(rcu: &'r Rcu<C>, config: CacheConfig) -> Self {
        Self {
            front: Front::new(),
            global: global::Global::new(rcu, config.max_entries),
            invalidations: crate::rcu::sync::AtomicU64::new(0),
        }
    }

    /// The RCU domain (the kernel reports quiescent states to it).
    pub fn rcu(&self) -> &'r Rcu<C> {
        self.global.rcu()
    }

    /// The per-CPU L1s and hook versions.
    pub fn front(&self) -> &Front {
        &self.front
    }

    /// Looks a decision up on CPU `cpu` (the caller's CPU).
    #[inline]
    pub fn lookup(&self, cpu: usize, hook: HookId, key: &Key, now_ticks: u64) -> Lookup {
        let l1 = self.front.l1_lookup_inline(cpu, hook, key, now_ticks);
        match l1.outcome {
            L1Outcome::Hit(value) => Lookup::Hit(value),
            _ => self.lookup_global(cpu, hook, key, now_ticks, l1),
        }
    }

    /// The first half of [`DecisionCache::lookup`], for callers that keep the L1 hit inline and
    /// the rest out of line: CPU `cpu`'s L1 alone. Unless it hit, finish with
    /// [`DecisionCache::lookup_after_l1`].
    #[inline(always)]
    pub fn lookup_l1(&self, cpu: usize, hook: HookId, key: &Key, now_ticks: u64) -> L1Lookup {
        self.front.l1_lookup_inline(cpu, hook, key, now_ticks)
    }

    /// The second half of a lookup of the 8-byte key `Key::from_u64(key_word)` (whose hash,
    /// `key_hash`, the L1 lookup computed) after CPU `cpu`'s L1 missed: the global table and
    /// the L1 fill. `l1_miss` and `version` are the miss's [`L1Lookup::miss_word`] and
    /// [`L1Lookup::version`]. `None` is a miss: run the agent, then insert with
    /// [`DecisionCache::ticket_after_miss`]'s ticket.
    ///
    /// Out of line and a leaf (no call on a hit, so no frame), with every argument in a register:
    /// the caller keeps the L1 hit inline and pays for this only on an L1 miss.
    #[inline(never)]
    #[allow(clippy::too_many_arguments)]
    pub fn lookup_global_word(
        &self,
        cpu: usize,
        hook: HookId,
        key_word: u64,
        key_hash: u64,
        now_ticks: u64,
        l1_miss: u32,
        version: u64,
    ) -> Option<u64> {
        let key = Key::from_word_and_hash(key_word, key_hash);
        match self.lookup_global(cpu, hook, &key, now_ticks, L1Lookup::from_miss_word(l1_miss, version)) {
            Lookup::Hit(value) => Some(value),
            Lookup::Miss(_) => None,
        }
    }

    /// The ticket of a miss that [`DecisionCache::lookup_global_word`] returned (`None`) for
    /// (`hook`, `key`) at `now_ticks`, under the `version` its L1 lookup compared with.
    pub fn ticket_after_miss(&self, hook: HookId, key: &Key, version: u64, now_ticks: u64) -> Ticket {
        Ticket { hook, key: *key, version, now_ticks }
    }

    /// The L1 miss path: the global table under an RCU guard, then an L1 fill. Inlined: as a
    /// call, its prologue and spills cost a global hit about 0.9 ns of 12.
    #[inline(always)]
    fn lookup_global(&self, cpu: usize, hook: HookId, key: &Key, now_ticks: u64, l1: L1Lookup) -> Lookup {
        let probe = Probe::new(hook.index(), hook.salt(), key);
        // The version the L1 lookup loaded (`Relaxed`), made `Acquire` by the fence: an entry
        // removed before this version was published is not found below. The lookup takes
        // effect at that load, as a lookup that found the L1 empty would.
        let version = l1.version();
        fence(Ordering::Acquire);
        let local = self.front.local(cpu);
        let found = {
            let guard = self.rcu().read(cpu);
            self.global.find(&guard, hook, key, probe.hash)
        };
        if l1.outcome == L1Outcome::Stale {
            local.count_stale();
        }
        match found {
            Found::Entry(entry)
                if entry.generation == version_generation(version) && now_ticks < entry.expiry_ticks =>
            {
                local.fill(&probe, key, Cached { value: entry.value, expiry_ticks: entry.expiry_ticks, version });
                Lookup::Hit(entry.value)
            }
            Found::Entry(_) | Found::Absent | Found::Poisoned => {
                if found == Found::Poisoned {
                    local.count_poisoned();
                }
                local.count_miss();
                Lookup::Miss(Ticket { hook, key: *key, version, now_ticks })
            }
        }
    }

    /// A ticket for inserting a decision without a lookup (writers that are not a CPU).
    pub fn ticket(&self, hook: HookId, key: &Key, now_ticks: u64) -> Ticket {
        let probe = Probe::new(hook.index(), hook.salt(), key);
        let version = self.front.version(hook, &probe, Ordering::Acquire);
        Ticket { hook, key: *key, version, now_ticks }
    }

    /// Inserts the decision `value` made after the miss `ticket`, valid for `ttl_ticks` from the
    /// ticket's `now`. Refused if the hook was invalidated since the ticket was issued.
    pub fn insert(&self, ticket: &Ticket, value: u64, ttl_ticks: u64) -> Result<(), InsertError> {
        let hook = ticket.hook;
        let probe = Probe::new(hook.index(), hook.salt(), &ticket.key);
        self.global.insert(
            hook,
            &ticket.key,
            probe.hash,
            value,
            ticket.now_ticks.saturating_add(ttl_ticks),
            version_generation(ticket.version),
            ticket.now_ticks,
            || self.front.version(hook, &probe, Ordering::Relaxed) == ticket.version,
            |cached_elsewhere| {
                if cached_elsewhere {
                    // Copies of the replaced decision may sit in L1s: make them stale.
                    self.front.bump_key_epoch(&probe);
                }
            },
            |hook_index| self.front.generation_of_index(hook_index as usize),
        )
    }

    /// Invalidates every decision of `hook` on every CPU. Once this returns, no lookup that
    /// starts afterwards returns an older decision, and inserts with older tickets are refused.
    pub fn invalidate(&self, hook: HookId) {
        self.global.with_writer_lock(|| self.front.bump_generation(hook));
        // Every entry of the hook now has an old generation; free them.
        let current = self.front.generation_of_index(hook.index());
        self.global.remove_where(|entry| entry.hook as usize == hook.index() && entry.generation != current);
        self.invalidations.fetch_add(1, Ordering::Relaxed);
        self.global.rcu().reclaim();
    }

    /// Invalidates the decision of (`hook`, `key`) on every CPU; returns whether the global
    /// table had it. Other decisions of the hook stay in the global table (L1 copies refill).
    pub fn invalidate_key(&self, hook: HookId, key: &Key) -> bool {
        let probe = Probe::new(hook.index(), hook.salt(), key);
        let removed = self.global.remove(hook, key, probe.hash, || self.front.bump_key_epoch(&probe));
        self.invalidations.fetch_add(1, Ordering::Relaxed);
        self.global.rcu().reclaim();
        removed
    }

    /// The hot-path entry point: a cached decision, or `agent()`'s, cached for `ttl_ticks`.
    #[inline]
    pub fn decide(
        &self,
        cpu: usize,
        hook: HookId,
        key: &Key,
        now_ticks: u64,
        ttl_ticks: u64,
        agent: impl FnOnce() -> u64,
    ) -> u64 {
        match self.lookup(cpu, hook, key, now_ticks) {
            Lookup::Hit(value) => value,
            Lookup::Miss(ticket) => {
                let value = agent();
                // A refused insert (stale ticket, full table) still returns the fresh decision.
                let _ = self.insert(&ticket, value, ttl_ticks);
                value
            }
        }
    }

    /// Whether the global table holds the live decision `value` for (`hook`, `key`). Takes the
    /// writer lock; for checks and the `cache_lookup` tool, not for hot paths.
    pub fn holds(&self, hook: HookId, key: &Key, value: u64) -> bool {
        let probe = Probe::new(hook.index(), hook.salt(), key);
        let generation = self.front.generation_of_index(hook.index());
        self.global
            .get_locked(hook, key, probe.hash)
            .is_some_and(|entry| entry.value == value && entry.generation == generation)
    }

    /// The slot of the global table's current array where the probe for (`hook`, `key`) starts.
    /// For the loom model, which needs two keys that compete for one slot.
    #[doc(hidden)]
    pub fn global_home_slot(&self, hook: HookId, key: &Key) -> usize {
        self.global.home_slot(Probe::new(hook.index(), hook.salt(), key).hash)
    }

    /// Counters summed over CPUs, plus the writers'.
    pub fn stats(&self) -> CacheStats {
        let counters = &self.global.counters;
        CacheStats {
            cpus: self.front.total_stats(),
            inserts: counters.inserts.load(Ordering::Relaxed),
            replaced: counters.replaced.load(Ordering::Relaxed),
            removed: counters.removed.load(Ordering::Relaxed),
            invalidations: self.invalidations.load(Ordering::Relaxed),
            resizes: counters.resizes.load(Ordering::Relaxed),
            entries: self.global.len(),
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests;
