//! Just enough BTF to read libbpf-style map definitions: the `.BTF` section clang writes with
//! `-g`, decoded far enough to find the `.maps` DATASEC, each map variable's struct, and the
//! numbers and sizes its members encode.
//!
//! libbpf's `bpf_helpers.h` spells `__uint(name, N)` as `int (*name)[N]` (a pointer to an array
//! of N ints: N survives as the array's element count) and `__type(name, T)` as `typeof(T) *name`
//! (the pointee is T, whose size is the key or value size). Only types reach BTF, never values.
//!
//! The section comes from outside, so every read is bounds-checked, sizes use checked
//! arithmetic, and type chains (typedefs, modifiers, arrays) stop after [`MAX_CHAIN`] links, so
//! a cycle is an error rather than a hang. Nothing here panics on any input.
//!
//! # Resources
//! Linux `include/uapi/linux/btf.h` and `Documentation/bpf/btf.rst`: a 24-byte header (magic
//! 0xeB9F, version 1, then type and string section offsets relative to the header's end); each
//! type is 12 bytes (`name_off`, `info` = kind in bits 24..=28 and vlen in bits 0..=15,
//! `size`/`type`) followed by kind-specific data; type ids start at 1, id 0 is `void`.

use std::fmt;
use std::string::{String, ToString};
use std::vec::Vec;

const BTF_MAGIC: u16 = 0xeb9f;
const BTF_VERSION: u8 = 1;
const HEADER_BYTES: usize = 24;
const TYPE_BYTES: usize = 12;

/// Longest typedef/modifier/array chain followed before giving up (libbpf resolves 32 too).
pub const MAX_CHAIN: usize = 32;

const KIND_INT: u32 = 1;
const KIND_PTR: u32 = 2;
const KIND_ARRAY: u32 = 3;
const KIND_STRUCT: u32 = 4;
const KIND_UNION: u32 = 5;
const KIND_ENUM: u32 = 6;
const KIND_FWD: u32 = 7;
const KIND_TYPEDEF: u32 = 8;
const KIND_VOLATILE: u32 = 9;
const KIND_CONST: u32 = 10;
const KIND_RESTRICT: u32 = 11;
const KIND_FUNC: u32 = 12;
const KIND_FUNC_PROTO: u32 = 13;
const KIND_VAR: u32 = 14;
const KIND_DATASEC: u32 = 15;
const KIND_FLOAT: u32 = 16;
const KIND_DECL_TAG: u32 = 17;
const KIND_TYPE_TAG: u32 = 18;
const KIND_ENUM64: u32 = 19;

/// Why `.BTF` or a map definition in it could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BtfError {
    /// The header is short, has the wrong magic or version, or points outside the section.
    Header(&'static str),
    /// A type record runs past the end of the type section.
    TruncatedType { id: u32 },
    /// A kind this decoder does not know (so the records after it cannot be found).
    UnknownKind { id: u32, kind: u32 },
    /// A reference to a type id that does not exist.
    BadTypeId(u32),
    /// A name offset outside the string section, or a name that is not NUL-terminated UTF-8.
    BadString(u32),
    /// A typedef/modifier/array chain longer than [`MAX_CHAIN`] (a cycle, or absurd nesting).
    ChainTooLong { id: u32 },
    /// A type whose size does not fit in 64 bits (an array of arrays, say).
    SizeOverflow { id: u32 },
    /// The object has maps in `.maps` but its BTF has no `.maps` section description.
    NoMapsDatasec,
    /// One map's definition is not one Kingly can use.
    Map { map: String, problem: MapProblem },
}

/// What is wrong with one `SEC(".maps")` definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MapProblem {
    /// The `.maps` entry is not a variable.
    NotAVariable,
    /// The variable's type is not a struct.
    NotAStruct,
    /// A member this loader does not read.
    UnknownMember(String),
    /// The same member twice.
    DuplicateMember(String),
    /// A number member not spelled `__uint(name, N)`.
    NotANumber(&'static str),
    /// A `key`/`value` member not spelled `__type(name, T)`.
    NotAType(&'static str),
    /// `__type(key, T)` with a T that has no size (void, a function, an undefined struct) or size 0.
    Unsized(&'static str),
    /// `key` or `value` larger than 4 GiB.
    TooLarge(&'static str),
    /// Both `key` and `key_size` (or `value` and `value_size`), disagreeing.
    SizeMismatch { member: &'static str, type_bytes: u32, declared_bytes: u32 },
    /// A required member is absent.
    Missing(&'static str),
}

impl fmt::Display for BtfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BtfError::Header(why) => write!(f, ".BTF header: {why}"),
            BtfError::TruncatedType { id } => write!(f, ".BTF type {id} runs past the end of the type section"),
            BtfError::UnknownKind { id, kind } => write!(f, ".BTF type {id} has unknown kind {kind}"),
            BtfError::BadTypeId(id) => write!(f, ".BTF refers to type {id}, which does not exist"),
            BtfError::BadString(off) => {
                write!(f, ".BTF name at string offset {off} is outside the string section or not NUL-terminated UTF-8")
            }
            BtfError::ChainTooLong { id } => {
                write!(f, ".BTF type {id} goes through more than {MAX_CHAIN} typedefs, modifiers or arrays (a cycle?)")
            }
            BtfError::SizeOverflow { id } => write!(f, ".BTF type {id} is larger than 2^64 bytes"),
            BtfError::NoMapsDatasec => f.write_str(".BTF does not describe the .maps section"),
            BtfError::Map { map, problem } => write!(f, "map {map}: {problem}"),
        }
    }
}

impl fmt::Display for MapProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MapProblem::NotAVariable => f.write_str("its .maps entry in .BTF is not a variable"),
            MapProblem::NotAStruct => {
                f.write_str("it is not a struct; declare it as struct { __uint(type, ...); ... } NAME SEC(\".maps\")")
            }
            MapProblem::UnknownMember(name) => write!(
                f,
                "member {name} is not supported; a map reads type, max_entries, key or key_size, value or \
                 value_size, map_flags and pinning"
            ),
            MapProblem::DuplicateMember(name) => write!(f, "member {name} appears twice"),
            MapProblem::NotANumber(name) => write!(f, "member {name} must be written __uint({name}, N)"),
            MapProblem::NotAType(name) => write!(f, "member {name} must be written __type({name}, TYPE)"),
            MapProblem::Unsized(name) => {
                write!(f, "the {name} type has no size (void, a function, an undefined struct or an empty one)")
            }
            MapProblem::TooLarge(name) => write!(f, "the {name} type is larger than 4 GiB"),
            MapProblem::SizeMismatch { member, type_bytes, declared_bytes } => write!(
                f,
                "the {member} type is {type_bytes} bytes but {member}_size says {declared_bytes}; give one of the two"
            ),
            MapProblem::Missing(name) => match *name {
                "key" | "value" => write!(f, "it has no {name}: add __type({name}, TYPE) or __uint({name}_size, N)"),
                _ => write!(f, "it has no {name}: add __uint({name}, N)"),
            },
        }
    }
}

impl std::error::Error for BtfError {}

/// A map definition as written in `.maps`: Linux's numbers, not yet checked against what
/// Kingly supports (the ELF loader does that for legacy and BTF maps alike).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BtfMap {
    /// The map variable's name (the ELF symbol in `.maps`).
    pub name: String,
    /// Linux `bpf_map_type`.
    pub map_type: u32,
    /// `None` when the definition gives neither `key` nor `key_size` (fine for a map type with
    /// no keys, such as a ring buffer; the loader decides once it knows the type).
    pub key_size_bytes: Option<u32>,
    /// As `key_size_bytes`, for `value`/`value_size`.
    pub value_size_bytes: Option<u32>,
    pub max_entries: u32,
    /// `map_flags`, 0 when absent.
    pub map_flags: u32,
    /// `pinning` (libbpf's `LIBBPF_PIN_*`), 0 (`LIBBPF_PIN_NONE`) when absent.
    pub pinning: u32,
    /// The first member this loader does not read (`numa_node`, `values`, …), if any.
    pub unknown_member: Option<String>,
}

impl BtfMap {
    /// The key and value sizes, or what keeps the definition from being used: a member this
    /// loader does not read, or a missing key or value.
    pub fn sizes(&self) -> Result<(u32, u32), BtfError> {
        let fail = |problem| BtfError::Map { map: self.name.clone(), problem };
        if let Some(member) = &self.unknown_member {
            return Err(fail(MapProblem::UnknownMember(member.clone())));
        }
        let key = self.key_size_bytes.ok_or_else(|| fail(MapProblem::Missing("key")))?;
        Ok((key, self.value_size_bytes.ok_or_else(|| fail(MapProblem::Missing("value")))?))
    }
}

/// One decoded type record.
#[derive(Debug, Clone, Copy)]
struct RawType<'a> {
    name_off: u32,
    kind: u32,
    vlen: usize,
    /// `size` for sized kinds, `type` for references.
    size_or_type: u32,
    /// The kind-specific data after the 12-byte record.
    extra: &'a [u8],
}

/// A parsed `.BTF` section: the type and string sections and where each type starts.
#[derive(Debug, Clone)]
pub struct Btf<'a> {
    types: &'a [u8],
    strings: &'a [u8],
    /// Byte offset of type id `i + 1` in `types`.
    starts: Vec<usize>,
}

fn u32_at(data: &[u8], off: usize) -> Option<u32> {
    let end = off.checked_add(4)?;
    Some(u32::from_le_bytes(data.get(off..end)?.try_into().ok()?))
}

/// Bytes of kind-specific data after a type record.
fn extra_bytes(kind: u32, vlen: usize) -> Option<usize> {
    Some(match kind {
        KIND_PTR | KIND_FWD | KIND_TYPEDEF | KIND_VOLATILE | KIND_CONST | KIND_RESTRICT | KIND_FUNC | KIND_FLOAT
        | KIND_TYPE_TAG => 0,
        KIND_INT | KIND_VAR | KIND_DECL_TAG => 4,
        KIND_ARRAY => 12,
        KIND_STRUCT | KIND_UNION | KIND_DATASEC | KIND_ENUM64 => 12 * vlen,
        KIND_ENUM | KIND_FUNC_PROTO => 8 * vlen,
        _ => return None,
    })
}

impl<'a> Btf<'a> {
    /// Checks the header and finds every type record.
    pub fn parse(section: &'a [u8]) -> Result<Btf<'a>, BtfError> {
        let header = section.get(..HEADER_BYTES).ok_or(BtfError::Header("shorter than 24 bytes"))?;
        let magic = u16::from_le_bytes([header[0], header[1]]);
        if magic == BTF_MAGIC.swap_bytes() {
            return Err(BtfError::Header("big-endian BTF (only little-endian bpfel objects load)"));
        }
        if magic != BTF_MAGIC {
            return Err(BtfError::Header("wrong magic (not 0xeB9F)"));
        }
        if header[2] != BTF_VERSION {
            return Err(BtfError::Header("version is not 1"));
        }
        let field = |i: usize| u32_at(header, 4 + 4 * i).map(|v| v as usize).unwrap_or(usize::MAX);
        let (hdr_len, type_off, type_len, str_off, str_len) = (field(0), field(1), field(2), field(3), field(4));
        if hdr_len < HEADER_BYTES || hdr_len > section.len() {
            return Err(BtfError::Header("header length outside the section"));
        }
        let body = &section[hdr_len..];
        let range = |off: usize, len: usize| off.checked_add(len).and_then(|end| body.get(off..end));
        let types = range(type_off, type_len).ok_or(BtfError::Header("type section outside .BTF"))?;
        let strings = range(str_off, str_len).ok_or(BtfError::Header("string section outside .BTF"))?;

        let mut starts = Vec::new();
        let mut at = 0usize;
        while at < types.len() {
            let id = u32::try_from(starts.len() + 1).unwrap_or(u32::MAX);
            let info = u32_at(types, at + 4).ok_or(BtfError::TruncatedType { id })?;
            let (kind, vlen) = ((info >> 24) & 0x1f, (info & 0xffff) as usize);
            let extra = extra_bytes(kind, vlen).ok_or(BtfError::UnknownKind { id, kind })?;
            let next = at.checked_add(TYPE_BYTES + extra).ok_or(BtfError::TruncatedType { id })?;
            if next > types.len() {
                return Err(BtfError::TruncatedType { id });
            }
            starts.push(at);
            at = next;
        }
        Ok(Btf { types, strings, starts })
    }

    /// How many types there are (ids `1..=count`).
    pub fn type_count(&self) -> usize {
        self.starts.len()
    }

    fn raw(&self, id: u32) -> Result<RawType<'a>, BtfError> {
        let index = (id as usize).checked_sub(1).ok_or(BtfError::BadTypeId(id))?;
        let at = *self.starts.get(index).ok_or(BtfError::BadTypeId(id))?;
        let types: &'a [u8] = self.types;
        // `parse` checked that the record and its extra data are inside `types`.
        let word = |i: usize| u32_at(types, at + 4 * i).ok_or(BtfError::TruncatedType { id });
        let info = word(1)?;
        let (kind, vlen) = ((info >> 24) & 0x1f, (info & 0xffff) as usize);
        let extra_len = extra_bytes(kind, vlen).ok_or(BtfError::UnknownKind { id, kind })?;
        let extra = types.get(at + TYPE_BYTES..at + TYPE_BYTES + extra_len).ok_or(BtfError::TruncatedType { id })?;
        Ok(RawType { name_off: word(0)?, kind, vlen, size_or_type: word(2)?, extra })
    }

    /// The NUL-terminated UTF-8 name at `off` in the string section.
    pub fn name(&self, off: u32) -> Result<&'a str, BtfError> {
        let strings: &'a [u8] = self.strings;
        let rest = strings.get(off as usize..).ok_or(BtfError::BadString(off))?;
        let len = rest.iter().position(|&b| b == 0).ok_or(BtfError::BadString(off))?;
        std::str::from_utf8(&rest[..len]).map_err(|_| BtfError::BadString(off))
    }

    /// `id` with typedefs and const/volatile/restrict/type-tag modifiers peeled off; 0 is void.
    fn skip_typedefs(&self, mut id: u32) -> Result<u32, BtfError> {
        for _ in 0..MAX_CHAIN {
            if id == 0 {
                return Ok(0);
            }
            let t = self.raw(id)?;
            match t.kind {
                KIND_TYPEDEF | KIND_VOLATILE | KIND_CONST | KIND_RESTRICT | KIND_TYPE_TAG => id = t.size_or_type,
                _ => return Ok(id),
            }
        }
        Err(BtfError::ChainTooLong { id })
    }

    /// Size in bytes of type `id`, or `None` when it has none (void, functions, forward
    /// declarations, variables, sections).
    pub fn size_of(&self, id: u32) -> Result<Option<u64>, BtfError> {
        let start = id;
        let mut id = id;
        let mut count = 1u64;
        for _ in 0..MAX_CHAIN {
            if id == 0 {
                return Ok(None);
            }
            let t = self.raw(id)?;
            let size = match t.kind {
                KIND_INT | KIND_STRUCT | KIND_UNION | KIND_ENUM | KIND_ENUM64 | KIND_FLOAT => t.size_or_type as u64,
                KIND_PTR => 8,
                KIND_TYPEDEF | KIND_VOLATILE | KIND_CONST | KIND_RESTRICT | KIND_TYPE_TAG => {
                    id = t.size_or_type;
                    continue;
                }
                KIND_ARRAY => {
                    let element = u32_at(t.extra, 0).ok_or(BtfError::TruncatedType { id })?;
                    let nelems = u32_at(t.extra, 8).ok_or(BtfError::TruncatedType { id })?;
                    count = count.checked_mul(nelems as u64).ok_or(BtfError::SizeOverflow { id: start })?;
                    id = element;
                    continue;
                }
                _ => return Ok(None),
            };
            return size.checked_mul(count).map(Some).ok_or(BtfError::SizeOverflow { id: start });
        }
        Err(BtfError::ChainTooLong { id: start })
    }

    /// The `.maps` DATASEC's variables, each with its definition, in the order BTF lists them.
    pub fn maps(&self) -> Result<Vec<BtfMap>, BtfError> {
        let mut datasec = None;
        for id in 1..=u32::try_from(self.starts.len()).unwrap_or(u32::MAX) {
            let t = self.raw(id)?;
            if t.kind == KIND_DATASEC && self.name(t.name_off)? == ".maps" {
                datasec = Some((id, t));
                break;
            }
        }
        let (datasec_id, datasec) = datasec.ok_or(BtfError::NoMapsDatasec)?;
        let mut maps = Vec::new();
        for i in 0..datasec.vlen {
            // btf_var_secinfo: type, offset, size (offsets are relocated in a .o, so names match).
            let var_id = u32_at(datasec.extra, 12 * i).ok_or(BtfError::TruncatedType { id: datasec_id })?;
            let var = self.raw(var_id)?;
            let name = self.name(var.name_off)?.to_string();
            let map = |problem| BtfError::Map { map: name.clone(), problem };
            if var.kind != KIND_VAR {
                return Err(map(MapProblem::NotAVariable));
            }
            maps.push(self.map_definition(&name, var.size_or_type)?);
        }
        Ok(maps)
    }

    /// Reads one map's struct.
    fn map_definition(&self, name: &str, type_id: u32) -> Result<BtfMap, BtfError> {
        let fail = |problem| BtfError::Map { map: name.to_string(), problem };
        let struct_id = self.skip_typedefs(type_id)?;
        let def = if struct_id == 0 { None } else { Some(self.raw(struct_id)?) };
        let def = def.filter(|t| t.kind == KIND_STRUCT).ok_or_else(|| fail(MapProblem::NotAStruct))?;

        const NUMBERS: [&str; 6] = ["type", "max_entries", "key_size", "value_size", "map_flags", "pinning"];
        const TYPES: [&str; 2] = ["key", "value"];
        let mut numbers: [Option<u32>; 6] = [None; 6];
        let mut types: [Option<u32>; 2] = [None; 2];
        let mut unknown_member = None;
        for i in 0..def.vlen {
            // btf_member: name_off, type, offset.
            let name_off = u32_at(def.extra, 12 * i).ok_or(BtfError::TruncatedType { id: struct_id })?;
            let member_type = u32_at(def.extra, 12 * i + 4).ok_or(BtfError::TruncatedType { id: struct_id })?;
            let member = self.name(name_off)?;
            if let Some(n) = NUMBERS.iter().position(|m| *m == member) {
                if numbers[n].is_some() {
                    return Err(fail(MapProblem::DuplicateMember(member.to_string())));
                }
                numbers[n] =
                    Some(self.uint_member(member_type)?.ok_or_else(|| fail(MapProblem::NotANumber(NUMBERS[n])))?);
            } else if let Some(n) = TYPES.iter().position(|m| *m == member) {
                if types[n].is_some() {
                    return Err(fail(MapProblem::DuplicateMember(member.to_string())));
                }
                let pointee = self.type_member(member_type)?.ok_or_else(|| fail(MapProblem::NotAType(TYPES[n])))?;
                let size =
                    self.size_of(pointee)?.filter(|&s| s > 0).ok_or_else(|| fail(MapProblem::Unsized(TYPES[n])))?;
                types[n] = Some(u32::try_from(size).map_err(|_| fail(MapProblem::TooLarge(TYPES[n])))?);
            } else if unknown_member.is_none() {
                // Reported by the loader after the map type, which usually explains it better
                // (`values` belongs to a map-in-map, for instance).
                unknown_member = Some(member.to_string());
            }
        }
        let [map_type, max_entries, key_size, value_size, map_flags, pinning] = numbers;
        let [key, value] = types;
        let sized = |member: &'static str, from_type: Option<u32>, declared: Option<u32>| match (from_type, declared) {
            (Some(t), Some(d)) if t != d => {
                Err(fail(MapProblem::SizeMismatch { member, type_bytes: t, declared_bytes: d }))
            }
            (Some(size), _) | (None, Some(size)) => Ok(Some(size)),
            (None, None) => Ok(None),
        };
        let key_size_bytes = sized("key", key, key_size)?;
        let value_size_bytes = sized("value", value, value_size)?;
        Ok(BtfMap {
            name: name.to_string(),
            map_type: map_type.ok_or_else(|| fail(MapProblem::Missing("type")))?,
            key_size_bytes,
            value_size_bytes,
            max_entries: max_entries.ok_or_else(|| fail(MapProblem::Missing("max_entries")))?,
            map_flags: map_flags.unwrap_or(0),
            pinning: pinning.unwrap_or(0),
            unknown_member,
        })
    }

    /// N from a member of type `int (*)[N]`, or `None` when the member has another shape.
    fn uint_member(&self, member_type: u32) -> Result<Option<u32>, BtfError> {
        let Some(pointee) = self.type_member(member_type)? else { return Ok(None) };
        if pointee == 0 {
            return Ok(None);
        }
        let array = self.raw(pointee)?;
        if array.kind != KIND_ARRAY {
            return Ok(None);
        }
        Ok(Some(u32_at(array.extra, 8).ok_or(BtfError::TruncatedType { id: pointee })?))
    }

    /// T from a member of type `T *`, or `None` when the member is not a pointer.
    fn type_member(&self, member_type: u32) -> Result<Option<u32>, BtfError> {
        let id = self.skip_typedefs(member_type)?;
        if id == 0 {
            return Ok(None);
        }
        let t = self.raw(id)?;
        Ok((t.kind == KIND_PTR).then_some(t.size_or_type))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes BTF by hand, for shapes clang does not produce (cycles, overflowing arrays).
    #[derive(Default)]
    struct Builder {
        types: Vec<u8>,
        strings: Vec<u8>,
        count: u32,
    }

    impl Builder {
        fn new() -> Builder {
            Builder { strings: vec![0], ..Builder::default() }
        }

        fn name(&mut self, name: &str) -> u32 {
            let off = self.strings.len() as u32;
            self.strings.extend_from_slice(name.as_bytes());
            self.strings.push(0);
            off
        }

        /// Adds a type record and its extra words; returns its id.
        fn add(&mut self, name: &str, kind: u32, vlen: u32, size_or_type: u32, extra: &[u32]) -> u32 {
            let name_off = if name.is_empty() { 0 } else { self.name(name) };
            for word in [name_off, (kind << 24) | vlen, size_or_type].iter().chain(extra) {
                self.types.extend_from_slice(&word.to_le_bytes());
            }
            self.count += 1;
            self.count
        }

        fn int(&mut self, size: u32) -> u32 {
            self.add("int", KIND_INT, 0, size, &[size * 8])
        }

        /// `int (*name)[n]`'s type.
        fn uint(&mut self, n: u32) -> u32 {
            let int = self.int(4);
            let array = self.add("", KIND_ARRAY, 0, 0, &[int, int, n]);
            self.add("", KIND_PTR, 0, array, &[])
        }

        /// A `.maps` section with one map `m` whose struct has `members` (name, type id).
        fn map(&mut self, members: &[(&str, u32)]) {
            let mut words = Vec::new();
            for (name, id) in members {
                words.extend([self.name(name), *id, 0]);
            }
            let def = self.add("", KIND_STRUCT, members.len() as u32, 8 * members.len() as u32, &words);
            let var = self.add("m", KIND_VAR, 0, def, &[1]);
            self.add(".maps", KIND_DATASEC, 1, 0, &[var, 0, 0]);
        }

        fn finish(&self) -> Vec<u8> {
            let mut out = Vec::new();
            out.extend_from_slice(&BTF_MAGIC.to_le_bytes());
            out.extend_from_slice(&[BTF_VERSION, 0]);
            let (types, strings) = (self.types.len() as u32, self.strings.len() as u32);
            for word in [HEADER_BYTES as u32, 0, types, types, strings] {
                out.extend_from_slice(&word.to_le_bytes());
            }
            out.extend_from_slice(&self.types);
            out.extend_from_slice(&self.strings);
            out
        }
    }

    #[test]
    fn a_hand_written_map_reads_like_clangs() {
        let mut b = Builder::new();
        let (hash, max, key_size) = (b.uint(1), b.uint(16), b.uint(4));
        let int = b.int(4);
        let key = b.add("", KIND_PTR, 0, int, &[]);
        let pair = b.add("pair", KIND_STRUCT, 0, 16, &[]);
        let constant = b.add("", KIND_CONST, 0, pair, &[]);
        let value = b.add("", KIND_PTR, 0, constant, &[]);
        b.map(&[("type", hash), ("max_entries", max), ("key", key), ("key_size", key_size), ("value", value)]);
        let bytes = b.finish();
        let maps = Btf::parse(&bytes).unwrap().maps().unwrap();
        let expected = BtfMap {
            name: "m".into(),
            map_type: 1,
            key_size_bytes: Some(4),
            value_size_bytes: Some(16),
            max_entries: 16,
            map_flags: 0,
            pinning: 0,
            unknown_member: None,
        };
        assert_eq!(maps, [expected]);
    }

    #[test]
    fn a_typedef_cycle_is_an_error_not_a_hang() {
        let mut b = Builder::new();
        let first = b.add("a", KIND_TYPEDEF, 0, 2, &[]);
        b.add("b", KIND_TYPEDEF, 0, first, &[]);
        let key = b.add("", KIND_PTR, 0, first, &[]);
        let map_type = b.uint(1);
        b.map(&[("type", map_type), ("key", key)]);
        let bytes = b.finish();
        let btf = Btf::parse(&bytes).unwrap();
        assert_eq!(btf.size_of(first), Err(BtfError::ChainTooLong { id: first }));
        assert_eq!(btf.maps(), Err(BtfError::ChainTooLong { id: first }));
        // A struct whose own type is a cycle of modifiers.
        let mut b = Builder::new();
        b.add("", KIND_CONST, 0, 2, &[]);
        b.add("", KIND_VOLATILE, 0, 1, &[]);
        let var = b.add("m", KIND_VAR, 0, 1, &[1]);
        b.add(".maps", KIND_DATASEC, 1, 0, &[var, 0, 0]);
        let bytes = b.finish();
        assert_eq!(Btf::parse(&bytes).unwrap().maps(), Err(BtfError::ChainTooLong { id: 1 }));
    }

    #[test]
    fn chains_up_to_the_limit_resolve() {
        for (links, resolves) in [(MAX_CHAIN - 1, true), (MAX_CHAIN, false)] {
            let mut b = Builder::new();
            let mut id = b.int(8);
            for _ in 0..links {
                id = b.add("", KIND_CONST, 0, id, &[]);
            }
            let bytes = b.finish();
            let size = Btf::parse(&bytes).unwrap().size_of(id);
            assert_eq!(size.is_ok(), resolves, "{links} links: {size:?}");
        }
    }

    #[test]
    fn array_sizes_that_overflow_are_errors() {
        let mut b = Builder::new();
        let int = b.int(4);
        let inner = b.add("", KIND_ARRAY, 0, 0, &[int, int, u32::MAX]);
        let outer = b.add("", KIND_ARRAY, 0, 0, &[inner, int, u32::MAX]);
        let fits = b.add("", KIND_ARRAY, 0, 0, &[int, int, 3]);
        let bytes = b.finish();
        let btf = Btf::parse(&bytes).unwrap();
        assert_eq!(btf.size_of(inner), Ok(Some(4 * u32::MAX as u64)));
        assert_eq!(btf.size_of(outer), Err(BtfError::SizeOverflow { id: outer }));
        assert_eq!(btf.size_of(fits), Ok(Some(12)));
        assert_eq!(btf.size_of(0), Ok(None));
    }

    #[test]
    fn bad_ids_strings_and_kinds_are_errors() {
        let mut b = Builder::new();
        let dangling = b.add("", KIND_PTR, 0, 99, &[]);
        let map_type = b.uint(1);
        b.map(&[("type", map_type), ("key", dangling)]);
        let bytes = b.finish();
        assert_eq!(Btf::parse(&bytes).unwrap().maps(), Err(BtfError::BadTypeId(99)));

        let mut b = Builder::new();
        b.types.extend_from_slice(&[0xff, 0xff, 0, 0]); // name offset 65535
        b.types.extend_from_slice(&((KIND_DATASEC << 24).to_le_bytes()));
        b.types.extend_from_slice(&[0; 4]);
        b.count += 1;
        let bytes = b.finish();
        assert_eq!(Btf::parse(&bytes).unwrap().maps(), Err(BtfError::BadString(0xffff)));

        let mut b = Builder::new();
        b.add("", 25, 0, 0, &[]);
        assert_eq!(Btf::parse(&b.finish()).unwrap_err(), BtfError::UnknownKind { id: 1, kind: 25 });

        let mut b = Builder::new();
        b.add("s", KIND_STRUCT, 3, 0, &[0, 0, 0]); // claims 3 members, has 1
        assert_eq!(Btf::parse(&b.finish()).unwrap_err(), BtfError::TruncatedType { id: 1 });
    }
}
