//! [`VerifiedProgram`]: a program the verifier accepted. Its fields are private to this module
//! and [`accept`] is its only maker, so holding one is proof the verifier ran.

use crate::error::VerifyError;
use crate::program::DecodedProgram;

use super::{verify, Options, VerifyStats};

/// A program the verifier accepted. Only the verifier makes one ([`accept`], which
/// [`Program::load`](crate::Program::load) and its kin call): the JIT and the kernel take
/// nothing else, so "runs without run-time checks" and "was verified" are the same fact, held
/// by the type.
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
    pub(crate) fn assume_verified(code: DecodedProgram) -> Self {
        Self { code, stats: VerifyStats::default() }
    }
}

/// Verifies `code` against its program type; on success, the only way to a [`VerifiedProgram`].
pub fn accept(code: DecodedProgram, options: &Options) -> Result<VerifiedProgram, VerifyError> {
    let stats = verify(&code.insns, &code.prog_type, &code.maps, options)?;
    Ok(VerifiedProgram { code, stats })
}
