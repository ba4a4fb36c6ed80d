//! Exact RFC 9669 arithmetic, shared by the interpreter and the verifier's constant folding.
//!
//! # Resources
//! RFC 9669 section 4.1: division by zero yields 0, modulo by zero leaves the dividend,
//! signed `INT_MIN / -1` is `INT_MIN` and `INT_MIN % -1` is 0, shift counts are masked,
//! 32-bit results are zero-extended.

use crate::isa::{AluOp, EndianOp, JmpCond, Width};

/// Result of a 64-bit ALU operation; `src` is already sign-extended for immediates.
#[inline(always)]
pub fn alu64(op: AluOp, dst: u64, src: u64) -> u64 {
    match op {
        AluOp::Add => dst.wrapping_add(src),
        AluOp::Sub => dst.wrapping_sub(src),
        AluOp::Mul => dst.wrapping_mul(src),
        AluOp::Div => dst.checked_div(src).unwrap_or(0),
        AluOp::SDiv => {
            if src == 0 {
                0
            } else {
                (dst as i64).wrapping_div(src as i64) as u64
            }
        }
        AluOp::Or => dst | src,
        AluOp::And => dst & src,
        AluOp::Lsh => dst << (src & 63),
        AluOp::Rsh => dst >> (src & 63),
        AluOp::Neg => (dst as i64).wrapping_neg() as u64,
        AluOp::Mod => dst.checked_rem(src).unwrap_or(dst),
        AluOp::SMod => {
            if src == 0 {
                dst
            } else {
                (dst as i64).wrapping_rem(src as i64) as u64
            }
        }
        AluOp::Xor => dst ^ src,
        AluOp::Mov => src,
        AluOp::MovSx(8) => src as u8 as i8 as i64 as u64,
        AluOp::MovSx(16) => src as u16 as i16 as i64 as u64,
        AluOp::MovSx(_) => src as u32 as i32 as i64 as u64,
        AluOp::Arsh => ((dst as i64) >> (src & 63)) as u64,
    }
}

/// Result of a 32-bit ALU operation, zero-extended to 64 bits.
#[inline(always)]
pub fn alu32(op: AluOp, dst: u64, src: u64) -> u64 {
    let (d, s) = (dst as u32, src as u32);
    let r: u32 = match op {
        AluOp::Add => d.wrapping_add(s),
        AluOp::Sub => d.wrapping_sub(s),
        AluOp::Mul => d.wrapping_mul(s),
        AluOp::Div => d.checked_div(s).unwrap_or(0),
        AluOp::SDiv => {
            if s == 0 {
                0
            } else {
                (d as i32).wrapping_div(s as i32) as u32
            }
        }
        AluOp::Or => d | s,
        AluOp::And => d & s,
        AluOp::Lsh => d << (s & 31),
        AluOp::Rsh => d >> (s & 31),
        AluOp::Neg => (d as i32).wrapping_neg() as u32,
        AluOp::Mod => d.checked_rem(s).unwrap_or(d),
        AluOp::SMod => {
            if s == 0 {
                d
            } else {
                (d as i32).wrapping_rem(s as i32) as u32
            }
        }
        AluOp::Xor => d ^ s,
        AluOp::Mov => s,
        AluOp::MovSx(8) => s as u8 as i8 as i32 as u32,
        AluOp::MovSx(_) => s as u16 as i16 as i32 as u32,
        AluOp::Arsh => ((d as i32) >> (s & 31)) as u32,
    };
    r as u64
}

/// Either width.
#[inline(always)]
pub fn alu(width: Width, op: AluOp, dst: u64, src: u64) -> u64 {
    match width {
        Width::W64 => alu64(op, dst, src),
        Width::W32 => alu32(op, dst, src),
    }
}

/// Byte-order conversion on a little-endian machine.
#[inline(always)]
pub fn endian(op: EndianOp, bits: u8, value: u64) -> u64 {
    match (op, bits) {
        (EndianOp::ToLe, 16) => value as u16 as u64,
        (EndianOp::ToLe, 32) => value as u32 as u64,
        (EndianOp::ToLe, _) => value,
        (_, 16) => (value as u16).swap_bytes() as u64,
        (_, 32) => (value as u32).swap_bytes() as u64,
        (_, _) => value.swap_bytes(),
    }
}

/// Whether a conditional jump is taken.
#[inline(always)]
pub fn condition(width: Width, cond: JmpCond, dst: u64, src: u64) -> bool {
    match width {
        Width::W64 => cond64(cond, dst, src),
        Width::W32 => cond32(cond, dst as u32, src as u32),
    }
}

#[inline(always)]
fn cond64(cond: JmpCond, a: u64, b: u64) -> bool {
    match cond {
        JmpCond::Eq => a == b,
        JmpCond::Ne => a != b,
        JmpCond::Gt => a > b,
        JmpCond::Ge => a >= b,
        JmpCond::Lt => a < b,
        JmpCond::Le => a <= b,
        JmpCond::Set => a & b != 0,
        JmpCond::Sgt => (a as i64) > (b as i64),
        JmpCond::Sge => (a as i64) >= (b as i64),
        JmpCond::Slt => (a as i64) < (b as i64),
        JmpCond::Sle => (a as i64) <= (b as i64),
    }
}

#[inline(always)]
fn cond32(cond: JmpCond, a: u32, b: u32) -> bool {
    match cond {
        JmpCond::Eq => a == b,
        JmpCond::Ne => a != b,
        JmpCond::Gt => a > b,
        JmpCond::Ge => a >= b,
        JmpCond::Lt => a < b,
        JmpCond::Le => a <= b,
        JmpCond::Set => a & b != 0,
        JmpCond::Sgt => (a as i32) > (b as i32),
        JmpCond::Sge => (a as i32) >= (b as i32),
        JmpCond::Slt => (a as i32) < (b as i32),
        JmpCond::Sle => (a as i32) <= (b as i32),
    }
}

/// The immediate as a 64-bit source operand: sign-extended (RFC 9669 section 4.1).
#[inline(always)]
pub const fn imm64(imm: i32) -> u64 {
    imm as i64 as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edge_cases() {
        assert_eq!(alu64(AluOp::Div, 5, 0), 0);
        assert_eq!(alu64(AluOp::Mod, 5, 0), 5);
        assert_eq!(alu32(AluOp::Mod, 0xffff_ffff_0000_0005, 0), 5);
        assert_eq!(alu64(AluOp::SDiv, i64::MIN as u64, u64::MAX), i64::MIN as u64);
        assert_eq!(alu64(AluOp::SMod, i64::MIN as u64, u64::MAX), 0);
        assert_eq!(alu32(AluOp::SDiv, 0x8000_0000, 0xffff_ffff), 0x8000_0000);
        assert_eq!(alu64(AluOp::Lsh, 1, 65), 2);
        assert_eq!(alu32(AluOp::Arsh, 0x8000_0000, 31), 0xffff_ffff);
        assert_eq!(alu64(AluOp::MovSx(32), 0, 0x8000_0000), 0xffff_ffff_8000_0000);
        assert_eq!(endian(EndianOp::ToBe, 16, 0x1122_3344), 0x4433);
    }
}
