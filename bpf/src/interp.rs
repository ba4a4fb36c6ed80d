//! The interpreter: exact RFC 9669 semantics over pre-decoded slots, with bounds-checked memory,
//! 512-byte frames for bpf-to-bpf calls and an instruction budget as a second line of defence.
//! An opt-in strict mode ([`Interpreter::set_strict`]) checks the verifier's finer promises.

use alloc::boxed::Box;

use crate::alu::{self, imm64};
// A run's environment and errors live in `env`, shared with the helpers and the JIT; they are
// re-exported here where the interpreter's callers have always found them.
pub use crate::env::{xorshift_u32, Env, FixedPlatform, Platform, RunError, RunErrorKind};
use crate::helpers::{ArgType, HelperEnv, HelperOutcome, RetType};
use crate::isa::{AtomicOp, ImmKind, Insn, Operand, Size, REGISTER_COUNT};
use crate::load::AnyProgram;
#[cfg(doc)]
use crate::load::UncheckedProgram;
use crate::memory::{self, Memory, StrictLayout, MAX_FRAMES, STACK_BYTES};
use crate::program::{ContextKind, DecodedProgram};
use crate::verifier::VerifiedProgram;

/// Default instruction budget per run.
pub const DEFAULT_BUDGET_INSNS: u64 = 1 << 24;

#[derive(Clone, Copy, Default)]
struct Frame {
    return_pc: usize,
    saved: [u64; 5],
}

/// Reusable interpreter state (the stack).
pub struct Interpreter {
    stack: Box<[u8; STACK_BYTES]>,
    last_run_insns: u64,
    /// Strict mode's layout, when on.
    strict: Option<StrictLayout>,
    /// Hash of the pcs the last strict run executed.
    last_run_trace: u64,
}

impl Default for Interpreter {
    fn default() -> Self {
        Self::new()
    }
}

impl Interpreter {
    pub fn new() -> Self {
        Interpreter { stack: Box::new([0; STACK_BYTES]), last_run_insns: 0, strict: None, last_run_trace: 0 }
    }

    /// Turns strict mode on with `layout`, or off with `None` (the default). Strict runs fault
    /// (`OutOfBounds`) on any access that leaves one object, including helper arguments; see
    /// [`StrictLayout`]. For fuzzing the verifier: strict runs are slower.
    pub fn set_strict(&mut self, layout: Option<StrictLayout>) {
        self.strict = layout;
    }

    /// Hash of the sequence of pcs the last strict run executed (0 after a normal run), so two
    /// runs that took different paths can be told apart.
    pub fn last_run_trace(&self) -> u64 {
        self.last_run_trace
    }

    /// Instructions executed by the last [`Interpreter::run`] (however it ended).
    pub fn last_run_insns(&self) -> u64 {
        self.last_run_insns
    }

    /// Runs `prog` with `ctx` as its context memory and returns r0.
    pub fn run(&mut self, prog: &VerifiedProgram, ctx: &mut [u8], env: &mut Env<'_>) -> Result<u64, RunError> {
        self.run_with_packet(prog, ctx, &mut [], env)
    }

    /// Runs a program whose context describes a packet. The `data` and `data_end` fields of
    /// `ctx` are filled in here, pointing at `packet`.
    pub fn run_with_packet(
        &mut self,
        prog: &VerifiedProgram,
        ctx: &mut [u8],
        packet: &mut [u8],
        env: &mut Env<'_>,
    ) -> Result<u64, RunError> {
        self.run_any(prog.into(), ctx, packet, env)
    }

    /// Runs either kind of program. One that was never verified (`--no-verify`, raw
    /// conformance runs: an [`UncheckedProgram`]) has its accesses checked as it runs and gets
    /// the whole stack region, zeroed.
    pub fn run_any(
        &mut self,
        prog: AnyProgram<'_>,
        ctx: &mut [u8],
        packet: &mut [u8],
        env: &mut Env<'_>,
    ) -> Result<u64, RunError> {
        let verified = matches!(prog, AnyProgram::Verified(_));
        let prog = prog.decoded();
        if let ContextKind::Packet { data_offset, data_end_offset, .. } = prog.prog_type.context {
            let start = match &self.strict {
                Some(layout) => layout.base(memory::PACKET_REGION),
                None => memory::region_base(memory::PACKET_REGION),
            };
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
        let mut budget = env.budget_insns;
        let mut trace = 0;
        let result = match self.strict {
            // Two copies of the loop: the normal one has no strict code at all.
            None => {
                let layout = StrictLayout::tagged();
                self.execute::<false>(prog, verified, ctx, packet, env, &mut budget, &layout, &mut trace)
            }
            Some(layout) => self.execute_strict(prog, verified, ctx, packet, env, &mut budget, &layout, &mut trace),
        };
        self.last_run_insns = env.budget_insns - budget;
        self.last_run_trace = trace;
        result
    }

    /// A strict run, out of line so that the normal loop is compiled as if strict mode did not
    /// exist.
    #[inline(never)]
    #[allow(clippy::too_many_arguments)] // the run's parts, spelled out
    fn execute_strict(
        &mut self,
        prog: &DecodedProgram,
        verified: bool,
        ctx: &mut [u8],
        packet: &mut [u8],
        env: &mut Env<'_>,
        budget: &mut u64,
        layout: &StrictLayout,
        trace: &mut u64,
    ) -> Result<u64, RunError> {
        layout.fill_stack(&mut self.stack[..]);
        self.execute::<true>(prog, verified, ctx, packet, env, budget, layout, trace)
    }

    /// The interpreter loop; with `STRICT`, addresses are `layout`'s and each access must stay
    /// inside one object, and `trace` hashes the executed pcs.
    #[allow(clippy::too_many_arguments)] // the run's parts, spelled out
    fn execute<const STRICT: bool>(
        &mut self,
        prog: &DecodedProgram,
        verified: bool,
        ctx: &mut [u8],
        packet: &mut [u8],
        env: &mut Env<'_>,
        budget: &mut u64,
        layout: &StrictLayout,
        trace: &mut u64,
    ) -> Result<u64, RunError> {
        let err = |pc: usize, kind| RunError { pc, kind };
        if env.maps.len() != prog.maps.len() || env.maps.iter().zip(&prog.maps).any(|(m, d)| m.def() != d) {
            return Err(err(0, RunErrorKind::MapMismatch));
        }
        // As compiled code does, which must (it has no bounds checks): the same error either way.
        let needed = prog.prog_type.context.size_bytes();
        if verified && ctx.len() < needed {
            return Err(err(0, RunErrorKind::ContextTooShort { len: ctx.len() as u32, needed: needed as u32 }));
        }
        if !verified {
            // Unverified programs may touch the whole stack region.
            self.stack.fill(0);
        } else if !STRICT {
            // Verified programs never read stack bytes they did not write; should the verifier
            // be wrong, they read zeros, never an earlier run's data. Zero the frames they can
            // use: the top one, or all of them with bpf-to-bpf calls (strict runs keep their
            // layout's fill).
            let calls = prog.insns.iter().any(|insn| matches!(insn, Insn::CallLocal { .. }));
            let used = if calls { STACK_BYTES } else { memory::STACK_FRAME_BYTES };
            self.stack[STACK_BYTES - used..].fill(0);
        }
        let frame_pointer =
            |depth: usize| if STRICT { layout.frame_pointer(depth) } else { memory::frame_pointer(depth) };
        let ctx_base = if STRICT { layout.base(memory::CTX_REGION) } else { memory::region_base(memory::CTX_REGION) };
        let mut regs = [0u64; REGISTER_COUNT];
        regs[10] = frame_pointer(0);
        match prog.prog_type.context {
            ContextKind::None => {}
            ContextKind::Buffer { .. } => {
                regs[1] = if ctx.is_empty() { 0 } else { ctx_base };
                regs[2] = ctx.len() as u64;
            }
            ContextKind::Struct { .. } | ContextKind::Packet { .. } => regs[1] = ctx_base,
        }
        let mut mem = Memory { stack: &mut self.stack[..], ctx, packet, maps: env.maps };
        let code = &prog.insns[..];
        let helpers = prog.prog_type.helpers;
        let mut frames = [Frame::default(); MAX_FRAMES];
        let mut depth = 0usize;
        let mut pc = 0usize;
        loop {
            let Some(&insn) = code.get(pc) else {
                return Err(err(pc, RunErrorKind::InvalidInstruction));
            };
            if *budget == 0 {
                return Err(err(pc, RunErrorKind::BudgetExhausted));
            }
            *budget -= 1;
            let this_pc = pc;
            pc += 1;
            if STRICT {
                *trace = (*trace ^ this_pc as u64).wrapping_mul(0x0100_0000_01b3);
            }
            // Registers were checked at decode (`isa::decode`): every index is below 11.
            let value = |operand: Operand, regs: &[u64; REGISTER_COUNT]| match operand {
                Operand::Reg(r) => regs[usize::from(r)],
                Operand::Imm(i) => imm64(i),
            };
            let jump = |pc: usize, off: i64| (pc as i64 + off) as usize;
            // In strict mode an address is first resolved to the tagged one the regions use.
            macro_rules! strict_addr {
                ($addr:expr, $size:expr) => {{
                    let addr = $addr;
                    if STRICT {
                        match layout.resolve(&mem, addr, $size, depth) {
                            Some(tagged) => tagged,
                            None => return Err(err(this_pc, RunErrorKind::OutOfBounds { addr, size: $size as u8 })),
                        }
                    } else {
                        addr
                    }
                }};
            }
            match insn {
                Insn::Alu { width, op, dst, src } => {
                    let d = usize::from(dst);
                    regs[d] = alu::alu(width, op, regs[d], value(src, &regs));
                }
                Insn::Endian { op, bits, dst } => {
                    let d = usize::from(dst);
                    regs[d] = alu::endian(op, bits, regs[d]);
                }
                Insn::LoadImm64 { dst, kind, imm } => {
                    regs[usize::from(dst)] = match kind {
                        ImmKind::Value => imm,
                        ImmKind::MapIndex => memory::map_handle(imm as u32 as usize),
                    };
                    // The second slot is data.
                    pc += 1;
                }
                Insn::Load { size, sign_extend, dst, src, off } => {
                    let bytes = size.bytes() as usize;
                    let addr = regs[usize::from(src)].wrapping_add(off as i64 as u64);
                    let Some(loaded) = mem.load(strict_addr!(addr, bytes), bytes) else {
                        return Err(err(this_pc, RunErrorKind::OutOfBounds { addr, size: bytes as u8 }));
                    };
                    regs[usize::from(dst)] = match (sign_extend, size) {
                        (false, _) | (true, Size::DW) => loaded,
                        (true, Size::W) => loaded as u32 as i32 as i64 as u64,
                        (true, Size::H) => loaded as u16 as i16 as i64 as u64,
                        (true, Size::B) => loaded as u8 as i8 as i64 as u64,
                    };
                }
                Insn::Store { size, dst, off, src } => {
                    let bytes = size.bytes() as usize;
                    let addr = regs[usize::from(dst)].wrapping_add(off as i64 as u64);
                    if mem.store(strict_addr!(addr, bytes), bytes, value(src, &regs)).is_none() {
                        return Err(err(this_pc, RunErrorKind::OutOfBounds { addr, size: bytes as u8 }));
                    }
                }
                Insn::Atomic { size, op, fetch, dst, src, off } => {
                    let bytes = size.bytes() as usize;
                    let addr = strict_addr!(regs[usize::from(dst)].wrapping_add(off as i64 as u64), bytes);
                    let Some(old) = mem.load(addr, bytes) else {
                        return Err(err(this_pc, RunErrorKind::OutOfBounds { addr, size: bytes as u8 }));
                    };
                    let mask = if bytes == 8 { u64::MAX } else { u32::MAX as u64 };
                    let val = regs[usize::from(src)];
                    let new = match op {
                        AtomicOp::Add => old.wrapping_add(val),
                        AtomicOp::Or => old | val,
                        AtomicOp::And => old & val,
                        AtomicOp::Xor => old ^ val,
                        AtomicOp::Xchg => val,
                        AtomicOp::CmpXchg if old == regs[0] & mask => val,
                        AtomicOp::CmpXchg => old,
                    };
                    let _ = mem.store(addr, bytes, new & mask);
                    if op == AtomicOp::CmpXchg {
                        regs[0] = old;
                    } else if fetch {
                        regs[usize::from(src)] = old;
                    }
                }
                Insn::Ja { off } | Insn::JaLong { off } => pc = jump(pc, off as i64),
                Insn::Jcond { width, cond, dst, src, off } => {
                    if alu::condition(width, cond, regs[usize::from(dst)], value(src, &regs)) {
                        pc = jump(pc, off as i64);
                    }
                }
                Insn::CallLocal { off } => {
                    if depth + 1 >= MAX_FRAMES {
                        return Err(err(this_pc, RunErrorKind::CallDepthExceeded));
                    }
                    frames[depth] = Frame { return_pc: pc, saved: [regs[6], regs[7], regs[8], regs[9], regs[10]] };
                    depth += 1;
                    regs[10] = frame_pointer(depth);
                    pc = jump(pc, off as i64);
                }
                Insn::CallHelper { .. } | Insn::CallReg { .. } => {
                    let id = match insn {
                        Insn::CallReg { reg } => regs[usize::from(reg)] as u32,
                        Insn::CallHelper { id } => id,
                        _ => unreachable!("matched above"),
                    };
                    let Some(helper) = helpers.iter().find(|h| h.id == id) else {
                        return Err(err(this_pc, RunErrorKind::UnknownHelper(id)));
                    };
                    let mut args = [regs[1], regs[2], regs[3], regs[4], regs[5]];
                    if STRICT {
                        // Memory arguments must lie inside one object too; helpers see tagged
                        // addresses and return them (map values), so translate both ways.
                        let map = memory::map_index_of_handle(args[0]).and_then(|i| mem.maps.get(i));
                        for (arg, kind) in args.iter_mut().zip(helper.proto.args) {
                            let size = match (kind, map) {
                                (ArgType::MapKey, Some(m)) => m.def().key_size_bytes as usize,
                                (ArgType::MapValue, Some(m)) => m.def().value_size_bytes as usize,
                                _ => continue,
                            };
                            *arg = strict_addr!(*arg, size);
                        }
                    }
                    let mut henv = HelperEnv { mem: &mut mem, platform: &mut *env.platform };
                    match (helper.func)(&mut henv, args) {
                        Ok(HelperOutcome::Return(v))
                            if STRICT && v != 0 && helper.proto.ret == RetType::MapValueOrNull =>
                        {
                            regs[0] = layout.from_tagged(mem.maps, v)
                        }
                        Ok(HelperOutcome::Return(v)) => regs[0] = v,
                        Ok(HelperOutcome::Exit(v)) => return Ok(v),
                        Err(kind) => return Err(err(this_pc, kind)),
                    }
                }
                Insn::Exit => {
                    if depth == 0 {
                        return Ok(regs[0]);
                    }
                    depth -= 1;
                    let f = frames[depth];
                    regs[6..11].copy_from_slice(&f.saved);
                    pc = f.return_pc;
                }
                // Never executed: a jump cannot land here (`isa::decode_program` checks
                // targets) and `lddw` steps over it, but the last slot may fall through to it.
                Insn::LoadImm64Tail => return Err(err(this_pc, RunErrorKind::InvalidInstruction)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::Program;
    use crate::program::ProgramType;
    use crate::{asm, isa};

    fn run_unverified(src: &str, mem: &mut [u8], budget: u64) -> Result<u64, RunError> {
        let bytes = isa::slots_to_bytes(&asm::assemble(src).unwrap());
        let prog = Program::load_unverified(&bytes, &ProgramType::conformance(mem.len() as u32), &[]).unwrap();
        let mut platform = FixedPlatform::default();
        let mut env = Env { maps: &mut [], platform: &mut platform, budget_insns: budget };
        Interpreter::new().run_any((&prog).into(), mem, &mut [], &mut env)
    }

    #[test]
    fn unverified_programs_stay_memory_safe() {
        let oob = run_unverified("ldxdw %r0, [%r1+8]\nexit", &mut [0; 12], 100).unwrap_err();
        assert!(matches!(oob.kind, RunErrorKind::OutOfBounds { size: 8, .. }));
        let wild = run_unverified("mov %r1, 0x1234\nstxdw [%r1+0], %r1\nexit", &mut [], 100).unwrap_err();
        assert!(matches!(wild.kind, RunErrorKind::OutOfBounds { addr: 0x1234, .. }));
        let fp = run_unverified("mov %r10, 0\ncall local +1\nexit\nstdw [%r10-8], 1\nmov %r0, 7\nexit", &mut [], 100);
        assert_eq!(fp, Ok(7));
        let deep = run_unverified("call local -1\nexit", &mut [], 100).unwrap_err();
        assert_eq!(deep.kind, RunErrorKind::CallDepthExceeded);
        let spin = run_unverified("ja -1\nexit", &mut [], 1000).unwrap_err();
        assert_eq!(spin, RunError { pc: 0, kind: RunErrorKind::BudgetExhausted });
    }
}
