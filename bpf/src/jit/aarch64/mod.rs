//! Translates a verified eBPF program to A64 machine code (ARMv8.0: no LSE atomics).
//!
//! The output is position-independent words; the kernel copies them into executable memory
//! and calls the entry (word 0) with the C ABI described in [`crate::jit`].
//!
//! Register mapping (Linux's arm64 JIT uses the same one):
//!
//! | eBPF | A64 | why |
//! | --- | --- | --- |
//! | r0 | x7 | not an argument register of the helper trampoline's result |
//! | r1–r5 | x0–x4 | helper arguments arrive in argument registers |
//! | r6–r9 | x19–x22 | callee-saved in AAPCS64, so helper calls keep them |
//! | r10 | x25 | callee-saved frame pointer |
//! | — | x9–x12 | scratch (address, immediate, atomic loop) |
//! | — | x26, x27, x28 | helper bridge, trampoline address, sp at entry (for aborts) |
//! | — | x24 | instruction budget left (only in programs with back-edges or calls) |
//!
//! A leaf (no helper call, no local call, no back-edge) can neither call out nor abort, so its
//! entry saves only x29/x30 and the callee-saved registers it names, and zeroes only the
//! registers it names: 8 instructions of entry and exit for the empty program, against 27 for
//! the full entry below, which every other program gets.
//!
//! Every eBPF function (the main program and each `call local` target) is entered with `bl`,
//! so `exit` is a plain `ret`. A local call saves r6–r9, r10 and the link register on the
//! native stack, moves r10 down one 512-byte frame and restores them afterwards, exactly as
//! the interpreter's frame stack does. Division uses UDIV/SDIV, which already give 0 for a
//! zero divisor and wrap `INT_MIN / -1`; modulo is `dst - (dst / src) * src` via MSUB, which
//! leaves the dividend for a zero divisor and gives 0 for `INT_MIN % -1` (RFC 9669 4.1).
//! There are no bounds checks: the verifier proved every access in range.
//!
//! # Termination guard
//!
//! Native code runs with interrupts off, so a loop the verifier wrongly accepted would hang
//! the core. Every program with a backward jump (target slot ≤ its own slot, conditional or
//! not) or a bpf-to-bpf call therefore keeps a counter in x24, loaded at entry with the run's
//! budget (`Env::budget_insns`, the sixth entry argument). Each execution of a backward jump
//! or call first runs `subs x24, x24, #1; b.lo stub`: when the counter was already zero, an
//! out-of-line stub puts the instruction's pc in x7 and calls the helper trampoline with
//! [`BUDGET_EXHAUSTED_ID`](crate::jit::BUDGET_EXHAUSTED_ID), which records
//! `RunErrorKind::BudgetExhausted` at that pc, and the abort path unwinds. Counting back-edges
//! and calls (taken or not) counts a subset of the instructions executed, so the JIT never stops
//! a run the interpreter, with the same budget, would finish; a program made only of `ja -1`
//! stops at the same execution in both. A guard costs two instructions each time it runs and
//! a guarded program three more per run (x24 saved, loaded, restored). Programs with only
//! forward jumps and no calls get no guard code at all: they end after at most one pass over
//! their slots.

pub mod encode;

use alloc::vec::Vec;

use self::encode::{self as a64, Cond, LogicalImm, MemOp, PairMode, Reg, RegOp, LR, SP, XZR};
use super::JitError;
use crate::isa::{AluOp, AtomicOp, EndianOp, ImmKind, Insn, JmpCond, Operand, Size, Width};
use crate::memory::{self, STACK_FRAME_BYTES};
use crate::verifier::VerifiedProgram;

/// A64 register holding each eBPF register r0..=r10.
pub const REGISTER_MAP: [Reg; 11] = [7, 0, 1, 2, 3, 4, 19, 20, 21, 22, 25];

const TMP_ADDR: Reg = 9;
const TMP_IMM: Reg = 10;
const TMP_OLD: Reg = 10;
const TMP_NEW: Reg = 11;
const TMP_STATUS: Reg = 12;
const TMP_ID: Reg = 8;
const BRIDGE: Reg = 26;
const TRAMPOLINE: Reg = 27;
const ENTRY_SP: Reg = 28;
const BUDGET: Reg = 24;
/// Where eBPF r0's register holds the pc while the budget stub calls the trampoline.
const STUB_PC: Reg = 7;

/// Bytes of the native frame the entry pushes: x29, x30, x19–x22, x25–x28.
const ENTRY_FRAME_BYTES: i32 = 80;
/// The same with x24 saved at [`ENTRY_FRAME_BYTES`], for programs with a budget guard.
const GUARDED_FRAME_BYTES: i32 = ENTRY_FRAME_BYTES + 16;
/// Largest code accepted: keeps every `b.cond` (±1 MiB) in range.
pub const MAX_CODE_BYTES: usize = 1 << 20;

/// Compiled code: A64 instruction words, entry at word 0.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Code {
    pub words: Vec<u32>,
    /// Word offset of each eBPF slot's translation (for disassembly listings).
    pub slot_offsets: Vec<u32>,
    /// Word offset of the out-of-line budget stubs after the last slot (`words.len()` when the
    /// program needs no guard).
    pub stubs_offset: u32,
    /// Whether the program is a leaf ([`is_leaf`]): its runs need no helper bridge.
    pub leaf: bool,
}

impl Code {
    /// The code as little-endian bytes, ready to copy into executable memory.
    pub fn bytes(&self) -> Vec<u8> {
        self.words.iter().flat_map(|w| w.to_le_bytes()).collect()
    }
}

fn reg(r: u8) -> Reg {
    REGISTER_MAP[(r as usize).min(10)]
}

#[derive(Clone, Copy)]
enum Fixup {
    /// `b.cond` to an eBPF slot.
    Cond(Cond),
    /// `b` to an eBPF slot.
    Branch,
    /// `bl` to an eBPF slot.
    Call,
    /// `cbz`/`cbnz` to an eBPF slot.
    Zero { wide: bool, nonzero: bool, reg: Reg },
}

struct Emitter {
    out: Vec<u32>,
    fixups: Vec<(usize, usize, Fixup)>,
    abort_at: usize,
    /// Whether the program counts back-edges and calls in [`BUDGET`].
    guarded: bool,
    /// Each guard's `b.lo` placeholder and the pc its stub reports.
    guards: Vec<(usize, usize)>,
    /// A leaf's epilogue, which each of its `exit`s is (empty for other programs: `ret`).
    leaf_exit: Vec<u32>,
}

impl Emitter {
    fn emit(&mut self, word: u32) {
        self.out.push(word);
    }

    fn here(&self) -> usize {
        self.out.len()
    }

    fn mov_imm(&mut self, wide: bool, rd: Reg, value: u64) {
        a64::mov_imm(&mut self.out, wide, rd, value);
    }

    /// Puts an operand's value in a register: the register itself, or the immediate in
    /// `scratch` (sign-extended for 64-bit operations, as RFC 9669 says).
    fn operand(&mut self, wide: bool, src: Operand, scratch: Reg) -> Reg {
        match src {
            Operand::Reg(r) => reg(r),
            Operand::Imm(imm) => {
                self.mov_imm(wide, scratch, imm as i64 as u64);
                scratch
            }
        }
    }

    fn alu(&mut self, width: Width, op: AluOp, dst: u8, src: Operand) {
        let wide = width == Width::W64;
        let d = reg(dst);
        match (op, src) {
            (AluOp::Mov, Operand::Imm(imm)) => return self.mov_imm(wide, d, imm as i64 as u64),
            (AluOp::Mov, Operand::Reg(s)) => return self.emit(a64::mov(wide, d, reg(s))),
            (AluOp::Add | AluOp::Sub, Operand::Imm(imm)) if imm.unsigned_abs() < 4096 => {
                let negate = (op == AluOp::Sub) != (imm < 0);
                let magnitude = imm.unsigned_abs();
                return self.emit(if negate {
                    a64::sub_imm(wide, d, d, magnitude)
                } else {
                    a64::add_imm(wide, d, d, magnitude)
                });
            }
            (AluOp::Neg, _) => return self.emit(a64::reg_op(RegOp::Sub, wide, d, XZR, d)),
            (AluOp::Lsh | AluOp::Rsh | AluOp::Arsh, Operand::Imm(imm)) => {
                // Shifts by a constant are bitfield moves; the count is masked as RFC 9669 says.
                let bits = if wide { 64 } else { 32 };
                let n = imm as u32 & (bits - 1);
                return self.emit(match op {
                    AluOp::Lsh => a64::ubfm(wide, d, d, (bits - n) % bits, bits - 1 - n),
                    AluOp::Rsh => a64::ubfm(wide, d, d, n, bits - 1),
                    _ => a64::sbfm(wide, d, d, n, bits - 1),
                });
            }
            (AluOp::And | AluOp::Or | AluOp::Xor, Operand::Imm(imm)) => {
                if let Some(fields) = a64::bitmask_immediate(imm as i64 as u64, wide) {
                    let logical = match op {
                        AluOp::And => LogicalImm::And,
                        AluOp::Or => LogicalImm::Orr,
                        _ => LogicalImm::Eor,
                    };
                    return self.emit(a64::logical_imm(logical, wide, d, d, fields));
                }
            }
            _ => {}
        }
        let s = self.operand(wide, src, TMP_IMM);
        match op {
            AluOp::Add => self.emit(a64::reg_op(RegOp::Add, wide, d, d, s)),
            AluOp::Sub => self.emit(a64::reg_op(RegOp::Sub, wide, d, d, s)),
            AluOp::Mul => self.emit(a64::mul(wide, d, d, s)),
            AluOp::Div => self.emit(a64::reg_op(RegOp::Udiv, wide, d, d, s)),
            AluOp::SDiv => self.emit(a64::reg_op(RegOp::Sdiv, wide, d, d, s)),
            AluOp::Mod | AluOp::SMod => {
                let div = if op == AluOp::Mod { RegOp::Udiv } else { RegOp::Sdiv };
                self.emit(a64::reg_op(div, wide, TMP_ADDR, d, s));
                self.emit(a64::msub(wide, d, TMP_ADDR, s, d));
            }
            AluOp::Or => self.emit(a64::reg_op(RegOp::Orr, wide, d, d, s)),
            AluOp::And => self.emit(a64::reg_op(RegOp::And, wide, d, d, s)),
            AluOp::Xor => self.emit(a64::reg_op(RegOp::Eor, wide, d, d, s)),
            // LSLV/LSRV/ASRV take the count modulo the register width: RFC 9669's masking.
            AluOp::Lsh => self.emit(a64::reg_op(RegOp::Lslv, wide, d, d, s)),
            AluOp::Rsh => self.emit(a64::reg_op(RegOp::Lsrv, wide, d, d, s)),
            AluOp::Arsh => self.emit(a64::reg_op(RegOp::Asrv, wide, d, d, s)),
            AluOp::MovSx(bits) => self.emit(a64::sbfm(wide, d, s, 0, u32::from(bits) - 1)),
            AluOp::Neg | AluOp::Mov => {}
        }
    }

    fn endian(&mut self, op: EndianOp, bits: u8, dst: u8) {
        let d = reg(dst);
        match (op, bits) {
            (EndianOp::ToLe, 16) => self.emit(a64::ubfm(false, d, d, 0, 15)),
            (EndianOp::ToLe, 32) => self.emit(a64::mov(false, d, d)),
            (EndianOp::ToLe, _) => {}
            (_, 16) => {
                self.emit(a64::rev16_w(d, d));
                self.emit(a64::ubfm(false, d, d, 0, 15));
            }
            (_, 32) => self.emit(a64::rev(false, d, d)),
            (_, _) => self.emit(a64::rev(true, d, d)),
        }
    }

    /// A load or store of `rt` at `[rn + off]`, in the shortest form that reaches `off`.
    fn access(&mut self, op: MemOp, size: Size, rt: Reg, rn: Reg, off: i16) {
        let log2 = match size {
            Size::B => 0,
            Size::H => 1,
            Size::W => 2,
            Size::DW => 3,
        };
        let off = i32::from(off);
        if (-256..256).contains(&off) {
            self.emit(a64::mem_unscaled(op, log2, rt, rn, off));
        } else if off > 0 && off % (1 << log2) == 0 && (off >> log2) < 4096 {
            self.emit(a64::mem_scaled(op, log2, rt, rn, (off >> log2) as u32));
        } else {
            self.mov_imm(true, TMP_ADDR, off as i64 as u64);
            self.emit(a64::mem_reg(op, log2, rt, rn, TMP_ADDR));
        }
    }

    /// `TMP_ADDR = rn + off`.
    fn address(&mut self, rn: Reg, off: i16) -> Reg {
        let off = i32::from(off);
        if off == 0 {
            return rn;
        }
        if off > 0 && off < 4096 {
            self.emit(a64::add_imm(true, TMP_ADDR, rn, off as u32));
        } else if off < 0 && off > -4096 {
            self.emit(a64::sub_imm(true, TMP_ADDR, rn, off.unsigned_abs()));
        } else {
            self.mov_imm(true, TMP_ADDR, off as i64 as u64);
            self.emit(a64::reg_op(RegOp::Add, true, TMP_ADDR, rn, TMP_ADDR));
        }
        TMP_ADDR
    }

    /// An LDXR/STXR retry loop (the Cortex-A72 has no LSE atomics). Fetching forms are fully
    /// ordered (STLXR + DMB ISH), as in Linux's arm64 JIT; the others are relaxed.
    ///
    /// The verifier does not require atomics to be aligned (nor can it: a context buffer may
    /// start anywhere), but exclusives fault on a misaligned address. A misaligned address
    /// takes a plain load/modify/store path instead, with the interpreter's result; such an
    /// access cannot be single-copy atomic on any Arm core anyway.
    fn atomic(&mut self, size: Size, op: AtomicOp, fetch: bool, dst: u8, src: u8, off: i16) {
        let wide = size == Size::DW;
        let align_bits = if wide { 3 } else { 2 };
        let addr = self.address(reg(dst), off);
        // x12 = addr << (64 - align_bits): non-zero when misaligned.
        self.emit(a64::ubfm(true, TMP_STATUS, addr, align_bits, align_bits - 1));
        let to_slow = self.here();
        self.emit(a64::NOP);
        self.atomic_body(wide, op, fetch, src, addr, true);
        let to_done = self.here();
        self.emit(a64::NOP);
        let slow = self.here();
        self.out[to_slow] = a64::cbz(true, true, TMP_STATUS, (slow - to_slow) as i32);
        self.atomic_body(wide, op, fetch, src, addr, false);
        let done = self.here();
        self.out[to_done] = a64::b((done - to_done) as i32);
    }

    fn atomic_body(&mut self, wide: bool, op: AtomicOp, fetch: bool, src: u8, addr: Reg, exclusive: bool) {
        let s = reg(src);
        let r0 = reg(0);
        let size_log2 = if wide { 3 } else { 2 };
        let ordered = fetch || matches!(op, AtomicOp::Xchg | AtomicOp::CmpXchg);
        let retry = self.here();
        self.emit(if exclusive {
            a64::ldxr(wide, TMP_OLD, addr)
        } else {
            a64::mem_unscaled(MemOp::Load, size_log2, TMP_OLD, addr, 0)
        });
        let back = |e: &Emitter| retry as i32 - e.here() as i32;
        if op == AtomicOp::CmpXchg {
            self.emit(a64::reg_op(RegOp::Subs, wide, XZR, TMP_OLD, r0));
            if exclusive {
                // Skip the store and retry branch when the values differ.
                self.emit(a64::b_cond(Cond::Ne, 3));
                self.emit(a64::stxr(wide, true, TMP_STATUS, s, addr));
                let words = back(self);
                self.emit(a64::cbz(false, true, TMP_STATUS, words));
                self.emit(a64::DMB_ISH);
            } else {
                self.emit(a64::b_cond(Cond::Ne, 2));
                self.emit(a64::mem_unscaled(MemOp::Store, size_log2, s, addr, 0));
            }
            self.emit(a64::mov(true, r0, TMP_OLD));
            return;
        }
        let value = match op {
            AtomicOp::Add => Some(RegOp::Add),
            AtomicOp::Or => Some(RegOp::Orr),
            AtomicOp::And => Some(RegOp::And),
            AtomicOp::Xor => Some(RegOp::Eor),
            AtomicOp::Xchg | AtomicOp::CmpXchg => None,
        };
        let stored = match value {
            Some(op) => {
                self.emit(a64::reg_op(op, wide, TMP_NEW, TMP_OLD, s));
                TMP_NEW
            }
            None => s,
        };
        if exclusive {
            self.emit(a64::stxr(wide, ordered, TMP_STATUS, stored, addr));
            let words = back(self);
            self.emit(a64::cbz(false, true, TMP_STATUS, words));
            if ordered {
                self.emit(a64::DMB_ISH);
            }
        } else {
            self.emit(a64::mem_unscaled(MemOp::Store, size_log2, stored, addr, 0));
        }
        if fetch {
            self.emit(a64::mov(true, s, TMP_OLD));
        }
    }

    fn compare(&mut self, width: Width, cond: JmpCond, dst: u8, src: Operand) -> Cond {
        let wide = width == Width::W64;
        let d = reg(dst);
        let small = match src {
            Operand::Imm(imm) if wide => (0..4096).contains(&imm),
            Operand::Imm(imm) => (imm as u32) < 4096,
            Operand::Reg(_) => false,
        };
        match (cond, src) {
            (JmpCond::Set, _) => {
                let s = self.operand(wide, src, TMP_IMM);
                self.emit(a64::reg_op(RegOp::Ands, wide, XZR, d, s));
            }
            (_, Operand::Imm(imm)) if small => self.emit(a64::cmp_imm(wide, d, imm as u32)),
            _ => {
                let s = self.operand(wide, src, TMP_IMM);
                self.emit(a64::reg_op(RegOp::Subs, wide, XZR, d, s));
            }
        }
        match cond {
            JmpCond::Eq => Cond::Eq,
            JmpCond::Ne | JmpCond::Set => Cond::Ne,
            JmpCond::Gt => Cond::Hi,
            JmpCond::Ge => Cond::Hs,
            JmpCond::Lt => Cond::Lo,
            JmpCond::Le => Cond::Ls,
            JmpCond::Sgt => Cond::Gt,
            JmpCond::Sge => Cond::Ge,
            JmpCond::Slt => Cond::Lt,
            JmpCond::Sle => Cond::Le,
        }
    }

    fn jump(&mut self, target: usize, kind: Fixup) {
        self.fixups.push((self.here(), target, kind));
        self.emit(a64::NOP);
    }

    /// The termination guard before a backward jump or a call at `pc`: one unit of budget,
    /// or the stub that stops the run when none is left (see the module documentation).
    fn guard(&mut self, pc: usize) {
        if !self.guarded {
            return;
        }
        self.emit(a64::subs_imm(true, BUDGET, BUDGET, 1));
        self.guards.push((self.here(), pc));
        self.emit(a64::NOP);
    }

    /// Calls the helper trampoline: `(bridge, id, r1..r5, pc) -> (r0, stop)`.
    fn call_helper(&mut self, id: Result<u32, u8>, pc: usize) {
        if let Err(r) = id {
            // The low 32 bits, as the interpreter reads a `callx` id; so no program can pass
            // the trampoline an id above `u32::MAX`, which the budget stub uses.
            self.emit(a64::mov(false, TMP_ID, reg(r)));
        }
        self.emit(a64::str_pre(LR, SP, -16));
        // r1..r5 (x0..x4) shift up to x2..x6, highest first so nothing is overwritten early.
        for (to, from) in [(6, 4), (5, 3), (4, 2), (3, 1), (2, 0)] {
            self.emit(a64::mov(true, to, from));
        }
        self.emit(a64::mov(true, 0, BRIDGE));
        match id {
            Ok(id) => self.mov_imm(true, 1, u64::from(id)),
            Err(_) => self.emit(a64::mov(true, 1, TMP_ID)),
        }
        self.mov_imm(true, 7, pc as u64);
        self.emit(a64::blr(TRAMPOLINE));
        self.emit(a64::ldr_post(LR, SP, 16));
        self.emit(a64::mov(true, reg(0), 0));
        // A non-zero second result means stop: the bridge recorded an exit value or an error.
        self.emit(a64::cbz(true, false, 1, 2));
        let to_abort = self.abort_at as i32 - self.here() as i32;
        self.emit(a64::b(to_abort));
    }

    fn call_local(&mut self, pc: usize, target: usize) {
        self.guard(pc);
        let [r6, r7, r8, r9, r10] = [reg(6), reg(7), reg(8), reg(9), reg(10)];
        self.emit(a64::stp(PairMode::PreIndex, r6, r7, SP, -48));
        self.emit(a64::stp(PairMode::Offset, r8, r9, SP, 16));
        self.emit(a64::stp(PairMode::Offset, r10, LR, SP, 32));
        self.emit(a64::sub_imm(true, r10, r10, STACK_FRAME_BYTES as u32));
        self.jump(target, Fixup::Call);
        self.emit(a64::ldp(PairMode::Offset, r10, LR, SP, 32));
        self.emit(a64::ldp(PairMode::Offset, r8, r9, SP, 16));
        self.emit(a64::ldp(PairMode::PostIndex, r6, r7, SP, 48));
    }

    fn insn(&mut self, pc: usize, insn: &Insn) {
        if let Some(target) = jump_target(pc, insn) {
            if target <= pc {
                // Before the compare: the guard's SUBS sets the flags too.
                self.guard(pc);
            }
        }
        match *insn {
            Insn::Alu { width, op, dst, src } => self.alu(width, op, dst, src),
            Insn::Endian { op, bits, dst } => self.endian(op, bits, dst),
            Insn::LoadImm64 { dst, kind, imm } => {
                let value = match kind {
                    ImmKind::Value => imm,
                    ImmKind::MapIndex => memory::map_handle(imm as u32 as usize),
                };
                self.mov_imm(true, reg(dst), value);
            }
            Insn::LoadImm64Tail => {}
            Insn::Load { size, sign_extend, dst, src, off } => {
                let op = if sign_extend { MemOp::LoadSigned } else { MemOp::Load };
                self.access(op, size, reg(dst), reg(src), off);
            }
            Insn::Store { size, dst, off, src } => {
                let value = self.operand(true, src, TMP_IMM);
                self.access(MemOp::Store, size, value, reg(dst), off);
            }
            Insn::Atomic { size, op, fetch, dst, src, off } => self.atomic(size, op, fetch, dst, src, off),
            Insn::Ja { off } | Insn::JaLong { off } => self.jump((pc as i64 + 1 + off as i64) as usize, Fixup::Branch),
            Insn::Jcond { width, cond: cond @ (JmpCond::Eq | JmpCond::Ne), dst, src: Operand::Imm(0), off } => {
                // Compare with zero and branch in one instruction.
                let kind = Fixup::Zero { wide: width == Width::W64, nonzero: cond == JmpCond::Ne, reg: reg(dst) };
                self.jump((pc as i64 + 1 + off as i64) as usize, kind);
            }
            Insn::Jcond { width, cond, dst, src, off } => {
                let cond = self.compare(width, cond, dst, src);
                self.jump((pc as i64 + 1 + off as i64) as usize, Fixup::Cond(cond));
            }
            Insn::CallHelper { id } => self.call_helper(Ok(id), pc),
            Insn::CallReg { reg } => self.call_helper(Err(reg), pc),
            Insn::CallLocal { off } => self.call_local(pc, (pc as i64 + 1 + off as i64) as usize),
            // A leaf's body is not called, so its `exit` is the whole epilogue.
            Insn::Exit if !self.leaf_exit.is_empty() => self.out.extend_from_slice(&self.leaf_exit),
            Insn::Exit => self.emit(a64::RET),
        }
    }
}

/// The slot a jump at `pc` goes to, if `insn` is a jump.
fn jump_target(pc: usize, insn: &Insn) -> Option<usize> {
    match *insn {
        Insn::Ja { off } | Insn::JaLong { off } => Some((pc as i64 + 1 + off as i64) as usize),
        Insn::Jcond { off, .. } => Some((pc as i64 + 1 + off as i64) as usize),
        _ => None,
    }
}

/// Whether `insns` is a leaf: no helper call, no local call, no back-edge. Its code has the
/// short entry and exit, never calls the trampoline and never stops early, so a run needs no
/// [`HelperBridge`](crate::jit::HelperBridge) ([`crate::jit::check`] is enough).
pub fn is_leaf(insns: &[Insn]) -> bool {
    !needs_budget_guard(insns)
        && !insns.iter().any(|insn| matches!(insn, Insn::CallHelper { .. } | Insn::CallReg { .. }))
}

/// Whether `insns` can run longer than one pass over their slots: a backward jump or a
/// bpf-to-bpf call. Only such programs get the termination guard.
pub fn needs_budget_guard(insns: &[Insn]) -> bool {
    insns.iter().enumerate().any(|(pc, insn)| {
        matches!(insn, Insn::CallLocal { .. }) || jump_target(pc, insn).is_some_and(|target| target <= pc)
    })
}

/// A text listing: the entry sequence, then each eBPF instruction followed by its A64 words
/// (hex, in memory order; feed them to `llvm-mc --disassemble -triple=aarch64` for mnemonics).
pub fn listing(prog: &VerifiedProgram, code: &Code) -> alloc::string::String {
    listing_insns(prog.insns(), code)
}

/// [`listing`] from the decoded instructions (one per slot, as `isa::decode_program` gives
/// them): for code that was compiled elsewhere, e.g. a kernel's answer to `bpf_dump`.
pub fn listing_insns(insns: &[Insn], code: &Code) -> alloc::string::String {
    use core::fmt::Write;
    let mut out = alloc::string::String::new();
    let word = |out: &mut alloc::string::String, at: usize| {
        let _ = writeln!(out, "    {:5x}: {:08x}", at * 4, code.words[at]);
    };
    let first_slot = code.slot_offsets.first().map_or(code.words.len(), |&o| o as usize);
    let _ = writeln!(out, "entry, exit and abort paths:");
    (0..first_slot).for_each(|at| word(&mut out, at));
    for (pc, insn) in insns.iter().enumerate() {
        if *insn == Insn::LoadImm64Tail {
            continue;
        }
        let start = code.slot_offsets[pc] as usize;
        let end = code.slot_offsets.get(pc + 1).map_or(code.stubs_offset as usize, |&o| o as usize);
        let _ = writeln!(out, "{pc:4}: {}", crate::disasm::format_insn(insn));
        (start..end).for_each(|at| word(&mut out, at));
    }
    if (code.stubs_offset as usize) < code.words.len() {
        let _ = writeln!(out, "budget stubs (pc in x7, then the budget exit):");
        (code.stubs_offset as usize..code.words.len()).for_each(|at| word(&mut out, at));
    }
    out
}

/// The entry and exit of a program that calls helpers or carries a budget guard: every
/// callee-saved register it may use saved, the bridge, trampoline and entry sp kept for helper
/// calls and aborts. Returns the `bl main` placeholder and the budget exit.
fn full_entry(e: &mut Emitter) -> (usize, usize) {
    let guarded = e.guarded;
    let frame_bytes = if guarded { GUARDED_FRAME_BYTES } else { ENTRY_FRAME_BYTES };

    // Entry: fn(r1, r2, bridge, r10, trampoline, budget) -> r0, C ABI.
    e.emit(a64::stp(PairMode::PreIndex, 29, LR, SP, -frame_bytes));
    e.emit(a64::mov_sp(29, SP));
    e.emit(a64::stp(PairMode::Offset, 19, 20, SP, 16));
    e.emit(a64::stp(PairMode::Offset, 21, 22, SP, 32));
    e.emit(a64::stp(PairMode::Offset, 25, 26, SP, 48));
    e.emit(a64::stp(PairMode::Offset, 27, 28, SP, 64));
    if guarded {
        e.emit(a64::mem_scaled(MemOp::Store, 3, BUDGET, SP, ENTRY_FRAME_BYTES as u32 / 8));
        e.emit(a64::mov(true, BUDGET, 5));
    }
    e.emit(a64::mov(true, BRIDGE, 2));
    e.emit(a64::mov(true, reg(10), 3));
    e.emit(a64::mov(true, TRAMPOLINE, 4));
    e.emit(a64::mov_sp(ENTRY_SP, SP));
    // The interpreter starts r0 and r3..r9 at zero; so does the JIT.
    for r in [0, 3, 4, 5, 6, 7, 8, 9] {
        e.emit(a64::mov(true, reg(r), XZR));
    }
    let call_main = e.here();
    e.emit(a64::NOP);
    let epilogue = e.here();
    e.emit(a64::mov(true, 0, reg(0)));
    e.emit(a64::ldp(PairMode::Offset, 27, 28, SP, 64));
    e.emit(a64::ldp(PairMode::Offset, 25, 26, SP, 48));
    e.emit(a64::ldp(PairMode::Offset, 21, 22, SP, 32));
    e.emit(a64::ldp(PairMode::Offset, 19, 20, SP, 16));
    if guarded {
        e.emit(a64::mem_scaled(MemOp::Load, 3, BUDGET, SP, ENTRY_FRAME_BYTES as u32 / 8));
    }
    e.emit(a64::ldp(PairMode::PostIndex, 29, LR, SP, frame_bytes));
    e.emit(a64::RET);
    // Abort (a helper asked to stop): drop every native frame the program pushed.
    e.abort_at = e.here();
    e.emit(a64::mov_sp(SP, ENTRY_SP));
    let to_epilogue = epilogue as i32 - e.here() as i32;
    e.emit(a64::b(to_epilogue));
    // Budget exit (a guard found no budget left; x7 = its pc): the trampoline records
    // `BudgetExhausted` at that pc, then the run unwinds like an abort.
    let budget_exit = e.here();
    if guarded {
        e.emit(a64::mov_sp(SP, ENTRY_SP));
        e.emit(a64::mov(true, 0, BRIDGE));
        e.mov_imm(true, 1, super::BUDGET_EXHAUSTED_ID);
        e.emit(a64::blr(TRAMPOLINE));
        let to_epilogue = epilogue as i32 - e.here() as i32;
        e.emit(a64::b(to_epilogue));
    }
    (call_main, budget_exit)
}

/// The entry of a leaf: no helper call, no local call, no guard, so nothing can abort it and it
/// needs neither the bridge, the trampoline nor the entry sp. It saves only the callee-saved
/// registers it names (r6-r9, r10) and zeroes only the registers it names (r0 always: `exit`
/// returns it): a register it never names is never observed, so its starting value does not
/// matter. The body follows the entry directly (no `bl`: a leaf has one frame), and each `exit`
/// is the whole epilogue, returned here: `mov x0, x7`, the saved registers restored, `ret`.
/// With nothing to save there is no frame at all: the empty program's entry and exit are 4
/// instructions (27 before leaves had their own, 9 with a `bl` to the body).
fn leaf_entry(e: &mut Emitter, insns: &[Insn]) -> Vec<u32> {
    let names = insns.iter().fold(1, |names, insn| names | super::registers_named(insn));
    let named = |r: u8| names & 1 << r != 0;
    let saved: Vec<Reg> = [6, 7, 8, 9, 10].into_iter().filter(|&r| named(r)).map(reg).collect();
    let frame_bytes = (saved.len() * 8).next_multiple_of(16) as i32;
    // Pairs at [sp], [sp+16], …; the first one moves sp (pre-index), the last one restores it.
    let pairs: Vec<&[Reg]> = saved.chunks(2).collect();
    for (index, pair) in pairs.iter().enumerate() {
        let offset = 16 * index as i32;
        e.emit(match (*pair, index) {
            ([first, second], 0) => a64::stp(PairMode::PreIndex, *first, *second, SP, -frame_bytes),
            ([first, second], _) => a64::stp(PairMode::Offset, *first, *second, SP, offset),
            ([only], 0) => a64::str_pre(*only, SP, -frame_bytes),
            (single, _) => a64::mem_scaled(MemOp::Store, 3, single[0], SP, offset as u32 / 8),
        });
    }
    if named(10) {
        e.emit(a64::mov(true, reg(10), 3));
    }
    // The interpreter starts r0 and r3..r9 at zero; so does the JIT, for those the code names.
    for r in [0, 3, 4, 5, 6, 7, 8, 9] {
        if named(r) {
            e.emit(a64::mov(true, reg(r), XZR));
        }
    }
    let mut exit = alloc::vec![a64::mov(true, 0, reg(0))];
    for (index, pair) in pairs.iter().enumerate().rev() {
        let offset = 16 * index as i32;
        exit.push(match (*pair, index) {
            ([first, second], 0) => a64::ldp(PairMode::PostIndex, *first, *second, SP, frame_bytes),
            ([first, second], _) => a64::ldp(PairMode::Offset, *first, *second, SP, offset),
            ([only], 0) => a64::ldr_post(*only, SP, frame_bytes),
            (single, _) => a64::mem_scaled(MemOp::Load, 3, single[0], SP, offset as u32 / 8),
        });
    }
    exit.push(a64::RET);
    exit
}

/// Translates `prog`. Only a [`VerifiedProgram`] can be compiled (the code has no run-time
/// checks); an [`crate::UncheckedProgram`] does not type-check here.
pub fn compile(prog: &VerifiedProgram) -> Result<Code, JitError> {
    let insns = prog.insns();
    let guarded = needs_budget_guard(insns);
    let mut e = Emitter {
        out: Vec::with_capacity(insns.len() * 3 + 32),
        fixups: Vec::new(),
        abort_at: 0,
        guarded,
        guards: Vec::new(),
        leaf_exit: Vec::new(),
    };
    let leaf = is_leaf(insns);
    let budget_exit = if leaf {
        // Nothing aborts a leaf and it has no guard: no abort path, no budget exit.
        e.leaf_exit = leaf_entry(&mut e, insns);
        0
    } else {
        let (call_main, budget_exit) = full_entry(&mut e);
        let body = e.here();
        e.out[call_main] = a64::bl((body - call_main) as i32);
        budget_exit
    };

    let mut slot_offsets = Vec::with_capacity(insns.len());
    for (pc, insn) in insns.iter().enumerate() {
        slot_offsets.push(e.here() as u32);
        e.insn(pc, insn);
        if e.out.len() * 4 > MAX_CODE_BYTES {
            return Err(JitError::TooLarge);
        }
    }
    // One cold stub per guard, after the last slot: `mov x7, #pc; b budget_exit`.
    let stubs_offset = e.here() as u32;
    for (at, pc) in core::mem::take(&mut e.guards) {
        let stub = e.here();
        e.out[at] = a64::b_cond(Cond::Lo, (stub - at) as i32);
        e.mov_imm(true, STUB_PC, pc as u64);
        let to_exit = budget_exit as i32 - e.here() as i32;
        e.emit(a64::b(to_exit));
    }
    if e.out.len() * 4 > MAX_CODE_BYTES {
        return Err(JitError::TooLarge);
    }
    for &(at, target, kind) in &e.fixups {
        let to = *slot_offsets.get(target).ok_or(JitError::BadJumpTarget { pc: target })? as i32;
        let words = to - at as i32;
        e.out[at] = match kind {
            Fixup::Cond(cond) => a64::b_cond(cond, words),
            Fixup::Branch => a64::b(words),
            Fixup::Call => a64::bl(words),
            Fixup::Zero { wide, nonzero, reg } => a64::cbz(wide, nonzero, reg, words),
        };
    }
    Ok(Code { words: e.out, slot_offsets, stubs_offset, leaf })
}
