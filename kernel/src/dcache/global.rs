//! The global decision table: open addressing (linear probing) with each decision inline in a
//! 64-byte slot, the slot array published through an RCU pointer.
//!
//! A slot is written once in its array's life: empty (`meta` 0) → filled (payload stored, then
//! `meta` published with `Release`) → removed (`meta` = tombstone). It is never filled again:
//! tombstones are reclaimed by rebuilding into a fresh array and retiring the old one to RCU. So
//! a reader that loads a live `meta` (`Acquire`) reads a payload no writer changes while its
//! guard lives: no pointer to chase, no seqlock retry, plain loads (issue #22: an entry behind a
//! pointer, its poison word and its separate compare were a fifth of a global hit). Replacing a
//! decision publishes the new one in a fresh slot, then tombstones the old.
//!
//! Writers serialize on a lock held with interrupts masked (`CpuOps::irq_save`): `decide` may
//! insert from a timer hook that interrupted a writer on the same CPU.

use super::key::{HookId, Key};
use crate::cpu::CpuOps;
use crate::rcu::sync::{AtomicPtr, AtomicU64, IrqsMasked, Ordering};
use crate::rcu::{Rcu, RcuReadGuard};
use alloc::boxed::Box;
use alloc::vec::Vec;

/// `Slot::meta` of a slot never filled: probing stops here.
const EMPTY: u64 = 0;
/// `Slot::meta` of a removed decision: probing continues past it.
const TOMBSTONE: u64 = 1;
/// `Slot::meta` once the array is freed (the torture test's detector: a reader that probes a
/// freed array counts a poisoned read). Never a live `meta` (bits 56..62 of those are 0); all
/// ones, so that checking for it costs no constant to build (`cmn x, #1`).
pub(crate) const POISON: u64 = u64::MAX;
/// Set in every live `meta`.
const LIVE: u64 = 1 << 63;

/// The `meta` of a live decision: hook, key length and the hash's high half (the low half
/// chose the slot), so that one compare filters almost every other key.
#[inline(always)]
fn live_meta(hook_index: usize, len_bytes: u8, hash: u64) -> u64 {
    LIVE | (hook_index as u64) << 48 | (len_bytes as u64) << 40 | hash >> 32
}

/// Smallest table (slots).
#[cfg(not(loom))]
const MIN_CAPACITY: usize = 64;
#[cfg(loom)]
const MIN_CAPACITY: usize = 4;

/// Slots per live-or-removed entry, at least: a load factor of at most 1/4 keeps linear-probing
/// chains short (about 1.2 probes per hit, 1.4 per miss). At the 16 Ki-entry default limit the
/// array is 4 MiB.
const MAX_LOAD_INVERSE: usize = 4;

/// One decision, inline. All words are atomics because readers load them while writers
/// publish others; a filled slot's payload never changes (see the module comment).
#[repr(C, align(64))]
struct Slot {
    meta: AtomicU64,
    key: [AtomicU64; 4],
    value: AtomicU64,
    expiry_ticks: AtomicU64,
    generation: AtomicU64,
}

impl Slot {
    fn empty() -> Self {
        Self {
            meta: AtomicU64::new(EMPTY),
            key: [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)],
            value: AtomicU64::new(0),
            expiry_ticks: AtomicU64::new(0),
            generation: AtomicU64::new(0),
        }
    }

    /// Whether this live slot holds `key` (its `meta` already matched, length included).
    #[inline(always)]
    fn holds(&self, key: &Key) -> bool {
        let mut difference = self.key[0].load(Ordering::Relaxed) ^ key.words[0];
        if key.len_bytes > 8 {
            for index in 1..4 {
                difference |= self.key[index].load(Ordering::Relaxed) ^ key.words[index];
            }
        }
        difference == 0
    }

    /// The decision of a live slot.
    fn entry(&self, meta: u64) -> Entry {
        Entry {
            hook: (meta >> 48) as u8,
            value: self.value.load(Ordering::Relaxed),
            expiry_ticks: self.expiry_ticks.load(Ordering::Relaxed),
            generation: self.generation.load(Ordering::Relaxed) as u32,
        }
    }

    /// Stores a decision into an unpublished slot's payload; `publish` makes it visible.
    fn write(&self, key_words: [u64; 4], entry: &Entry) {
        for (word, value) in self.key.iter().zip(key_words) {
            word.store(value, Ordering::Relaxed);
        }
        self.value.store(entry.value, Ordering::Relaxed);
        self.expiry_ticks.store(entry.expiry_ticks, Ordering::Relaxed);
        self.generation.store(entry.generation as u64, Ordering::Relaxed);
    }
}

/// A decision as the table holds it (copied out of a slot).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) hook: u8,
    pub(crate) value: u64,
    pub(crate) expiry_ticks: u64,
    pub(crate) generation: u32,
}

/// What a lookup found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Found {
    /// The key's decision (live or not: the caller checks generation and expiry).
    Entry(Entry),
    /// The key is not in the table.
    Absent,
    /// The probe met a freed array (only possible if RCU is broken).
    Poisoned,
}

/// A slot array.
struct Table {
    mask: usize,
    slots: Box<[Slot]>,
}

impl Table {
    fn with_capacity(capacity: usize) -> Box<Self> {
        let capacity = capacity.max(MIN_CAPACITY).next_power_of_two();
        let slots: Vec<Slot> = (0..capacity).map(|_| Slot::empty()).collect();
        Box::new(Self { mask: capacity - 1, slots: slots.into_boxed_slice() })
    }

    fn capacity(&self) -> usize {
        self.mask + 1
    }

    /// The index of `key`'s live slot (for writers, under the lock).
    fn position(&self, wanted_meta: u64, key: &Key, hash: u64) -> Option<usize> {
        let mut index = hash as usize & self.mask;
        loop {
            let meta = self.slots[index].meta.load(Ordering::Relaxed);
            if meta == EMPTY {
                return None;
            }
            if meta == wanted_meta && self.slots[index].holds(key) {
                return Some(index);
            }
            index = (index + 1) & self.mask;
        }
    }

    /// The first never-filled slot of `hash`'s chain (for writers, under the lock).
    fn first_empty(&self, hash: u64) -> usize {
        let mut index = hash as usize & self.mask;
        while self.slots[index].meta.load(Ordering::Relaxed) != EMPTY {
            index = (index + 1) & self.mask;
        }
        index
    }
}

impl Drop for Table {
    fn drop(&mut self) {
        for slot in self.slots.iter() {
            slot.meta.store(POISON, Ordering::Relaxed);
        }
    }
}

/// Why an insert did not happen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InsertError {
    /// The hook was invalidated after the decision's ticket was issued: the decision may be
    /// based on the old policy, so it is dropped.
    Stale,
    /// The table holds `max_entries` live decisions.
    Full,
}

impl core::fmt::Display for InsertError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::Stale => "decision dropped: its hook was invalidated while it was being made",
            Self::Full => "decision dropped: the global table is full",
        })
    }
}

struct WriterState {
    live: usize,
    tombstones: usize,
}

/// Writer-side counters (writers are serialized, so plain atomics suffice).
#[derive(Default)]
pub(crate) struct WriterCounters {
    pub(crate) inserts: AtomicU64,
    pub(crate) replaced: AtomicU64,
    pub(crate) removed: AtomicU64,
    pub(crate) resizes: AtomicU64,
}

/// The global table.
pub(crate) struct Global<'r, C: CpuOps> {
    rcu: &'r Rcu<C>,
    table: AtomicPtr<Table>,
    writer: crate::rcu::sync::Mutex<WriterState>,
    max_entries: usize,
    pub(crate) counters: WriterCounters,
}

impl<'r, C: CpuOps> Global<'r, C> {
    pub(crate) fn new(rcu: &'r Rcu<C>, max_entries: usize) -> Self {
        Self {
            rcu,
            table: AtomicPtr::new(Box::into_raw(Table::with_capacity(MIN_CAPACITY))),
            writer: crate::rcu::sync::Mutex::new(WriterState { live: 0, tombstones: 0 }),
            max_entries: max_entries.max(1),
            counters: WriterCounters::default(),
        }
    }

    pub(crate) fn rcu(&self) -> &'r Rcu<C> {
        self.rcu
    }

    #[inline(always)]
    fn table<'g>(&self, _guard: &'g RcuReadGuard<'_, C>) -> &'g Table {
        let pointer = self.table.load(Ordering::Acquire);
        // SAFETY: `table` is never null (set in `new`, replaced by `rebuild` with a new box); a
        // replaced table is retired to RCU, so it outlives the guard; freed directly only by
        // `Drop`, which has `&mut self`.
        #[allow(unsafe_code)]
        unsafe {
            &*pointer
        }
    }

    /// Finds the decision of (`hook`, `key`) whose combined hash is `hash`.
    #[inline(always)]
    pub(crate) fn find(&self, guard: &RcuReadGuard<'_, C>, hook: HookId, key: &Key, hash: u64) -> Found {
        debug_assert!(guard.is_for(self.rcu));
        let table = self.table(guard);
        let wanted = live_meta(hook.index(), key.len_bytes, hash);
        let mut index = hash as usize & table.mask;
        loop {
            let slot = &table.slots[index];
            // `Acquire`: the payload stored before the `Release` that published this `meta`.
            let meta = slot.meta.load(Ordering::Acquire);
            if meta == wanted {
                if slot.holds(key) {
                    return Found::Entry(slot.entry(meta));
                }
            } else if meta == EMPTY {
                return Found::Absent;
            } else if meta == POISON {
                return Found::Poisoned;
            }
            index = (index + 1) & table.mask;
        }
    }

    /// The current table, for writers (who hold the lock, so nothing frees it under them).
    fn writer_table(&self, _state: &mut WriterState) -> &Table {
        let pointer = self.table.load(Ordering::Acquire);
        // SAFETY: only writers replace the table, and the caller holds the writer lock (proven
        // by `&mut WriterState`); the table is retired, not freed, when replaced.
        #[allow(unsafe_code)]
        unsafe {
            &*pointer
        }
    }

    /// Inserts or replaces a decision. `still_valid` runs under the writer lock and tells
    /// whether the decision's ticket still matches the hook's version. `live_generation` and
    /// `now_ticks` let a rebuild drop dead entries. `on_replace` runs after the lock is released
    /// with whether a decision was replaced that CPUs may have cached (the caller then bumps the
    /// key's epoch).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn insert(
        &self,
        hook: HookId,
        key: &Key,
        hash: u64,
        value: u64,
        expiry_ticks: u64,
        generation: u32,
        now_ticks: u64,
        still_valid: impl Fn() -> bool,
        on_replace: impl FnOnce(bool),
        live_generation: impl Fn(u8) -> u32,
    ) -> Result<(), InsertError> {
        let _irqs = IrqsMasked::<C>::new();
        let mut state = self.writer.lock();
        if !still_valid() {
            return Err(InsertError::Stale);
        }
        let meta = live_meta(hook.index(), key.len_bytes, hash);
        let entry = Entry { hook: hook.index() as u8, value, expiry_ticks, generation };
        // Every insert takes a never-filled slot, a replacement too (the old one becomes a
        // tombstone), so room is counted the same way for both.
        let mut existing = self.writer_table(&mut state).position(meta, key, hash);
        let capacity = self.writer_table(&mut state).capacity();
        let crowded = (state.live + state.tombstones + 1) * MAX_LOAD_INVERSE > capacity;
        if crowded || (existing.is_none() && state.live + 1 > self.max_entries) {
            // Rebuild: drop dead entries and tombstones, grow if still crowded.
            self.rebuild(&mut state, capacity, now_ticks, &live_generation);
            let capacity = self.writer_table(&mut state).capacity();
            if (state.live + 1) * MAX_LOAD_INVERSE > capacity {
                self.rebuild(&mut state, capacity * 2, now_ticks, &live_generation);
            }
            existing = self.writer_table(&mut state).position(meta, key, hash);
            if existing.is_none() && state.live + 1 > self.max_entries {
                return Err(InsertError::Full);
            }
        }
        let table = self.writer_table(&mut state);
        let index = table.first_empty(hash);
        table.slots[index].write(key.words, &entry);
        table.slots[index].meta.store(meta, Ordering::Release);
        self.counters.inserts.fetch_add(1, Ordering::Relaxed);
        let cached_elsewhere = match existing {
            Some(old) => {
                let before = table.slots[old].entry(meta);
                table.slots[old].meta.store(TOMBSTONE, Ordering::Release);
                state.tombstones += 1;
                self.counters.replaced.fetch_add(1, Ordering::Relaxed);
                before.generation == live_generation(before.hook) && before.expiry_ticks > now_ticks
            }
            None => {
                state.live += 1;
                false
            }
        };
        drop(state);
        on_replace(cached_elsewhere);
        Ok(())
    }

    /// Removes every entry `doomed` selects; returns how many.
    pub(crate) fn remove_where(&self, doomed: impl Fn(&Entry) -> bool) -> usize {
        self.remove_where_then(|entry, _| doomed(entry), || ())
    }

    /// Removes every entry `doomed` selects (given the entry and its slot, to compare keys),
    /// then runs `after` still under the writer lock (so no insert slips in between); returns
    /// how many.
    fn remove_where_then(&self, doomed: impl Fn(&Entry, &Slot) -> bool, after: impl FnOnce()) -> usize {
        let _irqs = IrqsMasked::<C>::new();
        let mut state = self.writer.lock();
        let table = self.writer_table(&mut state);
        let mut removed = 0;
        for slot in table.slots.iter() {
            let meta = slot.meta.load(Ordering::Relaxed);
            if meta & LIVE == 0 {
                continue;
            }
            if doomed(&slot.entry(meta), slot) {
                slot.meta.store(TOMBSTONE, Ordering::Release);
                removed += 1;
            }
        }
        after();
        state.live -= removed;
        state.tombstones += removed;
        self.counters.removed.fetch_add(removed as u64, Ordering::Relaxed);
        removed
    }

    /// Runs `then` under the writer lock (so it orders with inserts' validity checks).
    pub(crate) fn with_writer_lock<R>(&self, then: impl FnOnce() -> R) -> R {
        let _irqs = IrqsMasked::<C>::new();
        let _state = self.writer.lock();
        then()
    }

    /// Removes the entry of (`hook`, `key`) if present, then runs `after` under the lock.
    pub(crate) fn remove(&self, hook: HookId, key: &Key, hash: u64, after: impl FnOnce()) -> bool {
        let meta = live_meta(hook.index(), key.len_bytes, hash);
        self.remove_where_then(|_, slot| slot.meta.load(Ordering::Relaxed) == meta && slot.holds(key), after) > 0
    }

    /// Copies live entries into a fresh table of `capacity` slots, leaving the dead ones (older
    /// generation or expired) and the tombstones behind, and retires the old array.
    fn rebuild(&self, state: &mut WriterState, capacity: usize, now_ticks: u64, live_generation: &impl Fn(u8) -> u32) {
        let old = self.writer_table(state);
        let new = Table::with_capacity(capacity);
        let mut live = 0;
        for slot in old.slots.iter() {
            let meta = slot.meta.load(Ordering::Relaxed);
            if meta & LIVE == 0 {
                continue;
            }
            let entry = slot.entry(meta);
            if entry.generation != live_generation(entry.hook) || entry.expiry_ticks <= now_ticks {
                continue;
            }
            // The hash's low half chose the old slot; the new array's index needs the same
            // bits, which the old index holds only up to the old mask: recompute from the key.
            let words = core::array::from_fn(|index| slot.key[index].load(Ordering::Relaxed));
            let len_bytes = ((meta >> 40) & 0xFF) as u8;
            let hash = Key::hash_of(&words, len_bytes) ^ HookId::salt_of_index(entry.hook as usize);
            let index = new.first_empty(hash);
            new.slots[index].write(words, &entry);
            new.slots[index].meta.store(meta, Ordering::Relaxed);
            live += 1;
        }
        // `AcqRel`: readers that load the new array see its slots.
        let old = self.table.swap(Box::into_raw(new), Ordering::AcqRel);
        // SAFETY: `old` came from `Box::into_raw` and was just unlinked.
        #[allow(unsafe_code)]
        self.rcu.retire(unsafe { Box::from_raw(old) });
        state.live = live;
        state.tombstones = 0;
        self.counters.resizes.fetch_add(1, Ordering::Relaxed);
    }

    /// The live entry of (`hook`, `key`), read under the writer lock (for callers without a
    /// CPU, e.g. a final check).
    pub(crate) fn get_locked(&self, hook: HookId, key: &Key, hash: u64) -> Option<Entry> {
        let _irqs = IrqsMasked::<C>::new();
        let mut state = self.writer.lock();
        let meta = live_meta(hook.index(), key.len_bytes, hash);
        let table = self.writer_table(&mut state);
        table.position(meta, key, hash).map(|index| table.slots[index].entry(meta))
    }

    /// Live entries (approximate while writers run).
    pub(crate) fn len(&self) -> usize {
        let _irqs = IrqsMasked::<C>::new();
        let live = self.writer.lock().live;
        live
    }
}

impl<C: CpuOps> Drop for Global<'_, C> {
    fn drop(&mut self) {
        // `&mut self`: no reader or writer remains; arrays retired earlier belong to RCU.
        let pointer = self.table.load(Ordering::Acquire);
        // SAFETY: the current table came from `Box::into_raw` and is owned by `self`.
        #[allow(unsafe_code)]
        drop(unsafe { Box::from_raw(pointer) });
    }
}
