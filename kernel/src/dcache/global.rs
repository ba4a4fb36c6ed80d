//! The global decision table: open addressing (linear probing) with each decision inline in a
//! 64-byte slot, the slot array published through an RCU pointer.
//!
//! A slot's key is written only while no reader can be reading it: empty (`meta` 0) → filled
//! (payload stored, then `meta` published with `Release`) → removed (`meta` = a tombstone
//! naming a grace period started after the removal) → filled again only once that grace
//! period is complete, when every reader that could have loaded the old `meta` has left its
//! read-side section. So a reader that loads a live `meta` (`Acquire`) and matches the key has
//! found the key's slot, with no pointer to chase (issue #22: an entry behind a pointer, its
//! poison word and its separate compare were a fifth of a global hit). Replacing the key's
//! decision changes value, expiry and generation in place under a per-slot sequence
//! (seqlock-style: one `ldar`, a `dmb ishld` and a re-check for the reader), so writes leave no
//! tombstones. Tombstones from removals whose grace period is not yet complete are reclaimed by
//! rebuilding into a fresh array, the old one retired to RCU.
//!
//! Writers serialize on a lock held with interrupts masked (`CpuOps::irq_save`): `decide` may
//! insert from a timer hook that interrupted a writer on the same CPU.

use super::key::{HookId, Key};
use crate::cpu::CpuOps;
use crate::rcu::sync::{fence, AtomicU64, Ordering};
use crate::rcu::{Rcu, RcuCell, RcuCellWriter, RcuReadGuard};
use alloc::boxed::Box;
use alloc::vec::Vec;

/// `Slot::meta` of a slot never filled: probing stops here.
const EMPTY: u64 = 0;
/// Set in the `meta` of a removed decision, whose low bits hold the grace period after which
/// the slot may be filled again: probing continues past it.
const TOMBSTONE: u64 = 1 << 62;
/// A tombstone whose grace period has not started yet (see `Global::bury`): never reusable.
const UNBURIED: u64 = TOMBSTONE | (TOMBSTONE - 1);
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
const MIN_CAPACITY: usize = 8;

/// Slots per live-or-removed entry, at least: a load factor of at most 1/4 keeps linear-probing
/// chains short (about 1.2 probes per hit, 1.4 per miss). At the 16 Ki-entry default limit the
/// array is 4 MiB.
const MAX_LOAD_INVERSE: usize = 4;

/// One decision, inline. All words are atomics because readers load them while writers
/// publish others. The key never changes while the slot is live; value, expiry and generation
/// change in place when the key's decision is replaced, under the sequence in `version`.
#[repr(C, align(64))]
struct Slot {
    meta: AtomicU64,
    key: [AtomicU64; 4],
    value: AtomicU64,
    expiry_ticks: AtomicU64,
    /// Sequence (high 32 bits; odd while a replacement writes) | generation (low 32 bits).
    version: AtomicU64,
}

impl Slot {
    fn empty() -> Self {
        Self {
            meta: AtomicU64::new(EMPTY),
            key: [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)],
            value: AtomicU64::new(0),
            expiry_ticks: AtomicU64::new(0),
            version: AtomicU64::new(0),
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

    /// The decision of a live slot, for writers (under the lock, so no replacement runs).
    fn entry(&self, meta: u64) -> Entry {
        Entry {
            hook: (meta >> 48) as u8,
            value: self.value.load(Ordering::Relaxed),
            expiry_ticks: self.expiry_ticks.load(Ordering::Relaxed),
            generation: self.version.load(Ordering::Relaxed) as u32,
        }
    }

    /// The decision of a live slot whose `meta` this reader loaded, seqlock-validated against
    /// an in-place replacement. Retries while one runs: writers hold the table's lock with
    /// interrupts masked, so a replacement never waits on a reader of its own CPU.
    #[inline(always)]
    fn read<C: CpuOps>(&self, meta: u64) -> Entry {
        loop {
            let version = self.version.load(Ordering::Acquire);
            let value = self.value.load(Ordering::Relaxed);
            let expiry_ticks = self.expiry_ticks.load(Ordering::Relaxed);
            // Orders the two loads above before the re-check (a `dmb ishld`, cheaper than two
            // `ldar` with their address computations).
            fence(Ordering::Acquire);
            if self.version.load(Ordering::Relaxed) == version && version & (1 << 32) == 0 {
                return Entry { hook: (meta >> 48) as u8, value, expiry_ticks, generation: version as u32 };
            }
            C::relax();
        }
    }

    /// Stores a decision into an unpublished slot's payload; `publish` makes it visible.
    fn write(&self, key_words: [u64; 4], entry: &Entry) {
        for (word, value) in self.key.iter().zip(key_words) {
            word.store(value, Ordering::Relaxed);
        }
        self.value.store(entry.value, Ordering::Relaxed);
        self.expiry_ticks.store(entry.expiry_ticks, Ordering::Relaxed);
        self.version.store(entry.generation as u64, Ordering::Relaxed);
    }

    /// Replaces a live slot's decision in place (for writers, under the lock), seqlock-style:
    /// the sequence goes odd, the payload changes, the sequence goes even with the new
    /// generation.
    fn replace(&self, entry: &Entry) {
        let sequence = self.version.load(Ordering::Relaxed) >> 32;
        self.version.store((sequence + 1) << 32, Ordering::Relaxed);
        // Orders the odd sequence before the payload stores for a reader that sees either.
        fence(Ordering::Release);
        self.value.store(entry.value, Ordering::Relaxed);
        self.expiry_ticks.store(entry.expiry_ticks, Ordering::Relaxed);
        self.version.store((sequence + 2) << 32 | entry.generation as u64, Ordering::Release);
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
        self.first_free(hash as usize & self.mask, |_| false)
    }

    /// The first slot from `start` on that a writer may fill: never filled, or a tombstone
    /// whose grace period `reusable` says is complete (for writers, under the lock).
    fn first_free(&self, start: usize, mut reusable: impl FnMut(u64) -> bool) -> usize {
        let mut index = start & self.mask;
        loop {
            let meta = self.slots[index].meta.load(Ordering::Relaxed);
            if meta == EMPTY || (meta & (LIVE | TOMBSTONE) == TOMBSTONE && reusable(meta & !TOMBSTONE)) {
                return index;
            }
            index = (index + 1) & self.mask;
        }
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
    table: RcuCell<'r, Table, WriterState, C>,
    max_entries: usize,
    pub(crate) counters: WriterCounters,
}

/// A writer's hold on the table (its lock, interrupts masked).
type Writer<'a, 'r, C> = RcuCellWriter<'a, 'r, Table, WriterState, C>;

impl<'r, C: CpuOps> Global<'r, C> {
    pub(crate) fn new(rcu: &'r Rcu<C>, max_entries: usize) -> Self {
        Self {
            table: RcuCell::new(rcu, Table::with_capacity(MIN_CAPACITY), WriterState { live: 0, tombstones: 0 }),
            max_entries: max_entries.max(1),
            counters: WriterCounters::default(),
        }
    }

    pub(crate) fn rcu(&self) -> &'r Rcu<C> {
        self.table.rcu()
    }

    /// Finds the decision of (`hook`, `key`) whose combined hash is `hash`.
    #[inline(always)]
    pub(crate) fn find(&self, guard: &RcuReadGuard<'_, C>, hook: HookId, key: &Key, hash: u64) -> Found {
        let table = self.table.load(guard);
        let wanted = live_meta(hook.index(), key.len_bytes, hash);
        let mut index = hash as usize & table.mask;
        loop {
            let slot = &table.slots[index];
            // `Acquire`: the payload stored before the `Release` that published this `meta`.
            let meta = slot.meta.load(Ordering::Acquire);
            if meta == wanted {
                if slot.holds(key) {
                    return Found::Entry(slot.read::<C>(meta));
                }
            } else if meta == EMPTY {
                return Found::Absent;
            } else if meta == POISON {
                return Found::Poisoned;
            }
            index = (index + 1) & table.mask;
        }
    }

    /// Removes the decisions in `slots` (for writers, under the lock): each `meta` becomes a
    /// tombstone that no writer may refill yet, then one grace period starts, and the tombstones
    /// name it. The order matters: a reader that comes online or reports a quiescent state
    /// after the grace period starts must already find the tombstone, or it could read the old
    /// `meta` and then the payload of the slot's next decision.
    fn bury(&self, table: &Table, slots: &[usize]) {
        if slots.is_empty() {
            return;
        }
        for &index in slots {
            table.slots[index].meta.store(UNBURIED, Ordering::Release);
        }
        let tombstone = TOMBSTONE | (self.rcu().start_gp() & (TOMBSTONE - 1));
        for &index in slots {
            table.slots[index].meta.store(tombstone, Ordering::Relaxed);
        }
    }

    /// Tells whether a tombstone's grace period is complete, asking RCU at most once per insert
    /// (a full check loads every CPU's state); later tombstones compare with what it learned.
    fn grace_period_check(&self) -> impl FnMut(u64) -> bool + '_ {
        let mut asked = false;
        move |gp| {
            if gp <= self.rcu().completed_gp() {
                return true;
            }
            if asked {
                return false;
            }
            asked = true;
            self.rcu().gp_completed(gp)
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
        let mut writer = self.table.lock();
        if !still_valid() {
            return Err(InsertError::Stale);
        }
        let meta = live_meta(hook.index(), key.len_bytes, hash);
        let entry = Entry { hook: hook.index() as u8, value, expiry_ticks, generation };
        let (table, state) = writer.parts();
        let existing = table.position(meta, key, hash);
        let capacity = table.capacity();
        // Only a new key takes a slot: a replacement changes its key's slot in place.
        let crowded = (state.live + state.tombstones + 1) * MAX_LOAD_INVERSE > capacity;
        if existing.is_none() && (crowded || state.live + 1 > self.max_entries) {
            // Rebuild: drop dead entries and tombstones, grow if still crowded.
            self.rebuild(&mut writer, capacity, now_ticks, &live_generation);
            let (table, state) = writer.parts();
            if (state.live + 1) * MAX_LOAD_INVERSE > table.capacity() {
                let capacity = table.capacity() * 2;
                self.rebuild(&mut writer, capacity, now_ticks, &live_generation);
            }
            if writer.state().live + 1 > self.max_entries {
                return Err(InsertError::Full);
            }
        }
        let (table, state) = writer.parts();
        self.counters.inserts.fetch_add(1, Ordering::Relaxed);
        let cached_elsewhere = match existing {
            // The key's slot keeps its key and `meta`: the decision changes in place.
            Some(slot) => {
                let before = table.slots[slot].entry(meta);
                table.slots[slot].replace(&entry);
                self.counters.replaced.fetch_add(1, Ordering::Relaxed);
                before.generation == live_generation(before.hook) && before.expiry_ticks > now_ticks
            }
            None => {
                let index = table.first_free(hash as usize, self.grace_period_check());
                if table.slots[index].meta.load(Ordering::Relaxed) != EMPTY {
                    state.tombstones -= 1;
                }
                table.slots[index].write(key.words, &entry);
                table.slots[index].meta.store(meta, Ordering::Release);
                state.live += 1;
                false
            }
        };
        drop(writer);
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
        let mut writer = self.table.lock();
        let (table, state) = writer.parts();
        let doomed: Vec<usize> = (0..table.slots.len())
            .filter(|&index| {
                let slot = &table.slots[index];
                let meta = slot.meta.load(Ordering::Relaxed);
                meta & LIVE != 0 && doomed(&slot.entry(meta), slot)
            })
            .collect();
        self.bury(table, &doomed);
        let removed = doomed.len();
        after();
        state.live -= removed;
        state.tombstones += removed;
        self.counters.removed.fetch_add(removed as u64, Ordering::Relaxed);
        removed
    }

    /// Runs `then` under the writer lock (so it orders with inserts' validity checks).
    pub(crate) fn with_writer_lock<R>(&self, then: impl FnOnce() -> R) -> R {
        let _writer = self.table.lock();
        then()
    }

    /// Removes the entry of (`hook`, `key`) if present, then runs `after` under the lock.
    pub(crate) fn remove(&self, hook: HookId, key: &Key, hash: u64, after: impl FnOnce()) -> bool {
        let meta = live_meta(hook.index(), key.len_bytes, hash);
        self.remove_where_then(|_, slot| slot.meta.load(Ordering::Relaxed) == meta && slot.holds(key), after) > 0
    }

    /// Copies live entries into a fresh table of `capacity` slots, leaving the dead ones (older
    /// generation or expired) and the tombstones behind, and retires the old array.
    fn rebuild(
        &self,
        writer: &mut Writer<'_, 'r, C>,
        capacity: usize,
        now_ticks: u64,
        live_generation: &impl Fn(u8) -> u32,
    ) {
        let old = writer.current();
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
        // Published with `Release`: readers that load the new array see its slots.
        writer.replace(new);
        let state = writer.state();
        state.live = live;
        state.tombstones = 0;
        self.counters.resizes.fetch_add(1, Ordering::Relaxed);
    }

    /// The live entry of (`hook`, `key`), read under the writer lock (for callers without a
    /// CPU, e.g. a final check).
    pub(crate) fn get_locked(&self, hook: HookId, key: &Key, hash: u64) -> Option<Entry> {
        let meta = live_meta(hook.index(), key.len_bytes, hash);
        let mut writer = self.table.lock();
        let table = writer.current();
        table.position(meta, key, hash).map(|index| table.slots[index].entry(meta))
    }

    /// The slot where the probe for `hash` starts in the current array.
    pub(crate) fn home_slot(&self, hash: u64) -> usize {
        hash as usize & self.table.lock().current().mask
    }

    /// Live entries (approximate while writers run).
    pub(crate) fn len(&self) -> usize {
        let live = self.table.lock().state().live;
        live
    }
}
