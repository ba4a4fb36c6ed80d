//! The per-CPU L1: a small direct-mapped cache of decisions, one per CPU, validated
//! seqlock-style over atomic words. Direct-mapped rather than set-associative: a hit checks
//! one slot either way, but a miss then has no ways to scan and no victim to choose, which
//! was a fifth of a global hit's instructions (issue #22).
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

/// Slots per CPU: a direct-mapped cache, so that a miss has one slot to check and one to fill.
#[cfg(not(loom))]
pub const L1_SLOTS: usize = 64;
/// Slots per CPU (small under loom).
#[cfg(loom)]
pub const L1_SLOTS: usize = 2;

const _: () = assert!(L1_SLOTS.is_power_of_two() && L1_SLOTS > 1);
const SLOT_SHIFT: u32 = 64 - L1_SLOTS.trailing_zeros();
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

/// What a lookup in a CPU's L1 saw, and the version it compared with. A refill of the key
/// goes to the key's one slot, so the lookup has nothing else to hand on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct L1Lookup {
    /// What the lookup found.
    pub outcome: L1Outcome,
    /// The `(generation, epoch)` word the lookup compared with, loaded `Relaxed`: the global
    /// lookup after a miss uses it (after an `Acquire` fence) instead of loading it again.
    version: u64,
}

impl L1Lookup {
    /// A miss (`Stale` or `Absent`) as one word, so that a caller can hand it to an out-of-line
    /// slow path in a register rather than through memory; a hit gives 0.
    #[inline(always)]
    pub fn miss_word(&self) -> u32 {
        match self.outcome {
            L1Outcome::Hit(_) => 0,
            L1Outcome::Stale => 1,
            L1Outcome::Absent => 2,
        }
    }

    /// The miss that [`L1Lookup::miss_word`] gave `word` for (`Absent` for anything else),
    /// under `version` (from [`L1Lookup::version`]).
    #[inline(always)]
    pub fn from_miss_word(word: u32, version: u64) -> Self {
        let outcome = if word == 1 { L1Outcome::Stale } else { L1Outcome::Absent };
        Self { outcome, version }
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
    /// The key's own hash: the L1 slot (hooks share slots; the tag tells them apart), so the
    /// hit path does not pay for salting.
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

    /// The key's slot in an L1.
    #[inline(always)]
    pub fn slot(&self) -> usize {
        (self.key_hash >> SLOT_SHIFT) as usize
    }
}

/// One CPU's L1.
#[repr(C, align(64))]
pub struct L1 {
    slots: [Slot; L1_SLOTS],
}

impl Default for L1 {
    fn default() -> Self {
        Self::new()
    }
}

impl L1 {
    /// An empty L1.
    pub fn new() -> Self {
        Self { slots: core::array::from_fn(|_| Slot::new()) }
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
        let slot = &self.slots[probe.slot()];
        let head = slot.head.load(Ordering::Acquire);
        // Another tag, or a fill in progress (odd sequence), in one compare.
        if head & TAG_AND_ODD != (probe.tag as u64) << 32 {
            return L1Lookup { outcome: L1Outcome::Absent, version };
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
            return L1Lookup { outcome: L1Outcome::Absent, version };
        }
        if slot_version == version && now_ticks < expiry_ticks {
            return L1Lookup { outcome: L1Outcome::Hit(value), version };
        }
        L1Lookup { outcome: L1Outcome::Stale, version }
    }

    /// Stores a decision in the key's slot, seqlock-style; only the owning CPU calls this. A
    /// fill that finds the slot mid-fill (it interrupted a fill on the same CPU) gives up.
    /// Returns whether a decision of another key was overwritten.
    #[inline(always)]
    pub fn fill(&self, probe: &Probe, key: &Key, cached: Cached) -> bool {
        let slot = &self.slots[probe.slot()];
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
