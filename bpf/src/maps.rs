//! Maps: array, fixed-capacity hash and per-CPU array. All memory is allocated at creation.

use alloc::vec::Vec;
use core::fmt;

/// Map flavours; numbers follow Linux's `bpf_map_type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MapKind {
    Hash = 1,
    Array = 2,
    PerCpuArray = 6,
}

impl MapKind {
    /// The kind for a Linux `bpf_map_type` number, if supported.
    pub fn from_linux(value: u32) -> Option<MapKind> {
        match value {
            1 => Some(MapKind::Hash),
            2 => Some(MapKind::Array),
            6 => Some(MapKind::PerCpuArray),
            _ => None,
        }
    }
}

/// A map's shape, known to the verifier before the program runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MapDef {
    pub kind: MapKind,
    pub key_size_bytes: u32,
    pub value_size_bytes: u32,
    pub max_entries: u32,
}

/// `map_update_elem` flags (Linux `BPF_ANY`, `BPF_NOEXIST`, `BPF_EXIST`).
pub mod update_flags {
    pub const ANY: u64 = 0;
    pub const NOEXIST: u64 = 1;
    pub const EXIST: u64 = 2;
}

/// Why a map operation failed. `errno` gives the Linux-style negative code helpers return.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MapError {
    InvalidDefinition,
    KeySize,
    ValueSize,
    NotFound,
    AlreadyExists,
    Full,
    InvalidFlags,
    DeleteFromArray,
    /// The heap could not hold the map: refused instead of an out-of-memory panic.
    OutOfMemory,
    /// A per-CPU map was asked for a CPU it has no copy for.
    NoSuchCpu,
}

impl MapError {
    /// Negative errno as returned to programs.
    pub const fn errno(self) -> i64 {
        match self {
            MapError::NotFound => -2,         // ENOENT
            MapError::AlreadyExists => -17,   // EEXIST
            MapError::Full => -7,             // E2BIG
            MapError::DeleteFromArray => -22, // EINVAL
            _ => -22,                         // EINVAL
        }
    }
}

impl fmt::Display for MapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MapError::InvalidDefinition => "invalid map definition",
            MapError::KeySize => "key has the wrong size",
            MapError::ValueSize => "value has the wrong size",
            MapError::NotFound => "no such key",
            MapError::AlreadyExists => "key already exists",
            MapError::Full => "map is full",
            MapError::InvalidFlags => "invalid update flags",
            MapError::DeleteFromArray => "array elements cannot be deleted",
            MapError::OutOfMemory => "not enough free memory for the map; make max_entries or the value smaller",
            MapError::NoSuchCpu => "the map has no copy for this CPU",
        })
    }
}

const SLOT_EMPTY: u8 = 0;
const SLOT_USED: u8 = 1;
const SLOT_DELETED: u8 = 2;

/// Largest map value store allowed (bytes), so a definition cannot exhaust the heap.
pub const MAX_MAP_BYTES: u64 = 64 << 20;

/// A live map. Values live in one byte vector so programs can point into it.
#[derive(Clone, Debug)]
pub struct Map {
    def: MapDef,
    cpus: u32,
    values: Vec<u8>,
    keys: Vec<u8>,
    slot_state: Vec<u8>,
    used: u32,
}

fn fnv1a(key: &[u8]) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325u64;
    for &b in key {
        hash ^= b as u64;
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// `len` bytes of `byte`, or [`MapError::OutOfMemory`] when the heap cannot hold them (a map
/// definition comes from outside; up to [`MAX_MAP_BYTES`] must be a refusal, not a panic).
fn filled(len: u64, byte: u8) -> Result<Vec<u8>, MapError> {
    let len = usize::try_from(len).map_err(|_| MapError::OutOfMemory)?;
    let mut bytes = Vec::new();
    bytes.try_reserve_exact(len).map_err(|_| MapError::OutOfMemory)?;
    bytes.resize(len, byte);
    Ok(bytes)
}

impl Map {
    /// Creates a map; `cpus` matters only for per-CPU maps.
    pub fn new(def: MapDef, cpus: u32) -> Result<Map, MapError> {
        let vs = def.value_size_bytes as u64;
        if vs == 0 || def.max_entries == 0 || def.key_size_bytes == 0 {
            return Err(MapError::InvalidDefinition);
        }
        let (slots, copies) = match def.kind {
            MapKind::Array => {
                if def.key_size_bytes != 4 {
                    return Err(MapError::InvalidDefinition);
                }
                (def.max_entries as u64, 1)
            }
            MapKind::PerCpuArray => {
                if def.key_size_bytes != 4 || cpus == 0 {
                    return Err(MapError::InvalidDefinition);
                }
                (def.max_entries as u64, cpus as u64)
            }
            MapKind::Hash => ((def.max_entries as u64).next_power_of_two() * 2, 1),
        };
        let bytes = slots.checked_mul(copies).and_then(|n| n.checked_mul(vs));
        let key_bytes = slots.checked_mul(def.key_size_bytes as u64);
        let (Some(bytes), Some(key_bytes)) = (bytes, key_bytes) else {
            return Err(MapError::InvalidDefinition);
        };
        if bytes > MAX_MAP_BYTES || key_bytes > MAX_MAP_BYTES {
            return Err(MapError::InvalidDefinition);
        }
        let (keys, slot_state) = if def.kind == MapKind::Hash {
            (filled(key_bytes, 0)?, filled(slots, SLOT_EMPTY)?)
        } else {
            (Vec::new(), Vec::new())
        };
        Ok(Map { def, cpus: cpus.max(1), values: filled(bytes, 0)?, keys, slot_state, used: 0 })
    }

    /// The map's definition.
    pub fn def(&self) -> &MapDef {
        &self.def
    }

    /// All value bytes (the region programs point into).
    pub fn value_bytes(&self) -> &[u8] {
        &self.values
    }

    /// All value bytes, writable.
    pub fn value_bytes_mut(&mut self) -> &mut [u8] {
        &mut self.values
    }

    /// Number of live entries (hash) or `max_entries` (arrays).
    pub fn len(&self) -> u32 {
        match self.def.kind {
            MapKind::Hash => self.used,
            _ => self.def.max_entries,
        }
    }

    /// Whether a hash map holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn array_index(&self, key: &[u8]) -> Result<Option<u32>, MapError> {
        let bytes: [u8; 4] = key.try_into().map_err(|_| MapError::KeySize)?;
        let index = u32::from_le_bytes(bytes);
        Ok((index < self.def.max_entries).then_some(index))
    }

    fn find_slot(&self, key: &[u8]) -> (Option<usize>, Option<usize>) {
        let slots = self.slot_state.len();
        let ks = self.def.key_size_bytes as usize;
        let mut slot = (fnv1a(key) as usize) & (slots - 1);
        let mut first_free = None;
        for _ in 0..slots {
            match self.slot_state[slot] {
                SLOT_EMPTY => return (None, first_free.or(Some(slot))),
                SLOT_DELETED => {
                    first_free.get_or_insert(slot);
                }
                _ => {
                    if &self.keys[slot * ks..(slot + 1) * ks] == key {
                        return (Some(slot), first_free);
                    }
                }
            }
            slot = (slot + 1) & (slots - 1);
        }
        (None, first_free)
    }

    /// Byte offset of the value for `key` in [`Map::value_bytes`], as seen from `cpu`.
    pub fn lookup_offset(&self, key: &[u8], cpu: u32) -> Result<Option<usize>, MapError> {
        let vs = self.def.value_size_bytes as usize;
        match self.def.kind {
            MapKind::Array => Ok(self.array_index(key)?.map(|i| i as usize * vs)),
            MapKind::PerCpuArray => {
                if cpu >= self.cpus {
                    return Err(MapError::NoSuchCpu); // never another CPU's copy
                }
                let cpu = cpu as usize;
                let base = cpu * self.def.max_entries as usize * vs;
                Ok(self.array_index(key)?.map(|i| base + i as usize * vs))
            }
            MapKind::Hash => {
                if key.len() != self.def.key_size_bytes as usize {
                    return Err(MapError::KeySize);
                }
                Ok(self.find_slot(key).0.map(|slot| slot * vs))
            }
        }
    }

    /// The value for `key` (CPU 0's copy for per-CPU maps).
    pub fn lookup(&self, key: &[u8]) -> Option<&[u8]> {
        let off = self.lookup_offset(key, 0).ok().flatten()?;
        self.values.get(off..off + self.def.value_size_bytes as usize)
    }

    /// The value for `key` as CPU `cpu` sees it (per-CPU maps keep one copy per CPU).
    pub fn lookup_cpu(&self, key: &[u8], cpu: u32) -> Option<&[u8]> {
        let off = self.lookup_offset(key, cpu).ok().flatten()?;
        self.values.get(off..off + self.def.value_size_bytes as usize)
    }

    /// Calls `f(key, value)` for every live entry (CPU 0's copy for per-CPU maps), in slot order.
    pub fn for_each(&self, mut f: impl FnMut(&[u8], &[u8])) {
        let vs = self.def.value_size_bytes as usize;
        match self.def.kind {
            MapKind::Array | MapKind::PerCpuArray => {
                for index in 0..self.def.max_entries {
                    let off = index as usize * vs;
                    f(&index.to_le_bytes(), &self.values[off..off + vs]);
                }
            }
            MapKind::Hash => {
                let ks = self.def.key_size_bytes as usize;
                for (slot, state) in self.slot_state.iter().enumerate() {
                    if *state == SLOT_USED {
                        f(&self.keys[slot * ks..(slot + 1) * ks], &self.values[slot * vs..(slot + 1) * vs]);
                    }
                }
            }
        }
    }

    /// Inserts or replaces `key`'s value, following Linux's flag semantics.
    pub fn update(&mut self, key: &[u8], value: &[u8], flags: u64, cpu: u32) -> Result<(), MapError> {
        let vs = self.def.value_size_bytes as usize;
        if value.len() != vs {
            return Err(MapError::ValueSize);
        }
        if flags > update_flags::EXIST {
            return Err(MapError::InvalidFlags);
        }
        let off = match self.def.kind {
            MapKind::Array | MapKind::PerCpuArray => {
                if flags == update_flags::NOEXIST {
                    return Err(MapError::AlreadyExists);
                }
                self.lookup_offset(key, cpu)?.ok_or(MapError::Full)?
            }
            MapKind::Hash => {
                if key.len() != self.def.key_size_bytes as usize {
                    return Err(MapError::KeySize);
                }
                let ks = key.len();
                match self.find_slot(key) {
                    (Some(_), _) if flags == update_flags::NOEXIST => return Err(MapError::AlreadyExists),
                    (Some(slot), _) => slot * vs,
                    (None, _) if flags == update_flags::EXIST => return Err(MapError::NotFound),
                    (None, _) if self.used >= self.def.max_entries => return Err(MapError::Full),
                    (None, None) => return Err(MapError::Full),
                    (None, Some(slot)) => {
                        self.slot_state[slot] = SLOT_USED;
                        self.keys[slot * ks..(slot + 1) * ks].copy_from_slice(key);
                        self.used += 1;
                        slot * vs
                    }
                }
            }
        };
        self.values[off..off + vs].copy_from_slice(value);
        Ok(())
    }

    /// Removes `key` (hash maps only).
    pub fn delete(&mut self, key: &[u8]) -> Result<(), MapError> {
        if self.def.kind != MapKind::Hash {
            return Err(MapError::DeleteFromArray);
        }
        if key.len() != self.def.key_size_bytes as usize {
            return Err(MapError::KeySize);
        }
        let slot = self.find_slot(key).0.ok_or(MapError::NotFound)?;
        self.slot_state[slot] = SLOT_DELETED;
        self.used -= 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_insert_delete_reinsert() {
        let def = MapDef { kind: MapKind::Hash, key_size_bytes: 4, value_size_bytes: 8, max_entries: 4 };
        let mut map = Map::new(def, 1).unwrap();
        for k in 0u32..4 {
            map.update(&k.to_le_bytes(), &(k as u64 * 10).to_le_bytes(), 0, 0).unwrap();
        }
        assert_eq!(map.update(&9u32.to_le_bytes(), &[0; 8], 0, 0), Err(MapError::Full));
        assert_eq!(map.lookup(&2u32.to_le_bytes()), Some(&20u64.to_le_bytes()[..]));
        map.delete(&2u32.to_le_bytes()).unwrap();
        assert_eq!(map.lookup(&2u32.to_le_bytes()), None);
        map.update(&9u32.to_le_bytes(), &[1; 8], update_flags::NOEXIST, 0).unwrap();
        assert_eq!(map.len(), 4);
        assert_eq!(map.update(&9u32.to_le_bytes(), &[1; 8], update_flags::NOEXIST, 0), Err(MapError::AlreadyExists));
    }

    #[test]
    fn for_each_visits_live_entries() {
        let def = MapDef { kind: MapKind::Hash, key_size_bytes: 2, value_size_bytes: 1, max_entries: 8 };
        let mut map = Map::new(def, 1).unwrap();
        for k in 0u16..5 {
            map.update(&k.to_le_bytes(), &[k as u8], 0, 0).unwrap();
        }
        map.delete(&3u16.to_le_bytes()).unwrap();
        let mut seen = alloc::vec::Vec::new();
        map.for_each(|k, v| seen.push((u16::from_le_bytes([k[0], k[1]]), v[0])));
        seen.sort();
        assert_eq!(seen, [(0, 0), (1, 1), (2, 2), (4, 4)]);
    }

    #[test]
    fn per_cpu_copies_are_separate() {
        let def = MapDef { kind: MapKind::PerCpuArray, key_size_bytes: 4, value_size_bytes: 8, max_entries: 2 };
        let mut map = Map::new(def, 4).unwrap();
        map.update(&1u32.to_le_bytes(), &[7; 8], 0, 3).unwrap();
        assert_eq!(map.lookup(&1u32.to_le_bytes()), Some(&[0u8; 8][..]));
        let off = map.lookup_offset(&1u32.to_le_bytes(), 3).unwrap().unwrap();
        assert_eq!(&map.value_bytes()[off..off + 8], &[7; 8]);
        // A CPU the map has no copy for is an error, never another CPU's copy (it used to be
        // taken modulo the count: CPU 4 read CPU 0's value).
        assert_eq!(map.lookup_offset(&1u32.to_le_bytes(), 4), Err(MapError::NoSuchCpu));
        assert_eq!(map.update(&1u32.to_le_bytes(), &[9; 8], 0, 7), Err(MapError::NoSuchCpu));
    }

    #[test]
    fn memory_the_heap_cannot_give_is_a_refusal() {
        assert_eq!(filled(u64::MAX, 0), Err(MapError::OutOfMemory));
        assert_eq!(filled(1 << 62, 0), Err(MapError::OutOfMemory));
        assert_eq!(filled(3, SLOT_EMPTY), Ok(alloc::vec![SLOT_EMPTY; 3]));
        assert!(MapError::OutOfMemory.to_string().contains("max_entries"));
    }
}
