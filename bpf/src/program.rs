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

/// A decoded program: its slots, instructions, type and maps. What the interpreter runs,
/// reached through a [`VerifiedProgram`] or an [`UncheckedProgram`], never made on its own.
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

/// A program the verifier accepted. Only the verifier makes one ([`Program::load`] and its
/// kin): the JIT and the kernel take nothing else, so "runs without run-time checks" and
/// "was verified" are the same fact, held by the type.
#[derive(Clone, Debug)]
pub struct VerifiedProgram {
    code: DecodedProgram,
    stats: VerifyStats,
}

impl core::ops::Deref for VerifiedProgram {
    type Target = DecodedProgram;
    fn deref(&self) -> &DecodedProgram {
        &self.code
    }
}

impl VerifiedProgram {
    /// What the verifier measured.
    pub fn stats(&self) -> &VerifyStats {
        &self.stats
    }

    /// A program that was never verified, treated as verified: for tests that play a verifier
    /// bug (the defences behind the verifier must hold even then).
    #[cfg(test)]
    pub(crate) fn assume_verified(unchecked: UncheckedProgram) -> Self {
        Self { code: unchecked.code, stats: VerifyStats::default() }
    }
}

/// A program that was only decoded (`--no-verify`, raw conformance runs): the interpreter runs
/// it ([`crate::Interpreter::run_any`]) with its run-time checks, which keep memory safe;
/// the JIT cannot take one.
///
/// ```compile_fail,E0308
/// use kingly_bpf::{Program, ProgramType};
/// let bytes = [0x95, 0, 0, 0, 0, 0, 0, 0];
/// let unchecked = Program::load_unverified(&bytes, &ProgramType::conformance(0), &[]).unwrap();
/// let _ = kingly_bpf::jit::aarch64::compile(&unchecked); // expected `&VerifiedProgram`
/// ```
#[derive(Clone, Debug)]
pub struct UncheckedProgram {
    code: DecodedProgram,
}

impl core::ops::Deref for UncheckedProgram {
    type Target = DecodedProgram;
    fn deref(&self) -> &DecodedProgram {
        &self.code
    }
}

/// Either kind of program, for the tools that run both: `kingly bpf run --no-verify`, the
/// pointer fuzzer's replay of refused programs.
#[derive(Clone, Copy, Debug)]
pub enum AnyProgram<'p> {
    /// Accepted by the verifier.
    Verified(&'p VerifiedProgram),
    /// Only decoded.
    Unchecked(&'p UncheckedProgram),
}

impl<'p> AnyProgram<'p> {
    /// The decoded program.
    pub fn decoded(self) -> &'p DecodedProgram {
        match self {
            Self::Verified(prog) => prog,
            Self::Unchecked(prog) => prog,
        }
    }

    /// What the verifier measured, if it ran.
    pub fn stats(self) -> Option<&'p VerifyStats> {
        match self {
            Self::Verified(prog) => Some(prog.stats()),
            Self::Unchecked(_) => None,
        }
    }
}

impl<'p> From<&'p VerifiedProgram> for AnyProgram<'p> {
    fn from(prog: &'p VerifiedProgram) -> Self {
        Self::Verified(prog)
    }
}

impl<'p> From<&'p UncheckedProgram> for AnyProgram<'p> {
    fn from(prog: &'p UncheckedProgram) -> Self {
        Self::Unchecked(prog)
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
        let code =
            DecodedProgram { raw: decoded.raw, insns: decoded.insns, prog_type: *prog_type, maps: maps.to_vec() };
        Ok(VerifiedProgram { code, stats })
    }

    /// Decodes without verifying. The interpreter's run-time checks still keep memory safe.
    pub fn load_unverified(
        bytes: &[u8],
        prog_type: &ProgramType,
        maps: &[MapDef],
    ) -> Result<UncheckedProgram, VerifyError> {
        let decoded = isa::decode_program(isa::slots_from_bytes(bytes)?)?;
        let code =
            DecodedProgram { raw: decoded.raw, insns: decoded.insns, prog_type: *prog_type, maps: maps.to_vec() };
        Ok(UncheckedProgram { code })
    }
}
