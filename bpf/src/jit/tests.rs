//! Encoder words checked against `llvm-mc -triple=aarch64 -show-encoding` (LLVM 14), and
//! translation checks that need no aarch64 machine.

use alloc::vec::Vec;

use super::aarch64::encode::{self as a64, Cond, LogicalImm, MemOp, MovWide, PairMode, RegOp, LR, SP, XZR};
use super::aarch64::{self, compile};
use super::{JitError, BUDGET_EXHAUSTED_ID};
use crate::interp::{Env, FixedPlatform, Interpreter, RunError, RunErrorKind};
use crate::load::Program;
use crate::program::{ContextKind, ProgramType};
use crate::{asm, isa};

#[test]
fn encodings_match_llvm_mc() {
    let cases: &[(&str, u32, u32)] = &[
        ("add x7, x7, x0", a64::reg_op(RegOp::Add, true, 7, 7, 0), 0x8b00_00e7),
        ("sub w1, w1, w2", a64::reg_op(RegOp::Sub, false, 1, 1, 2), 0x4b02_0021),
        ("subs xzr, x3, x19", a64::reg_op(RegOp::Subs, true, XZR, 3, 19), 0xeb13_007f),
        ("cmp w4, w7", a64::reg_op(RegOp::Subs, false, XZR, 4, 7), 0x6b07_009f),
        ("ands xzr, x0, x10", a64::reg_op(RegOp::Ands, true, XZR, 0, 10), 0xea0a_001f),
        ("tst w0, w10", a64::reg_op(RegOp::Ands, false, XZR, 0, 10), 0x6a0a_001f),
        ("and x1, x1, x2", a64::reg_op(RegOp::And, true, 1, 1, 2), 0x8a02_0021),
        ("orr w2, w2, w3", a64::reg_op(RegOp::Orr, false, 2, 2, 3), 0x2a03_0042),
        ("eor x22, x22, x25", a64::reg_op(RegOp::Eor, true, 22, 22, 25), 0xca19_02d6),
        ("udiv x9, x7, x10", a64::reg_op(RegOp::Udiv, true, 9, 7, 10), 0x9aca_08e9),
        ("sdiv w9, w7, w10", a64::reg_op(RegOp::Sdiv, false, 9, 7, 10), 0x1aca_0ce9),
        ("lsl x0, x0, x10", a64::reg_op(RegOp::Lslv, true, 0, 0, 10), 0x9aca_2000),
        ("lsr w0, w0, w10", a64::reg_op(RegOp::Lsrv, false, 0, 0, 10), 0x1aca_2400),
        ("asr x0, x0, x10", a64::reg_op(RegOp::Asrv, true, 0, 0, 10), 0x9aca_2800),
        ("mov x7, x0", a64::mov(true, 7, 0), 0xaa00_03e7),
        ("mov w7, w0", a64::mov(false, 7, 0), 0x2a00_03e7),
        ("mov x29, sp", a64::mov_sp(29, SP), 0x9100_03fd),
        ("mov sp, x28", a64::mov_sp(SP, 28), 0x9100_039f),
        ("add x7, x7, #4095", a64::add_imm(true, 7, 7, 4095), 0x913f_fce7),
        ("sub w7, w7, #1", a64::sub_imm(false, 7, 7, 1), 0x5100_04e7),
        ("cmp x7, #12", a64::cmp_imm(true, 7, 12), 0xf100_30ff),
        ("subs x24, x24, #1", a64::subs_imm(true, 24, 24, 1), 0xf100_0718),
        ("str x24, [sp, #80]", a64::mem_scaled(MemOp::Store, 3, 24, SP, 10), 0xf900_2bf8),
        ("ldr x24, [sp, #80]", a64::mem_scaled(MemOp::Load, 3, 24, SP, 10), 0xf940_2bf8),
        ("b.lo #8", a64::b_cond(Cond::Lo, 2), 0x5400_0043),
        ("mov w8, w1", a64::mov(false, 8, 1), 0x2a01_03e8),
        ("cmp w7, #4095", a64::cmp_imm(false, 7, 4095), 0x713f_fcff),
        ("mul x7, x7, x10", a64::mul(true, 7, 7, 10), 0x9b0a_7ce7),
        ("mul w7, w7, w10", a64::mul(false, 7, 7, 10), 0x1b0a_7ce7),
        ("msub x7, x9, x10, x7", a64::msub(true, 7, 9, 10, 7), 0x9b0a_9d27),
        ("msub w7, w9, w10, w7", a64::msub(false, 7, 9, 10, 7), 0x1b0a_9d27),
        ("movz x7, #0x1234, lsl #16", a64::mov_wide(MovWide::Movz, true, 7, 0x1234, 1), 0xd2a2_4687),
        ("movn x7, #0", a64::mov_wide(MovWide::Movn, true, 7, 0, 0), 0x9280_0007),
        ("movk x7, #0xbeef, lsl #48", a64::mov_wide(MovWide::Movk, true, 7, 0xbeef, 3), 0xf2f7_dde7),
        ("movz w7, #0xffff", a64::mov_wide(MovWide::Movz, false, 7, 0xffff, 0), 0x529f_ffe7),
        ("movn w7, #0", a64::mov_wide(MovWide::Movn, false, 7, 0, 0), 0x1280_0007),
        ("sxtb x7, w0", a64::sbfm(true, 7, 0, 0, 7), 0x9340_1c07),
        ("sxth w7, w0", a64::sbfm(false, 7, 0, 0, 15), 0x1300_3c07),
        ("sxtw x7, w0", a64::sbfm(true, 7, 0, 0, 31), 0x9340_7c07),
        ("uxth w7, w7", a64::ubfm(false, 7, 7, 0, 15), 0x5300_3ce7),
        ("lsl x12, x9, #61", a64::ubfm(true, 12, 9, 3, 2), 0xd343_092c),
        ("lsl x12, x9, #62", a64::ubfm(true, 12, 9, 2, 1), 0xd342_052c),
        ("rev x7, x7", a64::rev(true, 7, 7), 0xdac0_0ce7),
        ("rev w7, w7", a64::rev(false, 7, 7), 0x5ac0_08e7),
        ("rev16 w7, w7", a64::rev16_w(7, 7), 0x5ac0_04e7),
        ("ldurb w7, [x0, #-1]", a64::mem_unscaled(MemOp::Load, 0, 7, 0, -1), 0x385f_f007),
        ("ldurh w7, [x0, #255]", a64::mem_unscaled(MemOp::Load, 1, 7, 0, 255), 0x784f_f007),
        ("ldur w7, [x0, #-256]", a64::mem_unscaled(MemOp::Load, 2, 7, 0, -256), 0xb850_0007),
        ("ldur x7, [x0, #8]", a64::mem_unscaled(MemOp::Load, 3, 7, 0, 8), 0xf840_8007),
        ("ldursb x7, [x0, #1]", a64::mem_unscaled(MemOp::LoadSigned, 0, 7, 0, 1), 0x3880_1007),
        ("ldursh x7, [x0, #2]", a64::mem_unscaled(MemOp::LoadSigned, 1, 7, 0, 2), 0x7880_2007),
        ("ldursw x7, [x0, #4]", a64::mem_unscaled(MemOp::LoadSigned, 2, 7, 0, 4), 0xb880_4007),
        ("sturb w7, [x25, #-8]", a64::mem_unscaled(MemOp::Store, 0, 7, 25, -8), 0x381f_8327),
        ("stur x7, [x25, #-256]", a64::mem_unscaled(MemOp::Store, 3, 7, 25, -256), 0xf810_0327),
        ("ldr x7, [x0, #4088]", a64::mem_scaled(MemOp::Load, 3, 7, 0, 4088 / 8), 0xf947_fc07),
        ("ldrh w7, [x0, #300]", a64::mem_scaled(MemOp::Load, 1, 7, 0, 150), 0x7942_5807),
        ("str w7, [x0, #1024]", a64::mem_scaled(MemOp::Store, 2, 7, 0, 256), 0xb904_0007),
        ("ldrb w7, [x0, x9]", a64::mem_reg(MemOp::Load, 0, 7, 0, 9), 0x3869_6807),
        ("str x7, [x25, x9]", a64::mem_reg(MemOp::Store, 3, 7, 25, 9), 0xf829_6b27),
        ("ldrsw x7, [x0, x9]", a64::mem_reg(MemOp::LoadSigned, 2, 7, 0, 9), 0xb8a9_6807),
        ("str x30, [sp, #-16]!", a64::str_pre(LR, SP, -16), 0xf81f_0ffe),
        ("ldr x30, [sp], #16", a64::ldr_post(LR, SP, 16), 0xf841_07fe),
        ("stp x29, x30, [sp, #-80]!", a64::stp(PairMode::PreIndex, 29, LR, SP, -80), 0xa9bb_7bfd),
        ("stp x19, x20, [sp, #16]", a64::stp(PairMode::Offset, 19, 20, SP, 16), 0xa901_53f3),
        ("ldp x19, x20, [sp, #16]", a64::ldp(PairMode::Offset, 19, 20, SP, 16), 0xa941_53f3),
        ("ldp x29, x30, [sp], #80", a64::ldp(PairMode::PostIndex, 29, LR, SP, 80), 0xa8c5_7bfd),
        ("ldxr x10, [x9]", a64::ldxr(true, 10, 9), 0xc85f_7d2a),
        ("ldxr w10, [x0]", a64::ldxr(false, 10, 0), 0x885f_7c0a),
        ("stxr w12, x11, [x9]", a64::stxr(true, false, 12, 11, 9), 0xc80c_7d2b),
        ("stlxr w12, w11, [x9]", a64::stxr(false, true, 12, 11, 9), 0x880c_fd2b),
        ("dmb ish", a64::DMB_ISH, 0xd503_3bbf),
        ("ret", a64::RET, 0xd65f_03c0),
        ("blr x27", a64::blr(27), 0xd63f_0360),
        ("cbnz w12, #-16", a64::cbz(false, true, 12, -4), 0x35ff_ff8c),
        ("cbz x1, #8", a64::cbz(true, false, 1, 2), 0xb400_0041),
        ("b #-4", a64::b(-1), 0x17ff_ffff),
        ("bl #64", a64::bl(16), 0x9400_0010),
        ("b.ne #12", a64::b_cond(Cond::Ne, 3), 0x5400_0061),
        ("b.hi #-8", a64::b_cond(Cond::Hi, -2), 0x54ff_ffc8),
        ("b.le #0", a64::b_cond(Cond::Le, 0), 0x5400_000d),
    ];
    let logical = |op, wide, value: u64| {
        a64::logical_imm(op, wide, 7, 7, a64::bitmask_immediate(value, wide).expect("a bitmask immediate"))
    };
    let more: &[(&str, u32, u32)] = &[
        ("and x7, x7, #7", logical(LogicalImm::And, true, 7), 0x9240_08e7),
        ("orr w7, w7, #0xff00", logical(LogicalImm::Orr, false, 0xff00), 0x3218_1ce7),
        ("eor x7, x7, #0x5555555555555555", logical(LogicalImm::Eor, true, 0x5555_5555_5555_5555), 0xd200_f0e7),
        ("and w7, w7, #0xfffffffe", logical(LogicalImm::And, false, 0xffff_fffe), 0x121f_78e7),
        ("orr x7, x7, #0xffff0000ffff0000", logical(LogicalImm::Orr, true, 0xffff_0000_ffff_0000), 0xb210_3ce7),
        ("eor x7, x7, #0x8000000000000000", logical(LogicalImm::Eor, true, 1 << 63), 0xd241_00e7),
        ("lsl x7, x7, #3", a64::ubfm(true, 7, 7, 61, 60), 0xd37d_f0e7),
        ("lsr w7, w7, #1", a64::ubfm(false, 7, 7, 1, 31), 0x5301_7ce7),
        ("asr x7, x7, #63", a64::sbfm(true, 7, 7, 63, 63), 0x937f_fce7),
        ("lsl w7, w7, #31", a64::ubfm(false, 7, 7, 1, 0), 0x5301_00e7),
    ];
    assert_eq!(a64::bitmask_immediate(0x5a5a, true), None, "0x5a5a is not a rotated run of ones");
    assert_eq!(a64::bitmask_immediate(0, true), None);
    assert_eq!(a64::bitmask_immediate(u64::MAX, true), None);
    assert_eq!(a64::bitmask_immediate(0xffff_ffff, false), None, "all ones in a W register");
    for &(text, got, want) in cases.iter().chain(more) {
        assert_eq!(got, want, "{text}: got {got:#010x}, llvm-mc says {want:#010x}");
    }
}

/// Evaluates a MOVZ/MOVN/MOVK sequence the way the CPU does.
fn run_moves(words: &[u32]) -> u64 {
    let mut value = 0u64;
    for &w in words {
        let wide = w >> 31 == 1;
        let imm = u64::from((w >> 5) & 0xffff);
        let shift = 16 * ((w >> 21) & 3);
        assert_eq!((w >> 23) & 0x3f, 0x25, "not a wide move: {w:#x}");
        value = match (w >> 29) & 3 {
            0 => !(imm << shift),
            2 => imm << shift,
            3 => (value & !(0xffff << shift)) | (imm << shift),
            _ => panic!("unallocated wide move {w:#x}"),
        };
        if !wide {
            value &= 0xffff_ffff;
        }
    }
    value
}

#[test]
fn immediates_materialise_exactly_and_briefly() {
    let values = [0, 1, 0xffff, 0x1_0000, u64::MAX, 0xffff_ffff, 0x8000_0000_0000_0000, 0xdead_beef_0000_1234];
    for &v in &values {
        for wide in [true, false] {
            let mut out = Vec::new();
            a64::mov_imm(&mut out, wide, 7, v);
            let want = if wide { v } else { v & 0xffff_ffff };
            assert_eq!(run_moves(&out), want, "{v:#x} wide={wide}: {out:x?}");
            assert!(out.len() <= if wide { 4 } else { 2 });
        }
    }
    let mut out = Vec::new();
    a64::mov_imm(&mut out, true, 7, (-2i64) as u64);
    assert_eq!(out, [a64::mov_wide(MovWide::Movn, true, 7, 1, 0)], "-2 is one MOVN");
}

fn compile_asm(src: &str) -> Result<aarch64::Code, JitError> {
    compile_with_mem(src, 16)
}

fn compile_with_mem(src: &str, mem_bytes: u32) -> Result<aarch64::Code, JitError> {
    let bytes = isa::slots_to_bytes(&asm::assemble(src).unwrap());
    let prog = Program::load(&bytes, &ProgramType::conformance(mem_bytes)).unwrap();
    compile(&prog)
}

#[test]
fn division_needs_no_branch_and_modulo_is_msub() {
    let code = compile_asm("mov %r0, 7\nmov %r2, 0\ndiv %r0, %r2\nmod32 %r0, %r2\nexit").unwrap();
    let body = &code.words[code.slot_offsets[2] as usize..code.slot_offsets[4] as usize];
    // r0 = x7, r2 = x1: udiv x7, x7, x1; udiv w9, w7, w1; msub w7, w9, w1, w7.
    assert_eq!(
        body,
        [
            a64::reg_op(RegOp::Udiv, true, 7, 7, 1),
            a64::reg_op(RegOp::Udiv, false, 9, 7, 1),
            a64::msub(false, 7, 9, 1, 7)
        ]
    );
}

#[test]
fn atomics_use_exclusive_pairs_not_lse() {
    let code = compile_asm("mov %r0, 0\nstdw [%r1+0], 1\nmov %r2, 5\nlock fetch add [%r1+8], %r2\nexit").unwrap();
    let words = &code.words[code.slot_offsets[3] as usize..code.slot_offsets[4] as usize];
    // add x9, x0, #8; lsl x12, x9, #61; cbnz x12, slow; ldxr; add; stlxr; cbnz; dmb; mov r2, old;
    // b done; slow: ldr; add; str; mov r2, old.
    assert_eq!(words[0], a64::add_imm(true, 9, 0, 8));
    assert_eq!(words[1], a64::ubfm(true, 12, 9, 3, 2));
    assert_eq!(words[2], a64::cbz(true, true, 12, 8));
    assert_eq!(words[3], a64::ldxr(true, 10, 9));
    assert_eq!(words[5], a64::stxr(true, true, 12, 11, 9));
    assert_eq!(words[6], a64::cbz(false, true, 12, -3));
    assert_eq!(words[9], a64::b(5));
    assert_eq!(words[10], a64::mem_unscaled(MemOp::Load, 3, 10, 9, 0));
    assert_eq!(words.len(), 14);
    // No LSE (LDADD/CAS/SWP: bits 29..24 = 0b111000 with bit 21 set and bits 11..10 = 0).
    for &w in &code.words {
        assert!(!((w >> 24) & 0x3f == 0x38 && (w >> 21) & 1 == 1 && (w >> 10) & 3 == 0), "LSE word {w:#x}");
    }
}

#[test]
fn branches_land_on_their_slots() {
    let code = compile_asm("mov %r0, 0\nja +1\nmov %r0, 1\njeq %r0, 0, +0\nexit").unwrap();
    let ja_at = code.slot_offsets[1] as usize;
    assert_eq!(code.words[ja_at], a64::b(code.slot_offsets[3] as i32 - ja_at as i32));
    let jeq_at = code.slot_offsets[3] as usize;
    // jeq r0, 0 is one cbz x7.
    assert_eq!(code.words[jeq_at], a64::cbz(true, false, 7, 1));
    let code = compile_asm("mov %r0, 0\njsgt %r0, 5, +0\nexit").unwrap();
    assert_eq!(code.words[code.slot_offsets[2] as usize - 1], a64::b_cond(Cond::Gt, 1));
}

#[test]
fn far_offsets_use_a_register() {
    // ldxb at +4096 cannot be a scaled byte offset (imm12 tops out at 4095).
    let code = compile_with_mem("ldxb %r0, [%r1+4096]\nldxdw %r0, [%r1+4096]\nexit", 8192);
    let code = match code {
        Ok(code) => code,
        Err(e) => panic!("{e}"),
    };
    let first = &code.words[code.slot_offsets[0] as usize..code.slot_offsets[1] as usize];
    assert_eq!(first.last(), Some(&a64::mem_reg(MemOp::Load, 0, 7, 0, 9)));
    let second = &code.words[code.slot_offsets[1] as usize..code.slot_offsets[2] as usize];
    assert_eq!(second, [a64::mem_scaled(MemOp::Load, 3, 7, 0, 512)]);
}

/// Arm ARM `DecodeBitMasks` (the immediate half), as the CPU reads the fields.
fn decode_bitmask(n: u32, immr: u32, imms: u32) -> Option<u64> {
    let combined = (n << 6) | (!imms & 0x3f);
    if combined == 0 {
        return None;
    }
    let len = 31 - combined.leading_zeros();
    if len < 1 {
        return None;
    }
    let size = 1u32 << len;
    let levels = size - 1;
    let (s, r) = (imms & levels, immr & levels);
    if s == levels {
        return None;
    }
    let mask = if size == 64 { u64::MAX } else { (1u64 << size) - 1 };
    let welem = (1u64 << (s + 1)) - 1;
    let elem = if r == 0 { welem } else { ((welem >> r) | (welem << (size - r))) & mask };
    let mut value = 0u64;
    let mut shift = 0;
    while shift < 64 {
        value |= elem << shift;
        shift += size;
    }
    Some(value)
}

#[test]
fn every_bitmask_immediate_round_trips() {
    let mut count = 0;
    for n in 0..2 {
        for immr in 0..64 {
            for imms in 0..64 {
                let Some(value) = decode_bitmask(n, immr, imms) else { continue };
                let fields = a64::bitmask_immediate(value, true).expect("every decodable value encodes");
                assert_eq!(decode_bitmask(fields.0, fields.1, fields.2), Some(value), "{value:#x}");
                if n == 0 {
                    let low = value & 0xffff_ffff;
                    let w = a64::bitmask_immediate(low, false).expect("W form");
                    assert_eq!(w.0, 0);
                    assert_eq!(decode_bitmask(w.0, w.1, w.2).map(|v| v & 0xffff_ffff), Some(low), "{low:#x}");
                }
                count += 1;
            }
        }
    }
    // 5334 distinct 64-bit values; small element sizes ignore high immr bits, hence repeats.
    assert_eq!(count, 7680);
}

/// `subs x24, x24, #1`: one unit of the run's budget.
const TAKE_ONE: u32 = 0xf100_0718;

/// The words of slot `pc`.
fn slot(code: &aarch64::Code, pc: usize) -> &[u32] {
    let end = code.slot_offsets.get(pc + 1).map_or(code.stubs_offset as usize, |&o| o as usize);
    &code.words[code.slot_offsets[pc] as usize..end]
}

/// Where a `b`/`bl` (imm26), `b.cond` or `cbz`/`cbnz` (imm19) word at `at` goes.
fn branch_destination(words: &[u32], at: usize) -> usize {
    let w = words[at];
    let words_off = if (w >> 26) & 0x1f == 0b00101 {
        ((w << 6) as i32) >> 6
    } else {
        assert!(w >> 24 == 0x54 || (w >> 25) & 0x3f == 0x1a, "not a branch: {w:#010x}");
        ((w << 8) as i32) >> 13
    };
    (at as i64 + i64::from(words_off)) as usize
}

/// Checks the guard at the start of slot `pc`: take one unit, else go to a stub that reports
/// `pc` to the trampoline as [`BUDGET_EXHAUSTED_ID`] and unwinds.
fn assert_guarded(code: &aarch64::Code, pc: usize) {
    let at = code.slot_offsets[pc] as usize;
    assert_eq!(code.words[at], TAKE_ONE, "slot {pc} starts with the guard");
    assert_eq!(code.words[at + 1] & 0xff00_001f, 0x5400_0003, "then b.lo");
    let stub = branch_destination(&code.words, at + 1);
    assert!(stub >= code.stubs_offset as usize, "the stub is out of line, after every slot");
    // mov x7, #pc; b budget_exit.
    let moves: Vec<u32> = code.words[stub..].iter().copied().take_while(|w| (w >> 23) & 0x3f == 0x25).collect();
    assert_eq!(run_moves(&moves), pc as u64, "the stub reports the guard's pc");
    assert!(moves.iter().all(|w| w & 31 == 7), "in x7, the trampoline's pc argument");
    let exit = branch_destination(&code.words, stub + moves.len());
    // budget exit: mov sp, x28; mov x0, x26; x1 = BUDGET_EXHAUSTED_ID; blr x27; b epilogue.
    assert_eq!(code.words[exit], a64::mov_sp(SP, 28));
    assert_eq!(code.words[exit + 1], a64::mov(true, 0, 26));
    let id: Vec<u32> = code.words[exit + 2..].iter().copied().take_while(|w| (w >> 23) & 0x3f == 0x25).collect();
    assert_eq!(run_moves(&id), BUDGET_EXHAUSTED_ID);
    assert_eq!(code.words[exit + 2 + id.len()], a64::blr(27));
    assert!(exit < code.slot_offsets[0] as usize, "one shared exit before the body");
}

#[test]
fn forward_only_programs_get_no_guard() {
    // With a helper call: not a leaf, so the full 80-byte frame, but still no x24.
    let code = compile_asm("mov %r0, 0\njeq %r1, 0, +1\ncall 7\nja +0\nexit").unwrap();
    assert_eq!(code.words[0], a64::stp(PairMode::PreIndex, 29, LR, SP, -80), "the 80-byte frame, no x24");
    assert_eq!(code.stubs_offset as usize, code.words.len(), "no stubs");
    let x24 = [TAKE_ONE, a64::mem_scaled(MemOp::Store, 3, 24, SP, 10), a64::mov(true, 24, 5)];
    assert!(code.words.iter().all(|w| !x24.contains(w)), "x24 is neither saved, loaded nor counted");
    // Entry (19 words), exit (7), abort (2), then the slots: nothing else.
    assert_eq!(code.slot_offsets[0], 28);
    assert!(!code.leaf, "a helper call needs the bridge");
    // Without it, a leaf: no frame (it names no callee-saved register), r0 zeroed, the body
    // right after; each exit is `mov x0, x7; ret`.
    let code = compile_asm("mov %r0, 0\njeq %r1, 0, +1\nmov %r0, 1\nja +0\nexit").unwrap();
    assert_eq!(code.words[0], a64::mov(true, 7, XZR));
    assert_eq!(code.slot_offsets[0], 1);
    assert_eq!(code.words[code.words.len() - 2..], [a64::mov(true, 0, 7), a64::RET]);
    assert!(code.leaf);
    assert!(code.words.iter().all(|w| !x24.contains(w)));
}

#[test]
fn leaves_save_and_zero_only_the_registers_they_name() {
    // No helper, no local call, no back-edge: r6 (x19) saved, zeroed and restored; r0 zeroed;
    // the bridge, trampoline and entry sp (x26-x28) untouched, and no x29/x30 frame: the body
    // is not called, so the link register survives.
    let code = compile_asm("mov %r6, 1\nmov %r0, %r6\nexit").unwrap();
    let entry = [a64::str_pre(19, SP, -16), a64::mov(true, 7, XZR), a64::mov(true, 19, XZR)];
    assert_eq!(code.words[..code.slot_offsets[0] as usize], entry);
    let exit = [a64::mov(true, 0, 7), a64::ldr_post(19, SP, 16), a64::RET];
    assert_eq!(code.words[code.slot_offsets[2] as usize..], exit, "the exit is the epilogue");
    // r10 named: saved (x25, paired with x19 when r6 is named too) and loaded from x3.
    let code = compile_asm("stdw [%r10-8], 1\nmov %r6, 2\nmov %r0, %r6\nexit").unwrap();
    assert_eq!(code.words[0], a64::stp(PairMode::PreIndex, 19, 25, SP, -16));
    assert_eq!(code.words[1], a64::mov(true, 25, 3));
    let end = code.words.len();
    assert_eq!(code.words[end - 2..], [a64::ldp(PairMode::PostIndex, 19, 25, SP, 16), a64::RET]);
    // Three pairs and a single: every exit restores all of them and sp.
    let code = compile_asm("mov %r6, 1\nmov %r7, 2\nmov %r8, 3\nmov %r9, 4\nstdw [%r10-8], 5\nmov %r0, 0\njeq %r1, 0, +1\nexit\nmov %r0, %r9\nexit").unwrap();
    assert_eq!(code.words[0], a64::stp(PairMode::PreIndex, 19, 20, SP, -48));
    let restores = code.words.iter().filter(|&&w| w == a64::mem_scaled(MemOp::Load, 3, 25, SP, 4)).count();
    assert_eq!(restores, 2, "both exits restore x25");
    assert_eq!(code.words.iter().filter(|&&w| w == a64::ldp(PairMode::PostIndex, 19, 20, SP, 48)).count(), 2);
}

#[test]
fn back_edges_are_guarded_with_x24() {
    // pc 4 is the back-edge (cbnz), pc 5 a forward jump that stays unguarded.
    let src = "mov %r0, 0\nmov %r2, 10\nloop:\nadd %r0, 1\nsub %r2, 1\njne %r2, 0, loop\njeq %r0, 3, +0\nexit";
    let code = compile_asm(src).unwrap();
    // Entry: a 96-byte frame saving x24, then x24 = the budget argument (x5).
    assert_eq!(code.words[0], a64::stp(PairMode::PreIndex, 29, LR, SP, -96));
    assert!(code.words[..8].contains(&a64::mem_scaled(MemOp::Store, 3, 24, SP, 10)));
    assert!(code.words[..8].contains(&a64::mov(true, 24, 5)));
    let restore = code.words.iter().position(|&w| w == a64::mem_scaled(MemOp::Load, 3, 24, SP, 10));
    let restore = restore.expect("the epilogue restores x24");
    assert_eq!(code.words[restore + 1], a64::ldp(PairMode::PostIndex, 29, LR, SP, 96));
    assert_guarded(&code, 4);
    let back_edge = slot(&code, 4);
    assert_eq!(back_edge.len(), 3, "guard (2 words) + cbnz");
    assert_eq!(branch_destination(&code.words, code.slot_offsets[4] as usize + 2), code.slot_offsets[2] as usize);
    assert_ne!(slot(&code, 5)[0], TAKE_ONE, "forward jumps are not counted");
    assert_eq!(code.words.iter().filter(|&&w| w == TAKE_ONE).count(), 1);
    // A conditional back-edge with a compare: the guard comes first, since SUBS sets the flags.
    let code = compile_asm("mov %r3, 0\nloop:\nadd %r3, 1\njlt %r3, 300, loop\nmov %r0, %r3\nexit").unwrap();
    assert_guarded(&code, 2);
    assert_eq!(slot(&code, 2)[2], a64::cmp_imm(true, 2, 300), "cmp x2 (r3), #300");
    // A jump to itself is a back-edge too.
    let code = compile_asm("mov %r0, 0\nself:\njeq %r0, 1, self\nexit").unwrap();
    assert_guarded(&code, 1);
}

#[test]
fn calls_are_guarded() {
    let src =
        "mov %r6, 0\ncall local f\nadd %r6, %r0\ncall local f\nadd %r6, %r0\nmov %r0, %r6\nexit\nf:\nmov %r0, 1\nexit";
    let code = compile_asm(src).unwrap();
    assert_guarded(&code, 1);
    assert_guarded(&code, 3);
    // The guard, then the frame push, as before.
    assert_eq!(slot(&code, 1)[2], a64::stp(PairMode::PreIndex, 19, 20, SP, -48));
    assert_eq!(code.words.iter().filter(|&&w| w == TAKE_ONE).count(), 2);
}

#[test]
fn callx_ids_are_32_bits() {
    let code = compile_asm("mov %r1, 1\nmov %r2, 5\ncall %r2\nexit").unwrap();
    // r2 is x1: mov w8, w1 zero-extends, as the interpreter reads `regs[d] as u32`, so no
    // program can name BUDGET_EXHAUSTED_ID.
    assert_eq!(slot(&code, 2)[0], a64::mov(false, 8, 1));
}

#[test]
fn the_bridge_turns_the_budget_id_into_budget_exhausted() {
    let prog_type = ProgramType::conformance(0);
    let mut stack = [0; crate::memory::STACK_BYTES];
    let mut platform = FixedPlatform::default();
    let mut env = Env { maps: &mut [], platform: &mut platform, budget_insns: 0 };
    let mut bridge = super::prepare(&prog_type, &[], &mut stack, &mut [], &mut [], &mut env).unwrap();
    let stopped = bridge.call(BUDGET_EXHAUSTED_ID, [0; 5], 17);
    assert_eq!(stopped.stop, 1);
    assert_eq!(bridge.finish(99), Err(RunError { pc: 17, kind: RunErrorKind::BudgetExhausted }));
    // Only that exact id: the same low 32 bits with other high bits is an unknown helper.
    let mut env = Env { maps: &mut [], platform: &mut platform, budget_insns: 0 };
    let mut bridge = super::prepare(&prog_type, &[], &mut stack, &mut [], &mut [], &mut env).unwrap();
    bridge.call(u64::from(u32::MAX), [0; 5], 3);
    assert_eq!(bridge.finish(0), Err(RunError { pc: 3, kind: RunErrorKind::UnknownHelper(u32::MAX) }));
}

#[test]
fn stack_bytes_used_counts_what_r10_reaches_or_one_frame_per_call_target() {
    let used = |src: &str| {
        let slots = asm::assemble(src).unwrap();
        let prog = Program::load_unverified(&isa::slots_to_bytes(&slots), &ProgramType::conformance(0), &[]).unwrap();
        super::stack_bytes_used(prog.insns())
    };
    // Without calls: as deep as the r10-based accesses reach; the whole frame once r10 escapes.
    assert_eq!(used("mov %r0, 0\nexit"), 0);
    assert_eq!(used("stb [%r10-3], 1\nldxdw %r0, [%r10-16]\nexit"), 16);
    assert_eq!(used("stdw [%r10-8], 1\nmov %r2, %r10\nmov %r0, 0\nexit"), 512);
    assert_eq!(used("mov %r0, 0\njeq %r10, 0, +0\nexit"), 512);
    assert_eq!(used("stxdw [%r10-8], %r10\nmov %r0, 0\nexit"), 512);
    // Two call sites, one target: main + f.
    assert_eq!(used("call local f\ncall local f\nexit\nf:\nmov %r0, 0\nexit"), 1024);
    // f calls g: three frames deep at most.
    assert_eq!(used("call local f\nexit\nf:\ncall local g\nexit\ng:\nmov %r0, 0\nexit"), 1536);
    // Never more than the whole stack.
    let mut many = String::new();
    for i in 0..10 {
        many.push_str(&format!("call local f{i}\n"));
    }
    many.push_str("exit\n");
    for i in 0..10 {
        many.push_str(&format!("f{i}:\nmov %r0, 0\nexit\n"));
    }
    assert_eq!(used(&many), crate::memory::STACK_BYTES);
}

/// A program the verifier should have rejected (it reads a stack byte it never wrote) but, as
/// if the verifier had a bug, carries verifier statistics: the interpreter must show it zeros,
/// not what the previous run left.
#[test]
fn the_interpreter_clears_the_frame_even_for_verified_programs() {
    let load = |src: &str| {
        let slots = asm::assemble(src).unwrap();
        let unchecked =
            Program::load_unverified(&isa::slots_to_bytes(&slots), &ProgramType::conformance(0), &[]).unwrap();
        crate::verifier::VerifiedProgram::assume_verified((*unchecked).clone())
    };
    let writer = load("stdw [%r10-8], 0x5a5a\nstdw [%r10-512], 0x5a5a\nmov %r0, 0\nexit");
    let reader = load("ldxdw %r0, [%r10-8]\nldxdw %r1, [%r10-512]\nor %r0, %r1\nexit");
    let mut interp = Interpreter::new();
    let mut platform = FixedPlatform::default();
    let mut env = Env { maps: &mut [], platform: &mut platform, budget_insns: 100 };
    assert_eq!(interp.run(&writer, &mut [], &mut env), Ok(0));
    assert_eq!(interp.run(&reader, &mut [], &mut env), Ok(0), "the writer's bytes are gone");
}

#[test]
fn entry_masks_give_what_entry_registers_gives() {
    let kinds = [
        ContextKind::None,
        ContextKind::Buffer { len_bytes: 0 },
        ContextKind::Buffer { len_bytes: 8 },
        ContextKind::Struct { size_bytes: 48, writable: false },
        ContextKind::Packet { size_bytes: 24, data_offset: 0, data_end_offset: 8, writable_packet: false },
    ];
    for kind in kinds {
        for len in [0, 8, 48] {
            let mut ctx = alloc::vec![0u8; len];
            let (r1, r2, _) = super::entry_registers(kind, &mut ctx, &mut []);
            assert_eq!(super::EntryMasks::new(kind).registers(&mut ctx), (r1, r2), "{kind:?}, {len} bytes");
        }
    }
}
