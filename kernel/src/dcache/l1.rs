//! The per-CPU L1: a small set-associative cache of decisions, one per CPU, validated
//! seqlock-style over atomic words.
//!
//! Only the owning CPU (and its interrupt handlers) fills its L1, so the hit path needs no atomic
//! read-modify-write, no barrier instruction and writes no line another CPU writes: it loads the
//! slot's head word (`Acquire`), the payload words (`Acquire`, so none is reordered after the
//! re-check; on aarch64 these are `ldar`, on x86 plain moves), and the head again. A changed
//! head means a fill raced the read; an odd sequence means a fill is in progress (e.g. the
//! interrupted context was filling this slot). A hit also needs the slot's version to equal the
//! hook's current `(generation, epoch)` word and `now < expiry`, so invalidation never touches a
//! slot. Seqlock validation per Boehm, "Can seqlocks get along with programming language memory
//! models?" (MSPC 2012), with acquire loads in place of the reader's acquire fence (a `dmb`).

use super::key::Key;
use crate::rcu::sync::{fence, AtomicU64, Ordering};

/// Sets per CPU.
#[cfg(not(loom))]
pub const L1_SETS: usize = 16;
/// Ways per set.
#[cfg(not(loom))]
pub const L1_WAYS: usize = 4;
/// Sets per CPU (small under loom).
#[cfg(loom)]
pub const L1_SETS: usize = 2;
/// Ways per set (small under loom).
#[cfg(loom)]
pub const L1_WAYS: usize = 2;

const _: () = assert!(L1_SETS.is_power_of_two() && L1_SETS > 1);
const SET_SHIFT: u32 = 64 - L1_SETS.trailing_zeros();
/// The bits of a slot head that a lookup compares: the tag and the sequence's odd bit.
const TAG_AND_ODD: u64 = 0xFFFF_FFFF_0000_0001;

/// One cached decision: exactly one 64-byte line.
///
/// `head` = sequence (bits 0..32; odd while a fill runs) | tag (bits 32..64: hook, key length
/// and 16 hash bits) so that one load both validates and filters.
#[repr(C, align(64))]
struct Slot {
    head: AtomicU64,
    key: [AtomicU64; 4],
    value: AtomicU64,
    expiry_ticks: AtomicU64,
    version: AtomicU64,
}

impl Slot {
    fn new() -> Self {
        // Version 0 never matches a hook (generations start at 1); expiry 0 never is in the future.
        Self {
            head: AtomicU64::new(0),
            key: [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)],
            value: AtomicU64::new(0),
            expiry_ticks: AtomicU64::new(0),
            version: AtomicU64::new(0),
        }
    }
}

/// What a lookup in a CPU's L1 saw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum L1Outcome {
    /// A valid decision.
    Hit(u64),
    /// The key is cached but with an old version (invalidated) or past its expiry.
    Stale,
    /// Not cached.
    Absent,
}

/// What a lookup in a CPU's L1 saw, and the way a refill of the key should take: the way of
/// its stale copy, else the set's round-robin victim. The hint only saves the refill a second
/// scan of the set; the refill re-reads the way's head, so a fill by an interrupt between
/// the lookup and the refill costs at most a duplicate copy, which the versions keep correct.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct L1Lookup {
    /// What the lookup found.
    pub outcome: L1Outcome,
    way: u8,
    /// The `(generation, epoch)` word the lookup compared with, loaded `Relaxed`: the global
    /// lookup after a miss uses it (after an `Acquire` fence) instead of loading it again.
    version: u64,
}

impl L1Lookup {
    /// A miss (`Stale` or `Absent`, with its way) as one word, so that a caller can hand it to
    /// an out-of-line slow path in a register rather than through memory; a hit gives 0.
    #[inline(always)]
    pub fn miss_word(&self) -> u32 {
        match self.outcome {
            L1Outcome::Hit(_) => 0,
            L1Outcome::Stale => 0x100 | self.way as u32,
            L1Outcome::Absent => 0x200 | self.way as u32,
        }
    }

    /// The miss that [`L1Lookup::miss_word`] gave `word` for (`Absent` for anything else),
    /// under `version` (from [`L1Lookup::version`]).
    #[inline(always)]
    pub fn from_miss_word(word: u32, version: u64) -> Self {
        let outcome = if word & 0x300 == 0x100 { L1Outcome::Stale } else { L1Outcome::Absent };
        Self { outcome, way: word as u8, version }
    }

    /// The `(generation, epoch)` word this lookup ran under.
    #[inline(always)]
    pub fn version(&self) -> u64 {
        self.version
    }
}

/// A decision as an L1 slot holds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cached {
    /// The decision.
    pub value: u64,
    /// The tick from which it is expired.
    pub expiry_ticks: u64,
    /// The `(generation, epoch)` word it was made under.
    pub version: u64,
}

/// The hashed position and tag of a (hook, key) pair, computed once per lookup.
#[derive(Clone, Copy, Debug)]
pub struct Probe {
    /// The key's hash salted with the hook: the global table's index.
    pub(crate) hash: u64,
    /// The key's own hash: the L1 set (hooks share sets; the tag tells them apart), so the hit
    /// path does not pay for salting.
    key_hash: u64,
    tag: u32,
}

impl Probe {
    /// Hashes `key` of hook `hook_salt` (from `HookId::salt`) with hook index `hook_index`.
    #[inline(always)]
    pub(crate) fn new(hook_index: usize, hook_salt: u64, key: &Key) -> Self {
        let tag = hook_index as u32 | (key.len_bytes as u32) << 8 | ((key.hash as u32) & 0xFFFF) << 16;
        Self { hash: key.hash ^ hook_salt, key_hash: key.hash, tag }
    }

    /// The probe of (`hook`, `key`).
    pub fn for_key(hook: super::key::HookId, key: &Key) -> Self {
        Self::new(hook.index(), hook.salt(), key)
    }

    /// Which of `counters` key-epoch counters this key uses.
    #[inline(always)]
    pub(crate) fn epoch_index(&self, counters: usize) -> usize {
        // The key's hash mixed with the hook index (no multiply on the hit path).
        ((self.key_hash >> 16) as usize ^ (self.tag & 0xFF) as usize) & (counters - 1)
    }

    #[inline(always)]
    pub(crate) fn set(&self) -> usize {
        (self.key_hash >> SET_SHIFT) as usize
    }
}

/// One CPU's L1.
#[repr(C, align(64))]
pub struct L1 {
    sets: [[Slot; L1_WAYS]; L1_SETS],
}

impl Default for L1 {
    fn default() -> Self {
        Self::new()
    }
}

impl L1 {
    /// An empty L1.
    pub fn new() -> Self {
        Self { sets: core::array::from_fn(|_| core::array::from_fn(|_| Slot::new())) }
    }

    /// Looks `key` up. `version` is the hook's current `(generation, epoch)` word. No RMW, no
    /// barrier, no store.
    #[inline(always)]
    pub fn lookup(&self, probe: &Probe, key: &Key, version: u64, now_ticks: u64) -> L1Lookup {
        // Keys of at most 8 bytes (the common case: ids) have zero words 1..4 in any consistent
        // slot with their tag (the tag holds the length), so one word decides.
        if key.len_bytes <= 8 {
            self.lookup_words::<1>(probe, key, version, now_ticks)
        } else {
            self.lookup_long(*probe, key, version, now_ticks)
        }
    }

    /// [`L1::lookup`] for keys longer than 8 bytes, out of line so that the short-key path
    /// keeps few registers live. Checked by `kernel/tests/l1_disasm.rs` too.
    #[inline(never)]
    pub fn lookup_long(&self, probe: Probe, key: &Key, version: u64, now_ticks: u64) -> L1Lookup {
        // `probe` by value: by reference, the short path would store it to the stack first.
        self.lookup_words::<4>(&probe, key, version, now_ticks)
    }

    #[inline(always)]
    fn lookup_words<const WORDS: usize>(&self, probe: &Probe, key: &Key, version: u64, now_ticks: u64) -> L1Lookup {
        let set = &self.sets[probe.set()];
        let wanted = (probe.tag as u64) << 32;
        // Only a miss uses this (a hit drops it, so the compiler sinks the adds there).
        let mut sequence_sum = 0u32;
        for (way, slot) in set.iter().enumerate() {
            let head = slot.head.load(Ordering::Acquire);
            // Another tag, or a fill in progress (odd sequence), in one compare.
            if head & TAG_AND_ODD != wanted {
                sequence_sum = sequence_sum.wrapping_add(head as u32);
                continue;
            }
            let mut difference = 0;
            for index in 0..WORDS {
                difference |= slot.key[index].load(Ordering::Acquire) ^ key.words[index];
            }
            let value = slot.value.load(Ordering::Acquire);
            let expiry_ticks = slot.expiry_ticks.load(Ordering::Acquire);
            let slot_version = slot.version.load(Ordering::Acquire);
            // Ordered after the loads above by their `Acquire`.
            if slot.head.load(Ordering::Relaxed) != head || difference != 0 {
                sequence_sum = sequence_sum.wrapping_add(head as u32);
                continue;
            }
            if slot_version == version && now_ticks < expiry_ticks {
                return L1Lookup { outcome: L1Outcome::Hit(value), way: way as u8, version };
            }
            return L1Lookup { outcome: L1Outcome::Stale, way: way as u8, version };
        }
        L1Lookup { outcome: L1Outcome::Absent, way: round_robin(sequence_sum), version }
    }

    /// Stores a decision; only the owning CPU calls this. The way: the one with the same tag
    /// (likely the same key), else round-robin within the set. Returns whether a decision of
    /// another key was overwritten.
    #[inline]
    pub fn fill(&self, probe: &Probe, key: &Key, cached: Cached) -> bool {
        let set = &self.sets[probe.set()];
        let mut sequence_sum = 0u32;
        let mut way = None;
        for (index, slot) in set.iter().enumerate() {
            let head = slot.head.load(Ordering::Relaxed);
            if (head >> 32) as u32 == probe.tag {
                way = Some(index as u8);
                break;
            }
            sequence_sum = sequence_sum.wrapping_add(head as u32);
        }
        let way = way.unwrap_or_else(|| round_robin(sequence_sum));
        self.fill_way(probe, way, key, cached)
    }

    /// [`L1::fill`] into the way a lookup chose (`lookup.way`), without scanning the set.
    #[inline(always)]
    pub fn fill_hinted(&self, probe: &Probe, lookup: L1Lookup, key: &Key, cached: Cached) -> bool {
        self.fill_way(probe, lookup.way, key, cached)
    }

    /// Writes the decision into `way` of the key's set, seqlock-style. A fill that finds the
    /// slot mid-fill (it interrupted a fill on the same CPU) gives up.
    #[inline(always)]
    fn fill_way(&self, probe: &Probe, way: u8, key: &Key, cached: Cached) -> bool {
        let slot = &self.sets[probe.set()][way as usize % L1_WAYS];
        let head = slot.head.load(Ordering::Relaxed);
        if head & 1 != 0 {
            return false;
        }
        let evicted = head != 0 && (head >> 32) as u32 != probe.tag;
        let sequence = head as u32;
        slot.head.store((head & !0xFFFF_FFFF) | sequence.wrapping_add(1) as u64, Ordering::Relaxed);
        // Orders the odd head before the payload stores for any reader that sees a new payload.
        fence(Ordering::Release);
        // A key of at most 8 bytes is compared on its first word only (its tag holds its
        // length, so no longer key's lookup matches this slot): the other words need no store.
        let words = if key.len_bytes <= 8 { 1 } else { key.words.len() };
        for (word, value) in slot.key.iter().zip(key.words).take(words) {
            word.store(value, Ordering::Relaxed);
        }
        slot.value.store(cached.value, Ordering::Relaxed);
        slot.expiry_ticks.store(cached.expiry_ticks, Ordering::Relaxed);
        slot.version.store(cached.version, Ordering::Relaxed);
        slot.head.store((probe.tag as u64) << 32 | sequence.wrapping_add(2) as u64, Ordering::Release);
        evicted
    }
}

/// The round-robin victim of a set whose sequence numbers sum to `sequence_sum`: every fill
/// adds 2 to one sequence, so the sum counts the set's fills without a counter to keep (and
/// an empty set fills its ways in order).
#[inline(always)]
fn round_robin(sequence_sum: u32) -> u8 {
    ((sequence_sum >> 1) as usize % L1_WAYS) as u8
}
