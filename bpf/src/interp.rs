//! The interpreter: exact RFC 9669 semantics over pre-decoded slots, with bounds-checked memory,
//! 512-byte frames for bpf-to-bpf calls and an instruction budget as a second line of defence.
//! An opt-in strict mode ([`Interpreter::set_strict`]) checks the verifier's finer promises.

use alloc::boxed::Box;
use core::fmt;

use crate::alu::{self, imm64};
use crate::helpers::{ArgType, HelperEnv, HelperOutcome, RetType};
use crate::isa::{AluOp, EndianOp, JmpCond, Width, PSEUDO_MAP_INDEX};
use crate::maps::Map;
use crate::memory::{self, Memory, StrictLayout, MAX_FRAMES, STACK_BYTES};
#[cfg(doc)]
use crate::program::UncheckedProgram;
use crate::program::{AnyProgram, ContextKind, DecodedProgram, VerifiedProgram};

/// Default instruction budget per run.
pub const DEFAULT_BUDGET_INSNS: u64 = 1 << 24;

/// Services helpers need from the machine.
pub trait Platform {
    fn ktime_get_ns(&mut self) -> u64;
    fn prandom_u32(&mut self) -> u32;
    fn smp_processor_id(&self) -> u32;
}

/// A deterministic platform for tests and the host tool: a counter clock and xorshift randomness.
#[derive(Clone, Debug)]
pub struct FixedPlatform {
    pub now_ns: u64,
    pub cpu: u32,
    pub rng_state: u64,
}

impl Default for FixedPlatform {
    fn default() -> Self {
        FixedPlatform { now_ns: 0, cpu: 0, rng_state: 0x9e37_79b9_7f4a_7c15 }
    }
}

impl Platform for FixedPlatform {
    fn ktime_get_ns(&mut self) -> u64 {
        self.now_ns += 1000;
        self.now_ns
    }
    fn prandom_u32(&mut self) -> u32 {
        xorshift_u32(&mut self.rng_state)
    }
    fn smp_processor_id(&self) -> u32 {
        self.cpu
    }
}

/// One step of Marsaglia's xorshift64 (13, 7, 17) on a non-zero `state`; the high half.
pub fn xorshift_u32(state: &mut u64) -> u32 {
    let mut x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    (x >> 32) as u32
}

/// What a run needs besides the program and its context.
pub struct Env<'a> {
    /// Live maps, in the program's map order.
    pub maps: &'a mut [Map],
    pub platform: &'a mut dyn Platform,
    /// Instructions the run may execute before it is stopped.
    pub budget_insns: u64,
}

/// Why a run stopped abnormally.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunErrorKind {
    OutOfBounds {
        addr: u64,
        size: u8,
    },
    BudgetExhausted,
    CallDepthExceeded,
    UnknownHelper(u32),
    InvalidInstruction,
    MapMismatch,
    HelperFault,
    /// The context is shorter than the program type's (compiled code, which has no bounds
    /// checks, refuses to run rather than read past it).
    ContextTooShort {
        len: u32,
        needed: u32,
    },
}

/// A run-time failure at `pc`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunError {
    pub pc: usize,
    pub kind: RunErrorKind,
}

impl fmt::Display for RunErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            RunErrorKind::OutOfBounds { addr, size } => {
                write!(f, "{size}-byte access at {addr:#x} is outside every region")
            }
            RunErrorKind::BudgetExhausted => f.write_str("instruction budget exhausted"),
            RunErrorKind::CallDepthExceeded => f.write_str("too many nested calls"),
            RunErrorKind::UnknownHelper(id) => write!(f, "unknown helper {id}"),
            RunErrorKind::InvalidInstruction => f.write_str("invalid instruction"),
            RunErrorKind::MapMismatch => f.write_str("maps do not match the program's definitions"),
            RunErrorKind::HelperFault => f.write_str("helper argument fault"),
            RunErrorKind::ContextTooShort { len, needed } => {
                write!(f, "context of {len} bytes is shorter than the program type's {needed}")
            }
        }
    }
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at pc {}", self.kind, self.pc)
    }
}

impl core::error::Error for RunError {}

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
        let needed = crate::jit::context_bytes(prog.prog_type.context);
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
            let calls = prog.insns.iter().any(|insn| matches!(insn, crate::isa::Insn::CallLocal { .. }));
            let used = if calls { STACK_BYTES } else { memory::STACK_FRAME_BYTES };
            self.stack[STACK_BYTES - used..].fill(0);
        }
        let frame_pointer =
            |depth: usize| if STRICT { layout.frame_pointer(depth) } else { memory::frame_pointer(depth) };
        let ctx_base = if STRICT { layout.base(memory::CTX_REGION) } else { memory::region_base(memory::CTX_REGION) };
        let mut regs = [0u64; 16];
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
        let code = &prog.raw[..];
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
            let d = (insn.dst & 15) as usize;
            let s = (insn.src & 15) as usize;
            let imm = imm64(insn.imm);
            let off = insn.off as i64;
            let jump = |pc: usize| (pc as i64 + off) as usize;
            macro_rules! alu64 {
                ($op:expr, $src:expr) => {
                    regs[d] = alu::alu64($op, regs[d], $src)
                };
            }
            macro_rules! alu32 {
                ($op:expr, $src:expr) => {
                    regs[d] = alu::alu32($op, regs[d], $src)
                };
            }
            macro_rules! jmp {
                ($w:expr, $cond:expr, $src:expr) => {
                    if alu::condition($w, $cond, regs[d], $src) {
                        pc = jump(pc);
                    }
                };
            }
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
            macro_rules! load {
                ($size:expr) => {{
                    let addr = regs[s].wrapping_add(off as u64);
                    match mem.load(strict_addr!(addr, $size), $size) {
                        Some(v) => v,
                        None => return Err(err(this_pc, RunErrorKind::OutOfBounds { addr, size: $size as u8 })),
                    }
                }};
            }
            macro_rules! store {
                ($size:expr, $value:expr) => {{
                    let addr = regs[d].wrapping_add(off as u64);
                    if mem.store(strict_addr!(addr, $size), $size, $value).is_none() {
                        return Err(err(this_pc, RunErrorKind::OutOfBounds { addr, size: $size as u8 }));
                    }
                }};
            }
            match insn.opcode {
                // ALU64, immediate source.
                0x07 => alu64!(AluOp::Add, imm),
                0x17 => alu64!(AluOp::Sub, imm),
                0x27 => alu64!(AluOp::Mul, imm),
                0x37 if insn.off == 0 => alu64!(AluOp::Div, imm),
                0x37 => alu64!(AluOp::SDiv, imm),
                0x47 => alu64!(AluOp::Or, imm),
                0x57 => alu64!(AluOp::And, imm),
                0x67 => alu64!(AluOp::Lsh, imm),
                0x77 => alu64!(AluOp::Rsh, imm),
                0x87 => alu64!(AluOp::Neg, 0),
                0x97 if insn.off == 0 => alu64!(AluOp::Mod, imm),
                0x97 => alu64!(AluOp::SMod, imm),
                0xa7 => alu64!(AluOp::Xor, imm),
                0xb7 => regs[d] = imm,
                0xc7 => alu64!(AluOp::Arsh, imm),
                0xd7 => regs[d] = alu::endian(EndianOp::Swap, insn.imm as u8, regs[d]),
                // ALU64, register source.
                0x0f => alu64!(AluOp::Add, regs[s]),
                0x1f => alu64!(AluOp::Sub, regs[s]),
                0x2f => alu64!(AluOp::Mul, regs[s]),
                0x3f if insn.off == 0 => alu64!(AluOp::Div, regs[s]),
                0x3f => alu64!(AluOp::SDiv, regs[s]),
                0x4f => alu64!(AluOp::Or, regs[s]),
                0x5f => alu64!(AluOp::And, regs[s]),
                0x6f => alu64!(AluOp::Lsh, regs[s]),
                0x7f => alu64!(AluOp::Rsh, regs[s]),
                0x9f if insn.off == 0 => alu64!(AluOp::Mod, regs[s]),
                0x9f => alu64!(AluOp::SMod, regs[s]),
                0xaf => alu64!(AluOp::Xor, regs[s]),
                0xbf => match insn.off {
                    0 => regs[d] = regs[s],
                    bits => alu64!(AluOp::MovSx(bits as u8), regs[s]),
                },
                0xcf => alu64!(AluOp::Arsh, regs[s]),
                // ALU32, immediate source.
                0x04 => alu32!(AluOp::Add, imm),
                0x14 => alu32!(AluOp::Sub, imm),
                0x24 => alu32!(AluOp::Mul, imm),
                0x34 if insn.off == 0 => alu32!(AluOp::Div, imm),
                0x34 => alu32!(AluOp::SDiv, imm),
                0x44 => alu32!(AluOp::Or, imm),
                0x54 => alu32!(AluOp::And, imm),
                0x64 => alu32!(AluOp::Lsh, imm),
                0x74 => alu32!(AluOp::Rsh, imm),
                0x84 => alu32!(AluOp::Neg, 0),
                0x94 if insn.off == 0 => alu32!(AluOp::Mod, imm),
                0x94 => alu32!(AluOp::SMod, imm),
                0xa4 => alu32!(AluOp::Xor, imm),
                0xb4 => regs[d] = insn.imm as u32 as u64,
                0xc4 => alu32!(AluOp::Arsh, imm),
                0xd4 => regs[d] = alu::endian(EndianOp::ToLe, insn.imm as u8, regs[d]),
                0xdc => regs[d] = alu::endian(EndianOp::ToBe, insn.imm as u8, regs[d]),
                // ALU32, register source.
                0x0c => alu32!(AluOp::Add, regs[s]),
                0x1c => alu32!(AluOp::Sub, regs[s]),
                0x2c => alu32!(AluOp::Mul, regs[s]),
                0x3c if insn.off == 0 => alu32!(AluOp::Div, regs[s]),
                0x3c => alu32!(AluOp::SDiv, regs[s]),
                0x4c => alu32!(AluOp::Or, regs[s]),
                0x5c => alu32!(AluOp::And, regs[s]),
                0x6c => alu32!(AluOp::Lsh, regs[s]),
                0x7c => alu32!(AluOp::Rsh, regs[s]),
                0x9c if insn.off == 0 => alu32!(AluOp::Mod, regs[s]),
                0x9c => alu32!(AluOp::SMod, regs[s]),
                0xac => alu32!(AluOp::Xor, regs[s]),
                0xbc => match insn.off {
                    0 => regs[d] = regs[s] as u32 as u64,
                    bits => alu32!(AluOp::MovSx(bits as u8), regs[s]),
                },
                0xcc => alu32!(AluOp::Arsh, regs[s]),
                // 64-bit immediate loads.
                0x18 => {
                    let hi = code.get(pc).map_or(0, |next| next.imm as u32 as u64);
                    regs[d] = if insn.src == PSEUDO_MAP_INDEX {
                        memory::map_handle(insn.imm as u32 as usize)
                    } else {
                        (insn.imm as u32 as u64) | (hi << 32)
                    };
                    pc += 1;
                }
                // Loads.
                0x61 => regs[d] = load!(4),
                0x69 => regs[d] = load!(2),
                0x71 => regs[d] = load!(1),
                0x79 => regs[d] = load!(8),
                0x81 => regs[d] = load!(4) as u32 as i32 as i64 as u64,
                0x89 => regs[d] = load!(2) as u16 as i16 as i64 as u64,
                0x91 => regs[d] = load!(1) as u8 as i8 as i64 as u64,
                // Stores.
                0x62 => store!(4, imm),
                0x6a => store!(2, imm),
                0x72 => store!(1, imm),
                0x7a => store!(8, imm),
                0x63 => store!(4, regs[s]),
                0x6b => store!(2, regs[s]),
                0x73 => store!(1, regs[s]),
                0x7b => store!(8, regs[s]),
                0xc3 | 0xdb => {
                    let size = if insn.opcode == 0xdb { 8 } else { 4 };
                    let addr = strict_addr!(regs[d].wrapping_add(off as u64), size);
                    let Some(old) = mem.load(addr, size) else {
                        return Err(err(this_pc, RunErrorKind::OutOfBounds { addr, size: size as u8 }));
                    };
                    let mask = if size == 8 { u64::MAX } else { u32::MAX as u64 };
                    let val = regs[s];
                    let new = match insn.imm & !1 {
                        0x00 => old.wrapping_add(val),
                        0x40 => old | val,
                        0x50 => old & val,
                        0xa0 => old ^ val,
                        0xe0 => val,
                        0xf0 => {
                            if old == regs[0] & mask {
                                val
                            } else {
                                old
                            }
                        }
                        _ => return Err(err(this_pc, RunErrorKind::InvalidInstruction)),
                    };
                    let _ = mem.store(addr, size, new & mask);
                    if insn.imm == 0xf1 {
                        regs[0] = old;
                    } else if insn.imm & 1 != 0 {
                        regs[s] = old;
                    }
                }
                // Jumps.
                0x05 => pc = jump(pc),
                0x06 => pc = (pc as i64 + insn.imm as i64) as usize,
                0x15 => jmp!(Width::W64, JmpCond::Eq, imm),
                0x25 => jmp!(Width::W64, JmpCond::Gt, imm),
                0x35 => jmp!(Width::W64, JmpCond::Ge, imm),
                0x45 => jmp!(Width::W64, JmpCond::Set, imm),
                0x55 => jmp!(Width::W64, JmpCond::Ne, imm),
                0x65 => jmp!(Width::W64, JmpCond::Sgt, imm),
                0x75 => jmp!(Width::W64, JmpCond::Sge, imm),
                0xa5 => jmp!(Width::W64, JmpCond::Lt, imm),
                0xb5 => jmp!(Width::W64, JmpCond::Le, imm),
                0xc5 => jmp!(Width::W64, JmpCond::Slt, imm),
                0xd5 => jmp!(Width::W64, JmpCond::Sle, imm),
                0x1d => jmp!(Width::W64, JmpCond::Eq, regs[s]),
                0x2d => jmp!(Width::W64, JmpCond::Gt, regs[s]),
                0x3d => jmp!(Width::W64, JmpCond::Ge, regs[s]),
                0x4d => jmp!(Width::W64, JmpCond::Set, regs[s]),
                0x5d => jmp!(Width::W64, JmpCond::Ne, regs[s]),
                0x6d => jmp!(Width::W64, JmpCond::Sgt, regs[s]),
                0x7d => jmp!(Width::W64, JmpCond::Sge, regs[s]),
                0xad => jmp!(Width::W64, JmpCond::Lt, regs[s]),
                0xbd => jmp!(Width::W64, JmpCond::Le, regs[s]),
                0xcd => jmp!(Width::W64, JmpCond::Slt, regs[s]),
                0xdd => jmp!(Width::W64, JmpCond::Sle, regs[s]),
                0x16 => jmp!(Width::W32, JmpCond::Eq, imm),
                0x26 => jmp!(Width::W32, JmpCond::Gt, imm),
                0x36 => jmp!(Width::W32, JmpCond::Ge, imm),
                0x46 => jmp!(Width::W32, JmpCond::Set, imm),
                0x56 => jmp!(Width::W32, JmpCond::Ne, imm),
                0x66 => jmp!(Width::W32, JmpCond::Sgt, imm),
                0x76 => jmp!(Width::W32, JmpCond::Sge, imm),
                0xa6 => jmp!(Width::W32, JmpCond::Lt, imm),
                0xb6 => jmp!(Width::W32, JmpCond::Le, imm),
                0xc6 => jmp!(Width::W32, JmpCond::Slt, imm),
                0xd6 => jmp!(Width::W32, JmpCond::Sle, imm),
                0x1e => jmp!(Width::W32, JmpCond::Eq, regs[s]),
                0x2e => jmp!(Width::W32, JmpCond::Gt, regs[s]),
                0x3e => jmp!(Width::W32, JmpCond::Ge, regs[s]),
                0x4e => jmp!(Width::W32, JmpCond::Set, regs[s]),
                0x5e => jmp!(Width::W32, JmpCond::Ne, regs[s]),
                0x6e => jmp!(Width::W32, JmpCond::Sgt, regs[s]),
                0x7e => jmp!(Width::W32, JmpCond::Sge, regs[s]),
                0xae => jmp!(Width::W32, JmpCond::Lt, regs[s]),
                0xbe => jmp!(Width::W32, JmpCond::Le, regs[s]),
                0xce => jmp!(Width::W32, JmpCond::Slt, regs[s]),
                0xde => jmp!(Width::W32, JmpCond::Sle, regs[s]),
                // Calls and exit.
                0x85 if insn.src == 1 => {
                    if depth + 1 >= MAX_FRAMES {
                        return Err(err(this_pc, RunErrorKind::CallDepthExceeded));
                    }
                    frames[depth] = Frame { return_pc: pc, saved: [regs[6], regs[7], regs[8], regs[9], regs[10]] };
                    depth += 1;
                    regs[10] = frame_pointer(depth);
                    pc = (pc as i64 + insn.imm as i64) as usize;
                }
                0x85 | 0x8d => {
                    let id = if insn.opcode == 0x85 { insn.imm as u32 } else { regs[d] as u32 };
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
                0x95 => {
                    if depth == 0 {
                        return Ok(regs[0]);
                    }
                    depth -= 1;
                    let f = frames[depth];
                    regs[6..11].copy_from_slice(&f.saved);
                    pc = f.return_pc;
                }
                _ => return Err(err(this_pc, RunErrorKind::InvalidInstruction)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::program::{Program, ProgramType};
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
