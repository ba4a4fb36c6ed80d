//! Disassembler: decoded instructions back to the assembler's syntax (`asm` re-reads it).

use alloc::format;
use alloc::string::String;

use crate::isa::{AluOp, AtomicOp, EndianOp, ImmKind, Insn, JmpCond, Operand, Size, Width};

fn size_suffix(size: Size) -> &'static str {
    match size {
        Size::B => "b",
        Size::H => "h",
        Size::W => "w",
        Size::DW => "dw",
    }
}

fn operand(src: Operand) -> String {
    match src {
        Operand::Reg(r) => format!("%r{r}"),
        Operand::Imm(i) => format!("{i}"),
    }
}

fn mem(reg: u8, off: i16) -> String {
    if off < 0 {
        format!("[%r{reg}-{}]", -(off as i32))
    } else {
        format!("[%r{reg}+{off}]")
    }
}

fn rel(off: i64) -> String {
    if off < 0 {
        format!("{off}")
    } else {
        format!("+{off}")
    }
}

/// One instruction as text; jump targets are relative (`+N`/`-N`).
pub fn format_insn(insn: &Insn) -> String {
    match *insn {
        Insn::Alu { width, op, dst, src } => {
            let w = if width == Width::W32 { "32" } else { "" };
            let name = match op {
                AluOp::Add => "add",
                AluOp::Sub => "sub",
                AluOp::Mul => "mul",
                AluOp::Div => "div",
                AluOp::SDiv => "sdiv",
                AluOp::Or => "or",
                AluOp::And => "and",
                AluOp::Lsh => "lsh",
                AluOp::Rsh => "rsh",
                AluOp::Neg => return format!("neg{w} %r{dst}"),
                AluOp::Mod => "mod",
                AluOp::SMod => "smod",
                AluOp::Xor => "xor",
                AluOp::Mov => "mov",
                AluOp::MovSx(bits) => {
                    let to = if width == Width::W32 { 32 } else { 64 };
                    return format!("movsx{bits}{to} %r{dst}, {}", operand(src));
                }
                AluOp::Arsh => "arsh",
            };
            format!("{name}{w} %r{dst}, {}", operand(src))
        }
        Insn::Endian { op, bits, dst } => {
            let name = match op {
                EndianOp::ToLe => "le",
                EndianOp::ToBe => "be",
                EndianOp::Swap => "bswap",
            };
            format!("{name}{bits} %r{dst}")
        }
        Insn::LoadImm64 { dst, kind: ImmKind::Value, imm } => format!("lddw %r{dst}, {imm:#x}"),
        Insn::LoadImm64 { dst, kind: ImmKind::MapIndex, imm } => format!("lddw %r{dst}, map:{imm}"),
        Insn::LoadImm64Tail => String::from("# lddw high half"),
        Insn::Load { size, sign_extend, dst, src, off } => {
            let s = if sign_extend { "s" } else { "" };
            format!("ldx{s}{} %r{dst}, {}", size_suffix(size), mem(src, off))
        }
        Insn::Store { size, dst, off, src: Operand::Imm(imm) } => {
            format!("st{} {}, {imm}", size_suffix(size), mem(dst, off))
        }
        Insn::Store { size, dst, off, src: Operand::Reg(r) } => {
            format!("stx{} {}, %r{r}", size_suffix(size), mem(dst, off))
        }
        Insn::Atomic { size, op, fetch, dst, src, off } => {
            let w = if size == Size::W { "32" } else { "" };
            let name = match op {
                AtomicOp::Add => "add",
                AtomicOp::Or => "or",
                AtomicOp::And => "and",
                AtomicOp::Xor => "xor",
                AtomicOp::Xchg => "xchg",
                AtomicOp::CmpXchg => "cmpxchg",
            };
            let f = if fetch && !matches!(op, AtomicOp::Xchg | AtomicOp::CmpXchg) { "fetch " } else { "" };
            format!("lock {f}{name}{w} {}, %r{src}", mem(dst, off))
        }
        Insn::Ja { off } => format!("ja {}", rel(off as i64)),
        Insn::JaLong { off } => format!("ja32 {}", rel(off as i64)),
        Insn::Jcond { width, cond, dst, src, off } => {
            let name = match cond {
                JmpCond::Eq => "jeq",
                JmpCond::Gt => "jgt",
                JmpCond::Ge => "jge",
                JmpCond::Set => "jset",
                JmpCond::Ne => "jne",
                JmpCond::Sgt => "jsgt",
                JmpCond::Sge => "jsge",
                JmpCond::Lt => "jlt",
                JmpCond::Le => "jle",
                JmpCond::Slt => "jslt",
                JmpCond::Sle => "jsle",
            };
            let w = if width == Width::W32 { "32" } else { "" };
            format!("{name}{w} %r{dst}, {}, {}", operand(src), rel(off as i64))
        }
        Insn::CallHelper { id } => format!("call {id}"),
        Insn::CallLocal { off } => format!("call local {}", rel(off as i64)),
        Insn::CallReg { reg } => format!("call %r{reg}"),
        Insn::Exit => String::from("exit"),
    }
}

/// A whole program, one line per instruction, prefixed by its pc. The second slot of an
/// `lddw` is skipped.
pub fn format_program(insns: &[Insn]) -> String {
    let mut out = String::new();
    for (pc, insn) in insns.iter().enumerate() {
        if *insn != Insn::LoadImm64Tail {
            out.push_str(&format!("{pc:5}: {}\n", format_insn(insn)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{asm, isa};

    #[test]
    fn disassembly_reassembles_to_the_same_bytes() {
        let src = "mov %r1, 5\nlddw %r2, 0x123456789\nldxsh %r3, [%r10-8]\nlock fetch add32 [%r10-4], %r1\n\
                   jsgt32 %r1, -3, +1\nmovsx1664 %r4, %r1\nbe16 %r4\ncall local +0\nja32 -2\nexit";
        let slots = asm::assemble(src).unwrap();
        let decoded = isa::decode_program(slots.clone()).unwrap();
        let text: String =
            decoded.insns.iter().filter(|i| **i != Insn::LoadImm64Tail).map(|i| format_insn(i) + "\n").collect();
        assert_eq!(asm::assemble(&text).unwrap(), slots);
    }
}
