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

/// Where control may go after `pc` (at most two places).
fn successors(insns: &[Insn], pc: usize) -> [Option<usize>; 2] {
    let n = insns.len();
    let at = |t: i64| (t >= 0 && (t as usize) < n).then_some(t as usize);
    let insn = &insns[pc];
    match *insn {
        Insn::Exit | Insn::LoadImm64Tail => [None, None],
        Insn::Ja { .. } | Insn::JaLong { .. } => [insn.jump_target(pc).and_then(at), None],
        Insn::Jcond { .. } => [at(pc as i64 + 1), insn.jump_target(pc).and_then(at)],
        _ => [at((pc + insn.slots()) as i64), None],
    }
}

/// Live-in registers per instruction, or `None` when the program has local calls.
///
/// A worklist over predecessors: an instruction is revisited only when a successor's set
/// grew, so the work is linear in the program for each of the 11 bits a set can gain.
pub fn live_in(insns: &[Insn]) -> Option<Vec<RegSet>> {
    if insns.iter().any(|i| matches!(i, Insn::CallLocal { .. })) {
        return None;
    }
    let n = insns.len();
    let facts: Vec<(RegSet, RegSet)> = insns.iter().map(uses_defs).collect();
    // Predecessors in compressed form: `preds[starts[pc]..starts[pc + 1]]`.
    let mut starts = vec![0usize; n + 1];
    for pc in 0..n {
        for s in successors(insns, pc).into_iter().flatten() {
            starts[s + 1] += 1;
        }
    }
    for pc in 0..n {
        starts[pc + 1] += starts[pc];
    }
    let mut fill = starts.clone();
    let mut preds = vec![0usize; starts[n]];
    for pc in 0..n {
        for s in successors(insns, pc).into_iter().flatten() {
            preds[fill[s]] = pc;
            fill[s] += 1;
        }
    }
    let mut live = vec![0 as RegSet; n];
    // Every instruction starts on the list, last first, so straight code settles in one pass.
    let mut work: Vec<usize> = (0..n).collect();
    let mut queued = vec![true; n];
    while let Some(pc) = work.pop() {
        queued[pc] = false;
        let out = successors(insns, pc).into_iter().flatten().fold(0, |acc, s| acc | live[s]);
        let (uses, defs) = facts[pc];
        let new = (uses | (out & !defs)) | bit(10);
        if new != live[pc] {
            live[pc] = new;
            for &p in &preds[starts[pc]..starts[pc + 1]] {
                if !queued[p] {
                    queued[p] = true;
                    work.push(p);
                }
            }
        }
    }
    Some(live)
}
