//! AArch64 at EL1: CPU operations, the MMU, exception entry, PSCI and semihosting.
#![allow(unsafe_code)]

pub mod cpu;
pub mod exceptions;
pub mod jit;
pub mod mmu;
pub mod pmu;
pub mod psci;
pub mod semihosting;
