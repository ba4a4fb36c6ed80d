//! The global decision table: an open-addressing hash table of pointers to immutable entries,
//! published through an RCU pointer. Readers probe without locks under an RCU guard; writers
//! serialize on a lock, publish with `Release`, and retire what they unlink (a replaced entry, a
//! removed entry, a table outgrown by a resize) to be freed after a grace period. The writer
//! lock is held with interrupts masked (`CpuOps::irq_save`): `decide` may insert from a timer
//! hook that interrupted a writer on the same CPU.

use super::key::{HookId, Key};
use crate::cpu::CpuOps;
use crate::rcu::sync::{AtomicPtr, AtomicU64, IrqsMasked, Ordering};
use crate::rcu::{Rcu, RcuReadGuard};
use alloc::boxed::Box;
use alloc::vec::Vec;

/// `Entry::magic` while the entry is live.
const LIVE: u64 = 0x4C49_5645_4C49_5645;
/// `Entry::magic` once the entry is freed (the torture test's poison check).
pub(crate) const POISON: u64 = 0xDEAD_DEAD_DEAD_DEAD;

/// Smallest table (slots).
#[cfg(not(loom))]
const MIN_CAPACITY: usize = 64;
#[cfg(loom)]
const MIN_CAPACITY: usize = 4;

/// Slots per live-or-removed entry, at least: a load factor of at most 1/4 keeps linear-probing
/// chains short (about 1.2 probes per hit, 1.4 per miss) for 8 bytes of slot per entry.
const MAX_LOAD_INVERSE: usize = 4;

/// One decision, immutable once published (only `magic` changes, when it is freed).
pub(crate) struct Entry {
    magic: AtomicU64,
    pub(crate) hash: u64,
    pub(crate) words: [u64; 4],
    pub(crate) value: u64,
    pub(crate) expiry_ticks: u64,
    pub(crate) generation: u32,
    pub(crate) hook: u8,
    pub(crate) len_bytes: u8,
}

impl Entry {
    /// Whether this entry has been freed (only possible if RCU is broken).
    #[inline(always)]
    pub(crate) fn is_poisoned(&self) -> bool {
        self.magic.load(Ordering::Relaxed) != LIVE
    }
}

impl Drop for Entry {
    fn drop(&mut self) {
        self.magic.store(POISON, Ordering::Relaxed);
    }
}

/// A slot array. Its `Drop` frees the array only: entries are owned by the table that is
/// current, and freed one by one when unlinked.
struct Table {
    mask: usize,
    slots: Box<[AtomicPtr<Entry>]>,
}

impl Table {
    fn with_capacity(capacity: usize) -> Box<Self> {
        let capacity = capacity.max(MIN_CAPACITY).next_power_of_two();
        let slots: Vec<AtomicPtr<Entry>> = (0..capacity).map(|_| AtomicPtr::new(core::ptr::null_mut())).collect();
        Box::new(Self { mask: capacity - 1, slots: slots.into_boxed_slice() })
    }

    fn capacity(&self) -> usize {
        self.mask + 1
    }
}

/// A removed entry's slot: probing continues past it. Compared by address, never dereferenced.
fn tombstone() -> *mut Entry {
    core::ptr::dangling_mut()
}

/// A slot's pointer as a reference.
///
/// # Safety
/// `pointer` was loaded from a slot of a table reachable under `guard` (or by the writer under
/// its lock), and is neither null nor the tombstone.
#[allow(unsafe_code)]
unsafe fn entry_ref<'g, C: CpuOps>(pointer: *mut Entry, _guard: &'g RcuReadGuard<'_, C>) -> &'g Entry {
    // SAFETY: entries come from `Box::into_raw` and are published with `Release` (loaded with
    // `Acquire`); an unlinked entry is retired to RCU, so it stays allocated while the guard that
    // found it lives (per the caller's contract).
    unsafe { &*pointer }
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

    fn table<'g>(&self, _guard: &'g RcuReadGuard<'_, C>) -> &'g Table {
        let pointer = self.table.load(Ordering::Acquire);
        // SAFETY: `table` is never null (set in `new`, replaced by `resize` with a new box); a
        // replaced table is retired to RCU, so it outlives the guard; freed directly only by
        // `Drop`, which has `&mut self`.
        #[allow(unsafe_code)]
        unsafe {
            &*pointer
        }
    }

    /// Finds the entry of (`hook`, `key`) whose combined hash is `hash`.
    #[inline]
    pub(crate) fn find<'g>(
        &self,
        guard: &'g RcuReadGuard<'_, C>,
        hook: HookId,
        key: &Key,
        hash: u64,
    ) -> Option<&'g Entry> {
        debug_assert!(guard.is_for(self.rcu));
        let table = self.table(guard);
        let mut index = hash as usize & table.mask;
        loop {
            let pointer = table.slots[index].load(Ordering::Acquire);
            if pointer.is_null() {
                return None;
            }
            if pointer != tombstone() {
                // SAFETY: loaded from a slot of the table found under `guard`; not null, not
                // the tombstone.
                #[allow(unsafe_code)]
                let entry = unsafe { entry_ref(pointer, guard) };
                if entry.hash == hash
                    && entry.hook as usize == hook.index()
                    && key.same_as(&entry.words, entry.len_bytes)
                {
                    return Some(entry);
                }
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
    /// `now_ticks` let a resize drop dead entries. Returns whether an entry was replaced that
    /// CPUs may have cached (the caller then bumps the hook's epoch).
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
        let new = Box::into_raw(Box::new(Entry {
            magic: AtomicU64::new(LIVE),
            hash,
            words: key.words,
            value,
            expiry_ticks,
            generation,
            hook: hook.index() as u8,
            len_bytes: key.len_bytes,
        }));
        // Replace in place if present.
        {
            let table = self.writer_table(&mut state);
            let mut index = hash as usize & table.mask;
            loop {
                let pointer = table.slots[index].load(Ordering::Relaxed);
                if pointer.is_null() {
                    break;
                }
                if pointer != tombstone() {
                    // SAFETY: writers hold the lock; live entries of the current table are only
                    // unlinked by writers.
                    #[allow(unsafe_code)]
                    let entry = unsafe { &*pointer };
                    if entry.hash == hash
                        && entry.hook as usize == hook.index()
                        && key.same_as(&entry.words, entry.len_bytes)
                    {
                        let cached_elsewhere =
                            entry.generation == live_generation(entry.hook) && entry.expiry_ticks > now_ticks;
                        table.slots[index].store(new, Ordering::Release);
                        // SAFETY: just unlinked from the only table that holds it.
                        #[allow(unsafe_code)]
                        self.retire_entry(unsafe { Box::from_raw(pointer) });
                        self.counters.replaced.fetch_add(1, Ordering::Relaxed);
                        self.counters.inserts.fetch_add(1, Ordering::Relaxed);
                        drop(state);
                        on_replace(cached_elsewhere);
                        return Ok(());
                    }
                }
                index = (index + 1) & table.mask;
            }
        }
        let mut capacity = self.writer_table(&mut state).capacity();
        if state.live + 1 > self.max_entries || (state.live + state.tombstones + 1) * MAX_LOAD_INVERSE > capacity {
            // Rebuild: drop dead entries, grow if still crowded.
            self.rebuild(&mut state, capacity, now_ticks, &live_generation);
            capacity = self.writer_table(&mut state).capacity();
            if state.live + 1 > self.max_entries {
                // SAFETY: `new` was never published.
                #[allow(unsafe_code)]
                drop(unsafe { Box::from_raw(new) });
                return Err(InsertError::Full);
            }
            if (state.live + 1) * MAX_LOAD_INVERSE > capacity {
                self.rebuild(&mut state, capacity * 2, now_ticks, &live_generation);
            }
        }
        let table = self.writer_table(&mut state);
        let mut index = hash as usize & table.mask;
        loop {
            let pointer = table.slots[index].load(Ordering::Relaxed);
            if pointer.is_null() || pointer == tombstone() {
                if pointer == tombstone() {
                    state.tombstones -= 1;
                }
                table.slots[index].store(new, Ordering::Release);
                state.live += 1;
                self.counters.inserts.fetch_add(1, Ordering::Relaxed);
                drop(state);
                on_replace(false);
                return Ok(());
            }
            index = (index + 1) & table.mask;
        }
    }

    /// Removes every entry `doomed` selects; returns how many.
    pub(crate) fn remove_where(&self, doomed: impl Fn(&Entry) -> bool) -> usize {
        self.remove_where_then(doomed, || ())
    }

    /// Removes every entry `doomed` selects, then runs `after` still under the writer lock (so
    /// no insert slips in between); returns how many.
    pub(crate) fn remove_where_then(&self, doomed: impl Fn(&Entry) -> bool, after: impl FnOnce()) -> usize {
        let _irqs = IrqsMasked::<C>::new();
        let mut state = self.writer.lock();
        let table = self.writer_table(&mut state);
        let mut removed = 0;
        for slot in table.slots.iter() {
            let pointer = slot.load(Ordering::Relaxed);
            if pointer.is_null() || pointer == tombstone() {
                continue;
            }
            // SAFETY: writer lock held (see `insert`).
            #[allow(unsafe_code)]
            let entry = unsafe { &*pointer };
            if doomed(entry) {
                slot.store(tombstone(), Ordering::Release);
                // SAFETY: just unlinked from the only table that holds it.
                #[allow(unsafe_code)]
                self.retire_entry(unsafe { Box::from_raw(pointer) });
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

    /// Removes the entry of (`hook`, `key`) if present.
    /// Removes the entry of (`hook`, `key`) if present, then runs `after` under the lock.
    pub(crate) fn remove(&self, hook: HookId, key: &Key, hash: u64, after: impl FnOnce()) -> bool {
        self.remove_where_then(
            |entry| {
                entry.hash == hash && entry.hook as usize == hook.index() && key.same_as(&entry.words, entry.len_bytes)
            },
            after,
        ) > 0
    }

    /// Copies live entries into a fresh table of `capacity` slots, retiring the dead ones
    /// (older generation or expired) and the old slot array.
    fn rebuild(&self, state: &mut WriterState, capacity: usize, now_ticks: u64, live_generation: &impl Fn(u8) -> u32) {
        let old = self.writer_table(state);
        let new = Table::with_capacity(capacity);
        let mut live = 0;
        let mut dead = Vec::new();
        for slot in old.slots.iter() {
            let pointer = slot.load(Ordering::Relaxed);
            if pointer.is_null() || pointer == tombstone() {
                continue;
            }
            // SAFETY: writer lock held (see `insert`).
            #[allow(unsafe_code)]
            let entry = unsafe { &*pointer };
            if entry.generation != live_generation(entry.hook) || entry.expiry_ticks <= now_ticks {
                // Unlinked only once the new table is published: retired after that.
                dead.push(pointer);
                continue;
            }
            let mut index = entry.hash as usize & new.mask;
            while !new.slots[index].load(Ordering::Relaxed).is_null() {
                index = (index + 1) & new.mask;
            }
            new.slots[index].store(pointer, Ordering::Relaxed);
            live += 1;
        }
        let old = self.table.swap(Box::into_raw(new), Ordering::AcqRel);
        // SAFETY: `old` came from `Box::into_raw` and was just unlinked; dropping a `Table`
        // frees only its slot array.
        #[allow(unsafe_code)]
        self.rcu.retire(unsafe { Box::from_raw(old) });
        for pointer in dead {
            // SAFETY: the entry was in the old table only, which is now unlinked.
            #[allow(unsafe_code)]
            self.retire_entry(unsafe { Box::from_raw(pointer) });
        }
        state.live = live;
        state.tombstones = 0;
        self.counters.resizes.fetch_add(1, Ordering::Relaxed);
    }

    fn retire_entry(&self, entry: Box<Entry>) {
        self.rcu.retire(entry);
    }

    /// The (value, expiry, generation) of (`hook`, `key`), read under the writer lock (for
    /// callers without a CPU, e.g. a final check).
    pub(crate) fn get_locked(&self, hook: HookId, key: &Key, hash: u64) -> Option<(u64, u64, u32)> {
        let _irqs = IrqsMasked::<C>::new();
        let mut state = self.writer.lock();
        let table = self.writer_table(&mut state);
        let mut index = hash as usize & table.mask;
        loop {
            let pointer = table.slots[index].load(Ordering::Relaxed);
            if pointer.is_null() {
                return None;
            }
            if pointer != tombstone() {
                // SAFETY: writer lock held (see `insert`).
                #[allow(unsafe_code)]
                let entry = unsafe { &*pointer };
                if entry.hash == hash
                    && entry.hook as usize == hook.index()
                    && key.same_as(&entry.words, entry.len_bytes)
                {
                    return Some((entry.value, entry.expiry_ticks, entry.generation));
                }
            }
            index = (index + 1) & table.mask;
        }
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
        // `&mut self`: no reader or writer remains. Entries retired earlier belong to RCU.
        let pointer = self.table.load(Ordering::Acquire);
        // SAFETY: the current table came from `Box::into_raw` and is owned by `self`; each
        // non-null, non-tombstone slot owns its entry.
        #[allow(unsafe_code)]
        let table = unsafe { Box::from_raw(pointer) };
        for slot in table.slots.iter() {
            let entry = slot.load(Ordering::Relaxed);
            if !entry.is_null() && entry != tombstone() {
                // SAFETY: see above.
                #[allow(unsafe_code)]
                drop(unsafe { Box::from_raw(entry) });
            }
        }
    }
}
