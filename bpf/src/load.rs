//! Loading bytecode: decode, then verify. The result's type says which happened: the
//! verifier ([`verifier::accept`]) makes a [`VerifiedProgram`], the one thing the JIT and the
//! kernel accept; [`Program::load_unverified`] makes an [`UncheckedProgram`], which only the
//! interpreter (with its run-time checks) runs.

use alloc::vec::Vec;

use crate::error::VerifyError;
use crate::isa::{self, RawInsn};
use crate::maps::MapDef;
use crate::program::{DecodedProgram, ProgramType};
use crate::verifier::{self, VerifiedProgram, VerifyStats};

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
        let code =
            DecodedProgram { raw: decoded.raw, insns: decoded.insns, prog_type: *prog_type, maps: maps.to_vec() };
        verifier::accept(code, options)
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
