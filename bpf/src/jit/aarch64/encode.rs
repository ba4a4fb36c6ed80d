//! A64 instruction encoders: each function returns one 32-bit instruction word.
//!
//! Only the forms the eBPF translator needs. `sf` selects the 64-bit (X) or 32-bit (W) form;
//! W-form results zero the upper 32 bits, which is exactly RFC 9669's ALU32 zero-extension.
//!
//! # Resources
//! Arm Architecture Reference Manual for A-profile (DDI 0487), chapter C6 "A64 Base
//! Instruction Descriptions"; every word here is checked against `llvm-mc` output in the tests.

/// A general register number, 0..=30; 31 is XZR or SP depending on the instruction.
pub type Reg = u8;

/// The zero register (or SP where the encoding says so).
pub const XZR: Reg = 31;
/// The stack pointer, in encodings where register 31 means SP.
pub const SP: Reg = 31;
/// The link register.
pub const LR: Reg = 30;

/// Condition codes (Arm ARM C1.2.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cond {
    Eq = 0,
    Ne = 1,
    Hs = 2,
    Lo = 3,
    Hi = 8,
    Ls = 9,
    Ge = 10,
    Lt = 11,
    Gt = 12,
    Le = 13,
}

fn sf(wide: bool) -> u32 {
    u32::from(wide) << 31
}

fn rd_rn(rd: Reg, rn: Reg) -> u32 {
    (rd as u32 & 31) | ((rn as u32 & 31) << 5)
}

fn rd_rn_rm(rd: Reg, rn: Reg, rm: Reg) -> u32 {
    rd_rn(rd, rn) | ((rm as u32 & 31) << 16)
}

/// Data-processing (register) operations with the shape `op Rd, Rn, Rm`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegOp {
    Add = 0x0b00_0000,
    Sub = 0x4b00_0000,
    Subs = 0x6b00_0000,
    And = 0x0a00_0000,
    Ands = 0x6a00_0000,
    Orr = 0x2a00_0000,
    Eor = 0x4a00_0000,
    Udiv = 0x1ac0_0800,
    Sdiv = 0x1ac0_0c00,
    Lslv = 0x1ac0_2000,
    Lsrv = 0x1ac0_2400,
    Asrv = 0x1ac0_2800,
}

/// `op Rd, Rn, Rm`.
pub fn reg_op(op: RegOp, wide: bool, rd: Reg, rn: Reg, rm: Reg) -> u32 {
    op as u32 | sf(wide) | rd_rn_rm(rd, rn, rm)
}

/// `mov Rd, Rm` (ORR with the zero register). The W form zero-extends.
pub fn mov(wide: bool, rd: Reg, rm: Reg) -> u32 {
    reg_op(RegOp::Orr, wide, rd, XZR, rm)
}

/// `mov Rd, sp` / `mov sp, Rn` (ADD immediate 0, where 31 means SP).
pub fn mov_sp(rd: Reg, rn: Reg) -> u32 {
    add_imm(true, rd, rn, 0)
}

/// `add Rd, Rn, #imm12`.
pub fn add_imm(wide: bool, rd: Reg, rn: Reg, imm12: u32) -> u32 {
    0x1100_0000 | sf(wide) | ((imm12 & 0xfff) << 10) | rd_rn(rd, rn)
}

/// `sub Rd, Rn, #imm12`.
pub fn sub_imm(wide: bool, rd: Reg, rn: Reg, imm12: u32) -> u32 {
    0x5100_0000 | sf(wide) | ((imm12 & 0xfff) << 10) | rd_rn(rd, rn)
}

/// `subs Rd, Rn, #imm12`: subtract and set the flags (C clear means it borrowed).
pub fn subs_imm(wide: bool, rd: Reg, rn: Reg, imm12: u32) -> u32 {
    0x7100_0000 | sf(wide) | ((imm12 & 0xfff) << 10) | rd_rn(rd, rn)
}

/// `cmp Rn, #imm12` (SUBS to the zero register).
pub fn cmp_imm(wide: bool, rn: Reg, imm12: u32) -> u32 {
    subs_imm(wide, XZR, rn, imm12)
}

/// `mul Rd, Rn, Rm` (MADD with the zero register as addend).
pub fn mul(wide: bool, rd: Reg, rn: Reg, rm: Reg) -> u32 {
    0x1b00_0000 | sf(wide) | rd_rn_rm(rd, rn, rm) | ((XZR as u32) << 10)
}

/// `msub Rd, Rn, Rm, Ra`: Ra - Rn * Rm.
pub fn msub(wide: bool, rd: Reg, rn: Reg, rm: Reg, ra: Reg) -> u32 {
    0x1b00_8000 | sf(wide) | rd_rn_rm(rd, rn, rm) | ((ra as u32 & 31) << 10)
}

/// Wide-immediate moves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MovWide {
    Movn = 0x1280_0000,
    Movz = 0x5280_0000,
    Movk = 0x7280_0000,
}

/// `movz/movn/movk Rd, #imm16, lsl #(16 * shift)`.
pub fn mov_wide(op: MovWide, wide: bool, rd: Reg, imm16: u16, shift: u32) -> u32 {
    op as u32 | sf(wide) | ((shift & 3) << 21) | ((imm16 as u32) << 5) | (rd as u32 & 31)
}

/// `sbfm Rd, Rn, #immr, #imms` (SXTB/SXTH/SXTW, ASR by immediate).
pub fn sbfm(wide: bool, rd: Reg, rn: Reg, immr: u32, imms: u32) -> u32 {
    0x1300_0000 | sf(wide) | (u32::from(wide) << 22) | ((immr & 63) << 16) | ((imms & 63) << 10) | rd_rn(rd, rn)
}

/// `ubfm Rd, Rn, #immr, #imms` (UXTH, LSL/LSR by immediate).
pub fn ubfm(wide: bool, rd: Reg, rn: Reg, immr: u32, imms: u32) -> u32 {
    0x5300_0000 | sf(wide) | (u32::from(wide) << 22) | ((immr & 63) << 16) | ((imms & 63) << 10) | rd_rn(rd, rn)
}

/// Logical operations with a bitmask immediate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogicalImm {
    And = 0x1200_0000,
    Orr = 0x3200_0000,
    Eor = 0x5200_0000,
    Ands = 0x7200_0000,
}

/// The `(N, immr, imms)` fields encoding `value` as an A64 bitmask immediate (a rotated run of
/// ones, replicated in elements of 2..=64 bits), if it is one. For the W form only the low 32
/// bits count. Arm ARM C6.2 "DecodeBitMasks".
pub fn bitmask_immediate(value: u64, wide: bool) -> Option<(u32, u32, u32)> {
    let v = if wide { value } else { (value & 0xffff_ffff) | (value << 32) };
    if v == 0 || v == u64::MAX {
        return None;
    }
    let mut size = 64u32;
    while size > 2 {
        let half = size / 2;
        let mask = (1u64 << half) - 1;
        if v & mask != (v >> half) & mask {
            break;
        }
        size = half;
    }
    let mask = if size == 64 { u64::MAX } else { (1u64 << size) - 1 };
    let element = v & mask;
    let ones = element.count_ones();
    let run = if ones == 64 { u64::MAX } else { (1u64 << ones) - 1 };
    let rotate_right = |x: u64, r: u32| if r == 0 { x } else { ((x >> r) | (x << (size - r))) & mask };
    let r = (0..size).find(|&r| rotate_right(element, r) == run)?;
    let immr = (size - r) % size;
    let (n, imms) = if size == 64 { (1, ones - 1) } else { (0, (0x3f & !((size << 1) - 1)) | (ones - 1)) };
    Some((n, immr, imms))
}

/// `and/orr/eor/ands Rd, Rn, #imm` for a value [`bitmask_immediate`] accepted.
pub fn logical_imm(op: LogicalImm, wide: bool, rd: Reg, rn: Reg, fields: (u32, u32, u32)) -> u32 {
    let (n, immr, imms) = fields;
    op as u32 | sf(wide) | (n << 22) | (immr << 16) | (imms << 10) | rd_rn(rd, rn)
}

/// `rev Rd, Rn`: reverse the bytes of a W or X register.
pub fn rev(wide: bool, rd: Reg, rn: Reg) -> u32 {
    if wide {
        0xdac0_0c00 | rd_rn(rd, rn)
    } else {
        0x5ac0_0800 | rd_rn(rd, rn)
    }
}

/// `rev16 Wd, Wn`: reverse the bytes in each halfword.
pub fn rev16_w(rd: Reg, rn: Reg) -> u32 {
    0x5ac0_0400 | rd_rn(rd, rn)
}

/// Kind of a single-register load or store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemOp {
    Store,
    Load,
    /// Load and sign-extend to 64 bits.
    LoadSigned,
}

/// log2 of an access size in bytes (0 = byte .. 3 = doubleword).
pub type SizeLog2 = u32;

fn mem_base(op: MemOp, size: SizeLog2) -> u32 {
    let opc = match op {
        MemOp::Store => 0,
        MemOp::Load => 1,
        MemOp::LoadSigned => 2,
    };
    (size << 30) | 0x3800_0000 | (opc << 22)
}

/// `ldur/stur Rt, [Rn, #simm9]` (unscaled, -256..=255).
pub fn mem_unscaled(op: MemOp, size: SizeLog2, rt: Reg, rn: Reg, simm9: i32) -> u32 {
    mem_base(op, size) | (((simm9 as u32) & 0x1ff) << 12) | rd_rn(rt, rn)
}

/// `ldr/str Rt, [Rn, #imm]` with `imm = imm12 << size` (unsigned, scaled).
pub fn mem_scaled(op: MemOp, size: SizeLog2, rt: Reg, rn: Reg, imm12: u32) -> u32 {
    mem_base(op, size) | 0x0100_0000 | ((imm12 & 0xfff) << 10) | rd_rn(rt, rn)
}

/// `ldr/str Rt, [Rn, Xm]`.
pub fn mem_reg(op: MemOp, size: SizeLog2, rt: Reg, rn: Reg, rm: Reg) -> u32 {
    mem_base(op, size) | 0x0020_6800 | rd_rn_rm(rt, rn, rm)
}

/// `str Xt, [sp, #-16]!` style pre-index store of one X register.
pub fn str_pre(rt: Reg, rn: Reg, simm9: i32) -> u32 {
    0xf800_0c00 | (((simm9 as u32) & 0x1ff) << 12) | rd_rn(rt, rn)
}

/// `ldr Xt, [Rn], #simm9` post-index load of one X register.
pub fn ldr_post(rt: Reg, rn: Reg, simm9: i32) -> u32 {
    0xf840_0400 | (((simm9 as u32) & 0x1ff) << 12) | rd_rn(rt, rn)
}

/// Addressing of a register pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PairMode {
    PostIndex = 0x0080_0000,
    Offset = 0x0100_0000,
    PreIndex = 0x0180_0000,
}

/// `stp Xt1, Xt2, [Rn, #off]` (X registers, `off` a multiple of 8 in -512..=504).
pub fn stp(mode: PairMode, rt1: Reg, rt2: Reg, rn: Reg, off: i32) -> u32 {
    0xa800_0000 | mode as u32 | ((((off / 8) as u32) & 0x7f) << 15) | ((rt2 as u32 & 31) << 10) | rd_rn(rt1, rn)
}

/// `ldp Xt1, Xt2, [Rn, #off]`.
pub fn ldp(mode: PairMode, rt1: Reg, rt2: Reg, rn: Reg, off: i32) -> u32 {
    stp(mode, rt1, rt2, rn, off) | 0x0040_0000
}

/// `ldxr Rt, [Rn]`: load exclusive.
pub fn ldxr(wide: bool, rt: Reg, rn: Reg) -> u32 {
    let base: u32 = if wide { 0xc85f_7c00 } else { 0x885f_7c00 };
    base | rd_rn(rt, rn)
}

/// `stxr Ws, Rt, [Rn]` (or `stlxr` with `release`): store exclusive, status 0 on success.
pub fn stxr(wide: bool, release: bool, ws: Reg, rt: Reg, rn: Reg) -> u32 {
    let base: u32 = if wide { 0xc800_7c00 } else { 0x8800_7c00 };
    base | (u32::from(release) << 15) | ((ws as u32 & 31) << 16) | rd_rn(rt, rn)
}

/// `dmb ish`.
pub const DMB_ISH: u32 = 0xd503_3bbf;
/// `ret` (to x30).
pub const RET: u32 = 0xd65f_03c0;
/// `nop`.
pub const NOP: u32 = 0xd503_201f;

/// `b` by `words` instructions (±128 MiB).
pub fn b(words: i32) -> u32 {
    0x1400_0000 | ((words as u32) & 0x03ff_ffff)
}

/// `bl` by `words` instructions.
pub fn bl(words: i32) -> u32 {
    0x9400_0000 | ((words as u32) & 0x03ff_ffff)
}

/// `b.cond` by `words` instructions (±1 MiB).
pub fn b_cond(cond: Cond, words: i32) -> u32 {
    0x5400_0000 | (((words as u32) & 0x7_ffff) << 5) | cond as u32
}

/// `cbz/cbnz Rt, words`.
pub fn cbz(wide: bool, nonzero: bool, rt: Reg, words: i32) -> u32 {
    0x3400_0000 | sf(wide) | (u32::from(nonzero) << 24) | (((words as u32) & 0x7_ffff) << 5) | (rt as u32 & 31)
}

/// `blr Xn`.
pub fn blr(rn: Reg) -> u32 {
    0xd63f_0000 | ((rn as u32 & 31) << 5)
}

/// Appends the shortest MOVZ/MOVN + MOVK sequence that puts `value` in `rd`.
/// With `wide == false` only the low 32 bits count and the upper half is zeroed.
pub fn mov_imm(out: &mut alloc::vec::Vec<u32>, wide: bool, rd: Reg, value: u64) {
    let chunks = if wide { 4 } else { 2 };
    let value = if wide { value } else { value & 0xffff_ffff };
    let half = |i: u32| ((value >> (16 * i)) & 0xffff) as u16;
    let zeros = (0..chunks).filter(|&i| half(i) == 0).count();
    let ones = (0..chunks).filter(|&i| half(i) == 0xffff).count();
    if ones > zeros {
        // MOVN writes !imm16 << shift; the other halves become 0xffff.
        let first = (0..chunks).find(|&i| half(i) != 0xffff).unwrap_or(0);
        out.push(mov_wide(MovWide::Movn, wide, rd, !half(first), first));
        for i in (first + 1)..chunks {
            if half(i) != 0xffff {
                out.push(mov_wide(MovWide::Movk, wide, rd, half(i), i));
            }
        }
    } else {
        let first = (0..chunks).find(|&i| half(i) != 0).unwrap_or(0);
        out.push(mov_wide(MovWide::Movz, wide, rd, half(first), first));
        for i in (first + 1)..chunks {
            if half(i) != 0 {
                out.push(mov_wide(MovWide::Movk, wide, rd, half(i), i));
            }
        }
    }
}
