//! Program types (context, helpers, return range) and loading: decode, then verify.

use alloc::vec::Vec;

use crate::error::VerifyError;
use crate::helpers::{self, Helper};
use crate::isa::{self, Insn, RawInsn};
use crate::maps::MapDef;
use crate::verifier::{self, VerifyStats};

/// What r1 (and r2) hold when a program starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContextKind {
    /// No context: r1 is 0.
    None,
    /// r1 points to a read-write byte buffer of exactly `len_bytes` (0 when empty, then r1 is 0),
    /// r2 holds the length. The `conformance` type.
    Buffer { len_bytes: u32 },
    /// r1 points to a fixed-size context structure; stores only if `writable`.
    Struct { size_bytes: u32, writable: bool },
    /// r1 points to a read-only structure of `size_bytes` whose 8-byte fields at `data_offset`
    /// and `data_end_offset` hold the start and end of a variable-length packet (input bytes).
    /// Packet bytes are accessible once a comparison against `data_end` proves them in range.
    Packet { size_bytes: u32, data_offset: u32, data_end_offset: u32, writable_packet: bool },
}

/// Describes a kind of program: its context, allowed helpers and return range. The kernel
/// declares one per hook family (`decision`, `tool`, `timer`).
#[derive(Clone, Copy, Debug)]
pub struct ProgramType {
    pub name: &'static str,
    pub context: ContextKind,
    pub helpers: &'static [Helper],
    /// Inclusive signed range r0 must lie in at the final `exit`; `None` allows any scalar.
    pub return_range: Option<(i64, i64)>,
}

impl ProgramType {
    /// The bpf_conformance execution contract for a test memory of `mem_len_bytes`.
    pub fn conformance(mem_len_bytes: u32) -> ProgramType {
        ProgramType {
            name: "conformance",
            context: ContextKind::Buffer { len_bytes: mem_len_bytes },
            helpers: helpers::CONFORMANCE_HELPERS,
            return_range: None,
        }
    }

    /// A read-only context of `size_bytes` with the Linux-numbered map, time, random and CPU helpers.
    pub fn with_struct_context(name: &'static str, size_bytes: u32) -> ProgramType {
        ProgramType {
            name,
            context: ContextKind::Struct { size_bytes, writable: false },
            helpers: helpers::STANDARD_HELPERS,
            return_range: None,
        }
    }

    /// The helper with this id, if the type allows it.
    pub fn helper(&self, id: u32) -> Option<&'static Helper> {
        self.helpers.iter().find(|h| h.id == id)
    }
}

/// A decoded program that passed the verifier (or, for `--no-verify`, was only decoded).
#[derive(Clone, Debug)]
pub struct VerifiedProgram {
    pub(crate) raw: Vec<RawInsn>,
    pub(crate) insns: Vec<Insn>,
    pub(crate) prog_type: ProgramType,
    pub(crate) maps: Vec<MapDef>,
    pub(crate) stats: Option<VerifyStats>,
}

impl VerifiedProgram {
    /// Decoded instructions, one per slot.
    pub fn insns(&self) -> &[Insn] {
        &self.insns
    }
    /// Raw slots.
    pub fn raw(&self) -> &[RawInsn] {
        &self.raw
    }
    /// The program type it was verified for.
    pub fn program_type(&self) -> &ProgramType {
        &self.prog_type
    }
    /// Map definitions, indexed by the map numbers in `lddw` instructions.
    pub fn maps(&self) -> &[MapDef] {
        &self.maps
    }
    /// Verifier statistics; `None` when loaded without verification.
    pub fn stats(&self) -> Option<&VerifyStats> {
        self.stats.as_ref()
    }
}

/// Entry points for loading bytecode.
pub struct Program;

impl Program {
    /// Decodes and verifies a program that uses no maps.
    pub fn load(bytes: &[u8], prog_type: &ProgramType) -> Result<VerifiedProgram, VerifyError> {
        Self::load_with_maps(bytes, prog_type, &[])
    }

    /// Decodes and verifies a program; `lddw rX, map N` refers to `maps[N]`.
    pub fn load_with_maps(
        bytes: &[u8],
        prog_type: &ProgramType,
        maps: &[MapDef],
    ) -> Result<VerifiedProgram, VerifyError> {
        Self::load_slots(isa::slots_from_bytes(bytes)?, prog_type, maps, &verifier::Options::default())
    }

    /// Decodes and verifies slots with explicit verifier options.
    pub fn load_slots(
        slots: Vec<RawInsn>,
        prog_type: &ProgramType,
        maps: &[MapDef],
        options: &verifier::Options,
    ) -> Result<VerifiedProgram, VerifyError> {
        let decoded = isa::decode_program(slots)?;
        let stats = verifier::verify(&decoded.insns, prog_type, maps, options)?;
        Ok(VerifiedProgram {
            raw: decoded.raw,
            insns: decoded.insns,
            prog_type: *prog_type,
            maps: maps.to_vec(),
            stats: Some(stats),
        })
    }

    /// Decodes without verifying. The interpreter's run-time checks still keep memory safe.
    pub fn load_unverified(
        bytes: &[u8],
        prog_type: &ProgramType,
        maps: &[MapDef],
    ) -> Result<VerifiedProgram, VerifyError> {
        let decoded = isa::decode_program(isa::slots_from_bytes(bytes)?)?;
        Ok(VerifiedProgram {
            raw: decoded.raw,
            insns: decoded.insns,
            prog_type: *prog_type,
            maps: maps.to_vec(),
            stats: None,
        })
    }
}
