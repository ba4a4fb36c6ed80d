//! Native code for verified programs: the A64 translator and the safe half of running it.
//!
//! [`aarch64::compile`] turns a [`crate::VerifiedProgram`] into position-independent A64 words. Running
//! them needs executable memory and a call into it, which only the kernel (on an aarch64
//! machine) can do; everything else a run needs is here, in safe code, so the interpreter and
//! the JIT share one definition of the helper ABI:
//!
//! - [`prepare`] checks the maps, fills a `Packet` context's `data`/`data_end` fields and builds
//!   a [`HelperBridge`]: the program's memory as real addresses, its helpers and its platform.
//! - The generated entry is `extern "C" fn(r1, r2, bridge, r10, trampoline, budget) -> r0`.
//! - Helper calls go to the kernel's `extern "C"` trampoline with
//!   `(bridge, helper id, r1..r5, pc) -> HelperReturn`, which only turns the bridge pointer back
//!   into a reference and calls [`HelperBridge::call`]. That translates pointer arguments from
//!   real addresses to the interpreter's tagged ones and `map_lookup_elem`'s result back, so
//!   helpers run exactly the code the interpreter runs.
//! - [`stack_bytes_used`] says how much of the eBPF stack a run can touch; the kernel zeroes
//!   that much before every run.
//!
//! Native code has no run-time checks, so it does not rely on the verifier alone where a
//! mistake would cost the most. A verifier bug could accept a loop that never ends: programs
//! with back-edges or calls carry a budget counter (`budget` = `Env::budget_insns`, see
//! [`aarch64`]) that stops them with `BudgetExhausted` like the interpreter, never earlier
//! than the interpreter would (it counts back-edges and calls, not instructions). It could also
//! accept a read of a stack byte the program never wrote: every stack byte the program can
//! reach ([`stack_bytes_used`]) is cleared before each run, so such a read sees zero, never
//! another agent's data.

pub mod aarch64;

use alloc::vec::Vec;
use core::fmt;

use crate::env::{Env, Platform, RunError, RunErrorKind};
use crate::helpers::{ArgType, Helper, HelperEnv, HelperOutcome, RetType};
use crate::isa::{Insn, Operand};
use crate::maps::{Map, MapDef};
use crate::memory::{
    self, Memory, CTX_REGION, MAP_REGION_FIRST, MAX_FRAMES, PACKET_REGION, STACK_BYTES, STACK_FRAME_BYTES, STACK_REGION,
};
use crate::program::{ContextKind, ProgramType};

/// Why a program could not be compiled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JitError {
    /// The code would exceed [`aarch64::MAX_CODE_BYTES`].
    TooLarge,
    /// A jump or call target outside the program (the decoder prevents this).
    BadJumpTarget { pc: usize },
    /// No executable memory left (kernel side).
    OutOfExecutableMemory,
    /// Executable memory cannot be mapped on this machine (kernel side).
    Unsupported,
}

impl fmt::Display for JitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JitError::TooLarge => f.write_str("native code would exceed 1 MiB; use the interpreter"),
            JitError::BadJumpTarget { pc } => write!(f, "jump target {pc} is outside the program"),
            JitError::OutOfExecutableMemory => f.write_str("no executable memory left for JIT code"),
            JitError::Unsupported => f.write_str("JIT code runs only on aarch64 (in the kernel)"),
        }
    }
}

impl core::error::Error for JitError {}

/// The helper id JIT code passes to the trampoline when a budget guard finds no budget left:
/// above every `u32` helper id (native code zero-extends a `callx` id from 32 bits).
pub const BUDGET_EXHAUSTED_ID: u64 = 1 << 32;

/// Bytes at the top of the eBPF stack a run of `insns` can use.
///
/// A program without bpf-to-bpf calls can reach the stack only through r10, so when r10
/// appears nowhere but as the base of loads, stores and atomics at negative constant offsets,
/// it reaches exactly the deepest such offset (0 for a program that never names r10: the
/// empty program and most decision programs need no stack clearing at all). Any other use of
/// r10 (copied, compared, passed to a helper) could take the pointer anywhere in the frame:
/// the whole 512-byte frame then. With calls, the main program's frame plus one per level of
/// call nesting. Every live frame runs a different function unless the program recurses
/// (which the verifier rejects, and which would run past the stack anyway), so the nesting is
/// at most the number of distinct call targets; counting them needs no trust in the function
/// boundaries the verifier derived.
pub fn stack_bytes_used(insns: &[Insn]) -> usize {
    if !insns.iter().any(|insn| matches!(insn, Insn::CallLocal { .. })) {
        return frame_bytes_reached(insns).unwrap_or(STACK_FRAME_BYTES);
    }
    let mut targets: Vec<i64> = insns
        .iter()
        .enumerate()
        .filter_map(|(pc, insn)| match *insn {
            Insn::CallLocal { off } => Some(pc as i64 + 1 + off as i64),
            _ => None,
        })
        .collect();
    targets.sort_unstable();
    targets.dedup();
    (1 + targets.len()).min(MAX_FRAMES) * STACK_FRAME_BYTES
}

/// How far below r10 the accesses of `insns` (one function) reach, or `None` when r10 is used
/// other than as the base of a load, store or atomic at a negative constant offset.
fn frame_bytes_reached(insns: &[Insn]) -> Option<usize> {
    const R10: u8 = 10;
    let mut deepest = 0;
    for insn in insns {
        let base_offset = match *insn {
            Insn::Load { dst, src: R10, off, .. } if dst != R10 => off,
            Insn::Store { dst: R10, off, src, .. } if src != Operand::Reg(R10) => off,
            Insn::Atomic { dst: R10, src, off, .. } if src != R10 => off,
            _ if registers_named(insn) & 1 << R10 != 0 => return None,
            _ => continue,
        };
        if base_offset >= 0 {
            return None;
        }
        deepest = deepest.max(base_offset.unsigned_abs() as usize);
    }
    Some(deepest.min(STACK_FRAME_BYTES))
}

/// The registers `insn` reads or writes in any role: bit `r` for register `r`.
pub(crate) fn registers_named(insn: &Insn) -> u16 {
    let bit = |r: u8| 1u16 << (r & 15);
    let operand = |src: Operand| match src {
        Operand::Reg(r) => bit(r),
        Operand::Imm(_) => 0,
    };
    match *insn {
        Insn::Alu { dst, src, .. } | Insn::Jcond { dst, src, .. } | Insn::Store { dst, src, .. } => {
            bit(dst) | operand(src)
        }
        Insn::Endian { dst, .. } | Insn::LoadImm64 { dst, .. } => bit(dst),
        Insn::Load { dst, src, .. } | Insn::Atomic { dst, src, .. } => bit(dst) | bit(src),
        Insn::CallReg { reg } => bit(reg),
        Insn::LoadImm64Tail
        | Insn::Ja { .. }
        | Insn::JaLong { .. }
        | Insn::CallHelper { .. }
        | Insn::CallLocal { .. }
        | Insn::Exit => 0,
    }
}

/// The second result register of the helper trampoline: 0 continues, 1 stops the program.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HelperReturn {
    pub r0: u64,
    pub stop: u64,
}

/// Real address and length of a memory region.
#[derive(Clone, Copy, Debug, Default)]
struct Span {
    base: u64,
    len: u64,
}

impl Span {
    fn of(bytes: &[u8]) -> Span {
        Span { base: bytes.as_ptr() as u64, len: bytes.len() as u64 }
    }
    fn offset_of(&self, addr: u64) -> Option<u64> {
        let off = addr.wrapping_sub(self.base);
        (off < self.len).then_some(off)
    }
}

/// Everything a helper call from native code can reach; one per run.
pub struct HelperBridge<'r> {
    mem: Memory<'r>,
    platform: &'r mut dyn Platform,
    helpers: &'static [Helper],
    /// How the program stopped early (helper exit or error), if it did.
    outcome: Option<Result<u64, RunError>>,
}

impl HelperBridge<'_> {
    fn tagged(&self, addr: u64) -> u64 {
        let regions = [
            (STACK_REGION, Span::of(self.mem.stack)),
            (CTX_REGION, Span::of(self.mem.ctx)),
            (PACKET_REGION, Span::of(self.mem.packet)),
        ];
        for (region, span) in regions {
            if let Some(off) = span.offset_of(addr) {
                return memory::region_base(region) + off;
            }
        }
        for (index, map) in self.mem.maps.iter().enumerate() {
            if let Some(off) = Span::of(map.value_bytes()).offset_of(addr) {
                return memory::region_base(MAP_REGION_FIRST + index as u64) + off;
            }
        }
        addr
    }

    fn real(&self, tagged: u64) -> u64 {
        let region = tagged >> 32;
        let off = tagged & 0xffff_ffff;
        match region {
            r if r >= MAP_REGION_FIRST => self
                .mem
                .maps
                .get((r - MAP_REGION_FIRST) as usize)
                .map_or(tagged, |m| Span::of(m.value_bytes()).base + off),
            _ => tagged,
        }
    }

    /// Runs helper `id` for native code: the same helper functions the interpreter calls, with
    /// pointer arguments and results translated. `pc` is the call's slot, for errors.
    /// [`BUDGET_EXHAUSTED_ID`] is no helper: it stops the run with `BudgetExhausted` at `pc`.
    pub fn call(&mut self, id: u64, args: [u64; 5], pc: usize) -> HelperReturn {
        let stop = |bridge: &mut Self, outcome| {
            bridge.outcome = Some(outcome);
            HelperReturn { r0: 0, stop: 1 }
        };
        if id == BUDGET_EXHAUSTED_ID {
            return stop(self, Err(RunError { pc, kind: RunErrorKind::BudgetExhausted }));
        }
        // Native code passes 32-bit ids otherwise (a `callx` register is zero-extended).
        let id = id as u32;
        let Some(helper) = self.helpers.iter().find(|h| h.id == id) else {
            return stop(self, Err(RunError { pc, kind: RunErrorKind::UnknownHelper(id) }));
        };
        let mut tagged_args = args;
        for (arg, kind) in tagged_args.iter_mut().zip(helper.proto.args) {
            if matches!(kind, ArgType::MapKey | ArgType::MapValue | ArgType::Anything) {
                *arg = self.tagged(*arg);
            }
        }
        let mut env = HelperEnv { mem: &mut self.mem, platform: &mut *self.platform };
        match (helper.func)(&mut env, tagged_args) {
            Ok(HelperOutcome::Return(v)) => {
                let r0 = if helper.proto.ret == RetType::MapValueOrNull && v != 0 { self.real(v) } else { v };
                HelperReturn { r0, stop: 0 }
            }
            Ok(HelperOutcome::Exit(v)) => stop(self, Ok(v)),
            Err(kind) => stop(self, Err(RunError { pc, kind })),
        }
    }

    /// The register values native code starts with: `(r1, r2, r10)`; r10 is the end of the
    /// stack given to [`prepare`].
    #[inline]
    pub fn entry_registers(&mut self, context: ContextKind) -> (u64, u64, u64) {
        entry_registers(context, self.mem.ctx, self.mem.stack)
    }

    /// The final result once native code returned `r0`.
    #[inline]
    pub fn finish(self, r0: u64) -> Result<u64, RunError> {
        self.outcome.unwrap_or(Ok(r0))
    }
}

/// Fixed-size eBPF stack for one run (all frames), kept by the caller so it lives on its stack.
pub type Stack = [u8; STACK_BYTES];

/// Checks the environment and builds the bridge for one run of `prog`. Mirrors the checks at
/// the start of [`crate::Interpreter::run_with_packet`], so errors are identical. `stack` is
/// the top of the eBPF stack the program can reach (all [`Stack`] unless
/// [`stack_bytes_used`] says less; empty for a program that never names r10). Inlined: as a
/// call, its result is copied through memory three times per run.
#[inline]
pub fn prepare<'r>(
    prog_type: &ProgramType,
    map_defs: &[MapDef],
    stack: &'r mut [u8],
    ctx: &'r mut [u8],
    packet: &'r mut [u8],
    env: &'r mut Env<'_>,
) -> Result<HelperBridge<'r>, RunError> {
    check(prog_type, map_defs, ctx, packet, env.maps)?;
    Ok(HelperBridge {
        mem: Memory { stack: &mut stack[..], ctx, packet, maps: &mut *env.maps },
        platform: &mut *env.platform,
        helpers: prog_type.helpers,
        outcome: None,
    })
}

/// The checks of [`prepare`] without the bridge (a `Packet` context's `data`/`data_end` fields
/// filled in, the maps compared with the program's), for a leaf (see
/// [`aarch64::is_leaf`]): it calls no helper and cannot stop early, so it never uses a bridge.
#[inline]
pub fn check(
    prog_type: &ProgramType,
    map_defs: &[MapDef],
    ctx: &mut [u8],
    packet: &[u8],
    maps: &[Map],
) -> Result<(), RunError> {
    if let ContextKind::Packet { data_offset, data_end_offset, .. } = prog_type.context {
        let start = packet.as_ptr() as u64;
        for (field, value) in [(data_offset, start), (data_end_offset, start + packet.len() as u64)] {
            let field = field as usize;
            match ctx.get_mut(field..field + 8) {
                Some(bytes) => bytes.copy_from_slice(&value.to_le_bytes()),
                None => {
                    let kind = RunErrorKind::OutOfBounds { addr: field as u64, size: 8 };
                    return Err(RunError { pc: 0, kind });
                }
            }
        }
    }
    check_sizes(prog_type.context, map_defs, ctx, maps)?;
    if maps.iter().zip(map_defs).any(|(m, d)| m.def() != d) {
        return Err(RunError { pc: 0, kind: RunErrorKind::MapMismatch });
    }
    Ok(())
}

/// The context bytes native code may touch: the verifier proved every access of a program of
/// this context inside this many bytes of r1, and the code has no run-time check.
pub const fn context_bytes(context: ContextKind) -> usize {
    context.size_bytes()
}

/// The part of [`check`] a program without maps and without a packet needs: the context at
/// least as long as the verifier assumed (native code has no bounds checks: a shorter one
/// would let it read past the caller's slice), and as many maps as the program declared.
#[inline(always)]
pub fn check_sizes(context: ContextKind, map_defs: &[MapDef], ctx: &[u8], maps: &[Map]) -> Result<(), RunError> {
    let needed = context_bytes(context);
    if ctx.len() < needed {
        let kind = RunErrorKind::ContextTooShort { len: ctx.len() as u32, needed: needed as u32 };
        return Err(RunError { pc: 0, kind });
    }
    if maps.len() != map_defs.len() {
        return Err(RunError { pc: 0, kind: RunErrorKind::MapMismatch });
    }
    Ok(())
}

/// The register values native code starts with, `(r1, r2, r10)`, for context `ctx` and the
/// eBPF stack `stack` (r10 is its end).
#[inline]
pub fn entry_registers(context: ContextKind, ctx: &mut [u8], stack: &mut [u8]) -> (u64, u64, u64) {
    let ctx_address = ctx.as_mut_ptr() as u64;
    let r10 = stack.as_mut_ptr() as u64 + stack.len() as u64;
    let (r1, r2) = match context {
        ContextKind::None => (0, 0),
        ContextKind::Buffer { .. } if ctx.is_empty() => (0, 0),
        ContextKind::Buffer { .. } => (ctx_address, ctx.len() as u64),
        ContextKind::Struct { .. } | ContextKind::Packet { .. } => (ctx_address, 0),
    };
    (r1, r2, r10)
}

/// [`entry_registers`]' r1 and r2 as masks decided when the program is compiled, so that a
/// run computes them without a match on the context kind: r1 is the context's address masked
/// with `r1` (`r1_empty` when the context is empty), r2 its length masked with `r2`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EntryMasks {
    r1: u64,
    r1_empty: u64,
    r2: u64,
}

impl EntryMasks {
    /// The masks of programs with context `context`.
    pub const fn new(context: ContextKind) -> Self {
        match context {
            ContextKind::None => Self { r1: 0, r1_empty: 0, r2: 0 },
            ContextKind::Buffer { .. } => Self { r1: u64::MAX, r1_empty: 0, r2: u64::MAX },
            ContextKind::Struct { .. } | ContextKind::Packet { .. } => Self { r1: u64::MAX, r1_empty: u64::MAX, r2: 0 },
        }
    }

    /// `(r1, r2)` for context `ctx`: what [`entry_registers`] gives.
    #[inline(always)]
    pub fn registers(&self, ctx: &mut [u8]) -> (u64, u64) {
        let r1 = if ctx.is_empty() { self.r1_empty } else { self.r1 };
        (ctx.as_mut_ptr() as u64 & r1, ctx.len() as u64 & self.r2)
    }
}

#[cfg(test)]
mod tests;
