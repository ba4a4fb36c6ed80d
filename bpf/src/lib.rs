//! Kingly's eBPF runtime: RFC 9669 instruction set, verifier, interpreter, maps and helpers.
//!
//! Every program the kernel runs passes through here: [`isa`] decodes the bytes (rejecting
//! unknown opcodes and non-zero unused fields), [`verifier`] proves the program safe for its
//! [`ProgramType`], and [`Interpreter`] runs it with bounds-checked memory and an instruction
//! budget. The host tool uses the same crate, plus [`asm`]/[`disasm`] and (with `std`) the ELF
//! loader, to give the same verdict before anything is sent to a board.
//!
//! Design rules: no unsafe code; decoders never panic on input; errors are `Copy` enums
//! carrying the pc; simple, exact algorithms before clever ones.
#![cfg_attr(not(any(test, feature = "std")), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod alu;
pub mod asm;
#[cfg(feature = "elf")]
pub mod btf;
pub mod conformance;
pub mod disasm;
#[cfg(feature = "elf")]
pub mod elf;
pub mod env;
pub mod error;
pub mod helpers;
pub mod hooks;
pub mod interp;
pub mod isa;
pub mod jit;
pub mod load;
pub mod maps;
pub mod memory;
pub mod program;
pub mod ptrgen;
pub mod shapes;
pub mod testgen;
pub mod verifier;

pub use env::{Env, FixedPlatform, Platform, RunError, RunErrorKind};
pub use error::{ErrorKind, VerifyError};
pub use helpers::{Helper, HelperProto};
pub use hooks::{Hook, Kind};
pub use interp::Interpreter;
pub use load::{AnyProgram, Program, UncheckedProgram};
pub use maps::{Map, MapDef, MapError, MapKind};
pub use program::{ContextKind, DecodedProgram, ProgramType};
pub use verifier::{Options, VerifiedProgram, VerifyStats};
