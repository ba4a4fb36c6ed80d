//! Register liveness: which registers some path may read before writing them, per instruction.
//! Stored states forget dead registers, so paths that differ only in dead values are pruned.
//!
//! Programs with bpf-to-bpf calls are left alone (every register counts as live): a callee
//! shares the register file with its caller and a flat analysis would need call-site context.

use alloc::vec;
use alloc::vec::Vec;

use crate::isa::{AluOp, AtomicOp, Insn, Operand};

/// Bit `r` set: register `r` is live.
pub type RegSet = u16;

const ALL: RegSet = (1 << 11) - 1;
const ARGS: RegSet = 0b11_1110;
const CLOBBERED_BY_HELPER: RegSet = 0b11_1111;

fn bit(r: u8) -> RegSet {
    1 << r
}

fn operand(src: Operand) -> RegSet {
    match src {
        Operand::Reg(r) => bit(r),
        Operand::Imm(_) => 0,
    }
}

/// (registers read, registers written) by one instruction.
fn uses_defs(insn: &Insn) -> (RegSet, RegSet) {
    match *insn {
        Insn::Alu { op: AluOp::Mov | AluOp::MovSx(_), dst, src, .. } => (operand(src), bit(dst)),
        Insn::Alu { dst, src, .. } => (bit(dst) | operand(src), bit(dst)),
        Insn::Endian { dst, .. } => (bit(dst), bit(dst)),
        Insn::LoadImm64 { dst, .. } => (0, bit(dst)),
        Insn::LoadImm64Tail | Insn::Ja { .. } | Insn::JaLong { .. } => (0, 0),
        Insn::Load { dst, src, .. } => (bit(src), bit(dst)),
        Insn::Store { dst, src, .. } => (bit(dst) | operand(src), 0),
        Insn::Atomic { op, fetch, dst, src, .. } => {
            if op == AtomicOp::CmpXchg {
                (bit(dst) | bit(src) | bit(0), bit(0))
            } else if fetch {
                (bit(dst) | bit(src), bit(src))
            } else {
                (bit(dst) | bit(src), 0)
            }
        }
        Insn::Jcond { dst, src, .. } => (bit(dst) | operand(src), 0),
        Insn::CallHelper { .. } => (ARGS, CLOBBERED_BY_HELPER),
        Insn::CallReg { reg } => (ARGS | bit(reg), CLOBBERED_BY_HELPER),
        Insn::CallLocal { .. } => (ALL, 0),
        Insn::Exit => (bit(0), 0),
    }
}

/// Live-in registers per instruction, or `None` when the program has local calls.
pub fn live_in(insns: &[Insn]) -> Option<Vec<RegSet>> {
    if insns.iter().any(|i| matches!(i, Insn::CallLocal { .. })) {
        return None;
    }
    let n = insns.len();
    let mut live = vec![0 as RegSet; n];
    let facts: Vec<(RegSet, RegSet)> = insns.iter().map(uses_defs).collect();
    let live_at = |live: &[RegSet], pc: i64| -> RegSet {
        if pc >= 0 && (pc as usize) < n {
            live[pc as usize]
        } else {
            0
        }
    };
    loop {
        let mut changed = false;
        for pc in (0..n).rev() {
            let insn = &insns[pc];
            let out = match *insn {
                Insn::Exit | Insn::LoadImm64Tail => 0,
                Insn::Ja { .. } | Insn::JaLong { .. } => insn.jump_target(pc).map_or(0, |t| live_at(&live, t)),
                Insn::Jcond { .. } => {
                    live_at(&live, pc as i64 + 1) | insn.jump_target(pc).map_or(0, |t| live_at(&live, t))
                }
                _ => live_at(&live, (pc + insn.slots()) as i64),
            };
            let (uses, defs) = facts[pc];
            let new = (uses | (out & !defs)) | bit(10);
            if new != live[pc] {
                live[pc] = new;
                changed = true;
            }
        }
        if !changed {
            return Some(live);
        }
    }
}
