//! Program types (what a program's context is, which helpers it may call, what it may
//! return) and the decoded program the verifier checks against one.

use alloc::vec::Vec;

use crate::helpers::{self, Helper};
use crate::isa::{Insn, RawInsn};
use crate::maps::MapDef;

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

impl ContextKind {
    /// The context bytes a program of this kind may read: what the verifier assumes and what
    /// compiled code, which has no bounds checks, needs the caller's context to hold.
    pub const fn size_bytes(self) -> usize {
        match self {
            ContextKind::None => 0,
            ContextKind::Buffer { len_bytes } => len_bytes as usize,
            ContextKind::Struct { size_bytes, .. } | ContextKind::Packet { size_bytes, .. } => size_bytes as usize,
        }
    }
}

/// A decoded program: its slots, instructions, type and maps. What the interpreter runs,
/// reached through a [`VerifiedProgram`](crate::VerifiedProgram) or an
/// [`UncheckedProgram`](crate::UncheckedProgram), never handed out on its own.
#[derive(Clone, Debug)]
pub struct DecodedProgram {
    pub(crate) raw: Vec<RawInsn>,
    pub(crate) insns: Vec<Insn>,
    pub(crate) prog_type: ProgramType,
    pub(crate) maps: Vec<MapDef>,
}

impl DecodedProgram {
    /// DecodedProgram instructions, one per slot.
    pub fn insns(&self) -> &[Insn] {
        &self.insns
    }
    /// Raw slots.
    pub fn raw(&self) -> &[RawInsn] {
        &self.raw
    }
    /// The program type it was loaded for.
    pub fn program_type(&self) -> &ProgramType {
        &self.prog_type
    }
    /// Map definitions, indexed by the map numbers in `lddw` instructions.
    pub fn maps(&self) -> &[MapDef] {
        &self.maps
    }
}
