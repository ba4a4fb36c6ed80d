//! Host-side loader for `clang -target bpf -O2 -c` objects: program sections, maps (libbpf's
//! BTF-defined maps in `.maps`, read through [`crate::btf`], and legacy `struct bpf_map_def`s in
//! `maps`), R_BPF_64_64 map relocations and R_BPF_64_32 bpf-to-bpf calls into `.text`.
//!
//! # Resources
//! ELF relocation numbers from LLVM `BPFELFObjectWriter` / the kernel's `Documentation/bpf/llvm_reloc.rst`:
//! R_BPF_64_64 = 1 (on `lddw`), R_BPF_64_32 = 10 (on `call`, target `(imm + 1) * 8` bytes into the section).

use std::collections::BTreeMap;
use std::fmt;
use std::string::String;
use std::vec::Vec;

use object::{Object, ObjectSection, ObjectSymbol, RelocationFlags, RelocationTarget, SectionKind, SymbolKind};

use crate::btf::{Btf, BtfError, BtfMap};
use crate::isa::{self, RawInsn, INSN_SIZE_BYTES, PSEUDO_MAP_INDEX};
use crate::maps::{MapDef, MapKind};

const R_BPF_64_64: u32 = 1;
const R_BPF_64_32: u32 = 10;

/// Why an object could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ElfError {
    Parse(String),
    NoPrograms,
    UnsupportedRelocation {
        section: String,
        r_type: u32,
    },
    BadRelocationOffset {
        section: String,
        offset: u64,
    },
    UnknownSymbol {
        section: String,
    },
    BadMapDefinition(String),
    /// A map (legacy or BTF) of a `bpf_map_type` Kingly does not have.
    UnsupportedMapType {
        map: String,
        map_type: u32,
    },
    /// `map_flags` other than 0 (legacy or BTF).
    MapFlags {
        map: String,
        flags: u32,
    },
    /// `pinning` other than 0 (`LIBBPF_PIN_NONE`).
    MapPinning {
        map: String,
        pinning: u32,
    },
    /// An `lddw` of a global variable (`.data`, `.bss`, `.rodata`, …) rather than a map.
    GlobalData {
        section: String,
        symbol: String,
        data_section: String,
    },
    /// Maps in `.maps` but no `.BTF` section to describe them (compiled without `-g`).
    MapsNeedBtf,
    /// A symbol in `.maps` that the `.BTF` `.maps` section does not list.
    MapNotInBtf(String),
    /// `.BTF` could not be read, or a BTF map definition is not usable.
    Btf(BtfError),
    CallTargetOutsideText {
        section: String,
    },
    Truncated(String),
}

impl fmt::Display for ElfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ElfError::Parse(e) => write!(f, "not a BPF ELF object: {e}"),
            ElfError::NoPrograms => f.write_str("no program sections"),
            ElfError::UnsupportedRelocation { section, r_type } => {
                write!(f, "unsupported relocation type {r_type} in {section}")
            }
            ElfError::BadRelocationOffset { section, offset } => {
                write!(f, "relocation at {offset:#x} in {section} does not hit a matching instruction")
            }
            ElfError::UnknownSymbol { section } => {
                write!(f, "relocation in {section} names an unknown symbol")
            }
            ElfError::BadMapDefinition(name) => write!(f, "map {name} has an invalid definition"),
            ElfError::UnsupportedMapType { map, map_type } => {
                let linux = linux_map_type_name(*map_type).map(|n| format!(" ({n})")).unwrap_or_default();
                write!(
                    f,
                    "map {map}: map type {map_type}{linux} is not supported; Kingly has hash (1), array (2) and \
                     percpu_array (6)"
                )
            }
            ElfError::MapFlags { map, flags } => write!(
                f,
                "map {map}: map_flags {flags:#x} is not supported: Kingly maps take no flags (every map is \
                 preallocated); use 0 or leave it out"
            ),
            ElfError::MapPinning { map, pinning } => write!(
                f,
                "map {map}: pinning {pinning} is not supported: Kingly has no BPF filesystem, a map lives as long \
                 as its agent; use 0 (LIBBPF_PIN_NONE) or leave it out"
            ),
            ElfError::GlobalData { section, symbol, data_section } => write!(
                f,
                "{section} uses global variable {symbol} in {data_section}; Kingly programs keep state only in maps \
                 (SEC(\".maps\") or SEC(\"maps\")), not in .data, .bss or .rodata"
            ),
            ElfError::MapsNeedBtf => f.write_str(
                "maps in SEC(\".maps\") are described by the object's .BTF section, which it lacks: compile with -g \
                 (clang-14 -target bpf -O2 -g -c)",
            ),
            ElfError::MapNotInBtf(name) => write!(f, "map {name} is in .maps but not in .BTF's description of it"),
            ElfError::Btf(e) => write!(f, "{e}"),
            ElfError::CallTargetOutsideText { section } => {
                write!(f, "call in {section} targets a section other than .text")
            }
            ElfError::Truncated(section) => {
                write!(f, "section {section} is not a whole number of instructions")
            }
        }
    }
}

impl std::error::Error for ElfError {}

/// Linux's name for a `bpf_map_type` number (`include/uapi/linux/bpf.h`), for error messages.
fn linux_map_type_name(map_type: u32) -> Option<&'static str> {
    const NAMES: [&str; 34] = [
        "unspec",
        "hash",
        "array",
        "prog_array",
        "perf_event_array",
        "percpu_hash",
        "percpu_array",
        "stack_trace",
        "cgroup_array",
        "lru_hash",
        "lru_percpu_hash",
        "lpm_trie",
        "array_of_maps",
        "hash_of_maps",
        "devmap",
        "sockmap",
        "cpumap",
        "xskmap",
        "sockhash",
        "cgroup_storage",
        "reuseport_sockarray",
        "percpu_cgroup_storage",
        "queue",
        "stack",
        "sk_storage",
        "devmap_hash",
        "struct_ops",
        "ringbuf",
        "inode_storage",
        "task_storage",
        "bloom_filter",
        "user_ringbuf",
        "cgrp_storage",
        "arena",
    ];
    NAMES.get(map_type as usize).copied()
}

/// The Kingly kind for a Linux `bpf_map_type` number.
fn map_kind(name: &str, map_type: u32) -> Result<MapKind, ElfError> {
    MapKind::from_linux(map_type).ok_or_else(|| ElfError::UnsupportedMapType { map: name.to_string(), map_type })
}

/// Kingly maps take no flags.
fn check_map_flags(name: &str, flags: u32) -> Result<(), ElfError> {
    match flags {
        0 => Ok(()),
        flags => Err(ElfError::MapFlags { map: name.to_string(), flags }),
    }
}

/// A map declared in the object's `maps` or `.maps` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElfMap {
    pub name: String,
    pub def: MapDef,
}

/// One program section, linked with the `.text` functions it calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElfProgram {
    pub section: String,
    pub slots: Vec<RawInsn>,
}

/// Everything loadable from one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElfObject {
    pub programs: Vec<ElfProgram>,
    pub maps: Vec<ElfMap>,
}

impl ElfObject {
    /// The program from the section called `name`.
    pub fn program(&self, name: &str) -> Option<&ElfProgram> {
        self.programs.iter().find(|p| p.section == name)
    }

    /// Map definitions in index order (what `lddw rX, map N` refers to).
    pub fn map_defs(&self) -> Vec<MapDef> {
        self.maps.iter().map(|m| m.def).collect()
    }
}

struct Reloc {
    offset: u64,
    r_type: u32,
    symbol: object::SymbolIndex,
}

fn u32_at(data: &[u8], off: usize) -> Option<u32> {
    Some(u32::from_le_bytes(data.get(off..off + 4)?.try_into().ok()?))
}

/// Parses an object.
pub fn load(bytes: &[u8]) -> Result<ElfObject, ElfError> {
    let file = object::File::parse(bytes).map_err(|e| ElfError::Parse(e.to_string()))?;

    // Maps: legacy `bpf_map_def`s in `maps`, then BTF-defined maps in `.maps`, each in address
    // order. A relocation names a map by its symbol, or (for a `static` map) by its section's
    // symbol with the map's offset in the `lddw` immediate.
    let mut maps = Vec::new();
    let mut map_index_by_symbol = BTreeMap::new();
    let mut map_index_by_place = BTreeMap::new();
    let map_symbols = |section: &object::Section| {
        let mut symbols: Vec<_> = file
            .symbols()
            .filter(|s| s.section_index() == Some(section.index()) && s.kind() != SymbolKind::Section)
            .collect();
        symbols.sort_by_key(|s| s.address());
        symbols
    };
    if let Some(section) = file.section_by_name("maps") {
        let data = section.data().map_err(|e| ElfError::Parse(e.to_string()))?;
        for sym in map_symbols(&section) {
            let name = sym.name().unwrap_or("?").to_string();
            let off = usize::try_from(sym.address()).unwrap_or(usize::MAX);
            let field = |i: usize| {
                off.checked_add(4 * i)
                    .and_then(|at| u32_at(data, at))
                    .ok_or_else(|| ElfError::BadMapDefinition(name.clone()))
            };
            let kind = map_kind(&name, field(0)?)?;
            // `map_flags`, the fifth field, when the definition has one.
            if sym.size() >= 20 {
                check_map_flags(&name, field(4)?)?;
            }
            let def = MapDef { kind, key_size_bytes: field(1)?, value_size_bytes: field(2)?, max_entries: field(3)? };
            map_index_by_symbol.insert(sym.index().0, maps.len() as u32);
            map_index_by_place.insert((section.index().0, sym.address()), maps.len() as u32);
            maps.push(ElfMap { name, def });
        }
    }
    if let Some(section) = file.section_by_name(".maps") {
        let symbols = map_symbols(&section);
        if !symbols.is_empty() {
            let btf_section = file.section_by_name(".BTF").ok_or(ElfError::MapsNeedBtf)?;
            let btf_bytes = btf_section.data().map_err(|e| ElfError::Parse(e.to_string()))?;
            let described = Btf::parse(btf_bytes).and_then(|btf| btf.maps()).map_err(ElfError::Btf)?;
            let described: BTreeMap<&str, &BtfMap> = described.iter().map(|m| (m.name.as_str(), m)).collect();
            for sym in symbols {
                let name = sym.name().unwrap_or("?").to_string();
                let btf_map = *described.get(name.as_str()).ok_or_else(|| ElfError::MapNotInBtf(name.clone()))?;
                // The type first: an unsupported map may lack a key or value by design.
                let kind = map_kind(&name, btf_map.map_type)?;
                let (key_size_bytes, value_size_bytes) = btf_map.sizes().map_err(ElfError::Btf)?;
                check_map_flags(&name, btf_map.map_flags)?;
                if btf_map.pinning != 0 {
                    return Err(ElfError::MapPinning { map: name, pinning: btf_map.pinning });
                }
                let def = MapDef { kind, key_size_bytes, value_size_bytes, max_entries: btf_map.max_entries };
                map_index_by_symbol.insert(sym.index().0, maps.len() as u32);
                map_index_by_place.insert((section.index().0, sym.address()), maps.len() as u32);
                maps.push(ElfMap { name, def });
            }
        }
    }

    // Code sections with their relocations.
    let mut code: BTreeMap<usize, (String, Vec<RawInsn>, Vec<Reloc>)> = BTreeMap::new();
    for section in file.sections() {
        if section.kind() != SectionKind::Text || section.size() == 0 {
            continue;
        }
        let name = section.name().unwrap_or("?").to_string();
        let data = section.data().map_err(|e| ElfError::Parse(e.to_string()))?;
        if data.len() % INSN_SIZE_BYTES != 0 {
            return Err(ElfError::Truncated(name));
        }
        let slots = isa::slots_from_bytes(data).map_err(|_| ElfError::Truncated(name.clone()))?;
        let mut relocs = Vec::new();
        for (offset, reloc) in section.relocations() {
            let RelocationFlags::Elf { r_type } = reloc.flags() else {
                return Err(ElfError::UnsupportedRelocation { section: name, r_type: 0 });
            };
            let RelocationTarget::Symbol(symbol) = reloc.target() else {
                return Err(ElfError::UnknownSymbol { section: name });
            };
            relocs.push(Reloc { offset, r_type, symbol });
        }
        code.insert(section.index().0, (name, slots, relocs));
    }
    let text_index = code.iter().find(|(_, (n, _, _))| n == ".text").map(|(i, _)| *i);
    let program_sections: Vec<usize> = {
        let others: Vec<_> = code.keys().copied().filter(|i| Some(*i) != text_index).collect();
        if others.is_empty() {
            text_index.into_iter().collect()
        } else {
            others
        }
    };
    if program_sections.is_empty() {
        return Err(ElfError::NoPrograms);
    }

    // Applies the relocations of `section`'s code placed at slot `base` of the linked program.
    let apply =
        |out: &mut Vec<RawInsn>, section: usize, base: usize, text_base: Option<usize>| -> Result<bool, ElfError> {
            let (name, _, relocs) = &code[&section];
            let mut calls_text = false;
            for r in relocs {
                let slot = base + (r.offset as usize) / INSN_SIZE_BYTES;
                let bad = || ElfError::BadRelocationOffset { section: name.clone(), offset: r.offset };
                if !(r.offset as usize).is_multiple_of(INSN_SIZE_BYTES) || slot >= out.len() {
                    return Err(bad());
                }
                let sym =
                    file.symbol_by_index(r.symbol).map_err(|_| ElfError::UnknownSymbol { section: name.clone() })?;
                match r.r_type {
                    R_BPF_64_64 => {
                        if out[slot].opcode != 0x18 {
                            return Err(bad());
                        }
                        let by_section = || {
                            let section = sym.section_index()?.0;
                            let offset = out[slot].imm as u32 as u64;
                            (sym.kind() == SymbolKind::Section).then(|| map_index_by_place.get(&(section, offset)))?
                        };
                        let Some(&index) = map_index_by_symbol.get(&r.symbol.0).or_else(by_section) else {
                            // Not a map: a global variable in a data section, or nothing known.
                            let data_section = sym.section_index().and_then(|i| file.section_by_index(i).ok());
                            let data_section = data_section.and_then(|s| s.name().ok().map(str::to_string));
                            return Err(match data_section {
                                Some(data_section) if data_section != "maps" && data_section != ".maps" => {
                                    let symbol = match sym.kind() {
                                        SymbolKind::Section => format!("at offset {}", out[slot].imm as u32),
                                        _ => sym.name().unwrap_or("?").to_string(),
                                    };
                                    ElfError::GlobalData { section: name.clone(), symbol, data_section }
                                }
                                _ => ElfError::UnknownSymbol { section: name.clone() },
                            });
                        };
                        out[slot].src = PSEUDO_MAP_INDEX;
                        out[slot].imm = index as i32;
                    }
                    R_BPF_64_32 => {
                        if out[slot].opcode != 0x85 || out[slot].src != 1 {
                            return Err(bad());
                        }
                        let target_section = sym.section_index().map(|i| i.0);
                        let target_base = if target_section == Some(section) {
                            base
                        } else if target_section.is_some() && target_section == text_index {
                            calls_text = true;
                            match text_base {
                                Some(b) => b,
                                None => continue, // first pass: only detect the need for .text
                            }
                        } else {
                            return Err(ElfError::CallTargetOutsideText { section: name.clone() });
                        };
                        let target_byte = sym.address() as i64 + (out[slot].imm as i64 + 1) * INSN_SIZE_BYTES as i64;
                        let target = target_base as i64 + target_byte / INSN_SIZE_BYTES as i64;
                        out[slot].imm = (target - slot as i64 - 1) as i32;
                    }
                    other => return Err(ElfError::UnsupportedRelocation { section: name.clone(), r_type: other }),
                }
            }
            Ok(calls_text)
        };

    let mut programs = Vec::new();
    for section in program_sections {
        let (name, slots, _) = &code[&section];
        let mut out = slots.clone();
        let mut scratch = out.clone();
        let needs_text = apply(&mut scratch, section, 0, None)? && Some(section) != text_index;
        let text_base = if needs_text {
            let base = out.len();
            let text = text_index.map(|t| code[&t].1.clone()).unwrap_or_default();
            out.extend(text);
            Some(base)
        } else {
            None
        };
        apply(&mut out, section, 0, text_base)?;
        if let (Some(t), Some(base)) = (text_index, text_base) {
            apply(&mut out, t, base, Some(base))?;
        }
        programs.push(ElfProgram { section: name.clone(), slots: out });
    }
    Ok(ElfObject { programs, maps })
}
