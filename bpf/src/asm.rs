//! Assembler for the bpf_conformance `.data` assembly syntax (gcc-style: `%r0`, `[%r1+2]`).
//!
//! One instruction per line, `label:` lines, `#` comments, jump targets as labels or `+N`/`-N`.
//! `exit` as a target with no `exit:` label means the first `exit` instruction.
//! Map handles are written `lddw %r1, map:N`; [`map_directives`] reads the maps themselves from
//! `#map KIND key=N value=N max=N` lines (comments to the assembler), map 0 first.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::fmt;

use crate::isa::{self, AluOp, AtomicOp, EndianOp, ImmKind, Insn, JmpCond, Operand, RawInsn, Size, Width};
use crate::maps::{MapDef, MapKind};

/// Why a line did not assemble.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AsmErrorKind {
    UnknownMnemonic,
    OperandCount,
    InvalidRegister,
    InvalidNumber,
    ImmediateRange,
    OffsetRange,
    InvalidMemoryOperand,
    UnknownLabel,
    DuplicateLabel,
    JumpRange,
}

/// An assembly error at a 1-based source line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AsmError {
    pub line: usize,
    pub kind: AsmErrorKind,
}

impl fmt::Display for AsmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            AsmErrorKind::UnknownMnemonic => "unknown mnemonic",
            AsmErrorKind::OperandCount => "wrong number of operands",
            AsmErrorKind::InvalidRegister => "invalid register",
            AsmErrorKind::InvalidNumber => "invalid number",
            AsmErrorKind::ImmediateRange => "immediate out of range",
            AsmErrorKind::OffsetRange => "offset out of range",
            AsmErrorKind::InvalidMemoryOperand => "invalid memory operand",
            AsmErrorKind::UnknownLabel => "unknown label",
            AsmErrorKind::DuplicateLabel => "duplicate label",
            AsmErrorKind::JumpRange => "jump out of range",
        };
        write!(f, "{what} on line {}", self.line)
    }
}

impl core::error::Error for AsmError {}

enum Target<'a> {
    Relative(i64),
    Label(&'a str),
}

enum Pending<'a> {
    Done(Insn),
    Jump { make: fn(i32) -> Option<Insn>, target: Target<'a>, cond: Option<(Width, JmpCond, u8, Operand)> },
    Call(Target<'a>),
}

/// Parses an integer: decimal (i64) or `0x` hex, optionally negative.
pub fn parse_int(text: &str) -> Option<(i128, bool)> {
    let text = text.trim();
    let (neg, body) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (value, hex) = if let Some(h) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        (u64::from_str_radix(h, 16).ok()? as i128, true)
    } else {
        (body.parse::<u64>().ok()? as i128, false)
    };
    Some((if neg { -value } else { value }, hex))
}

fn imm32(text: &str) -> Result<i32, AsmErrorKind> {
    let (v, hex) = parse_int(text).ok_or(AsmErrorKind::InvalidNumber)?;
    let max = if hex { u32::MAX as i128 } else { i32::MAX as i128 };
    if v < i32::MIN as i128 || v > max {
        return Err(AsmErrorKind::ImmediateRange);
    }
    Ok(v as i64 as i32)
}

fn imm64(text: &str) -> Result<u64, AsmErrorKind> {
    let (v, _) = parse_int(text).ok_or(AsmErrorKind::InvalidNumber)?;
    if v < i64::MIN as i128 || v > u64::MAX as i128 {
        return Err(AsmErrorKind::ImmediateRange);
    }
    Ok(v as u64)
}

fn reg(text: &str) -> Result<u8, AsmErrorKind> {
    let n = text.trim().strip_prefix("%r").ok_or(AsmErrorKind::InvalidRegister)?;
    match n.parse::<u8>() {
        Ok(r) if r <= 10 => Ok(r),
        _ => Err(AsmErrorKind::InvalidRegister),
    }
}

fn is_reg(text: &str) -> bool {
    text.trim().starts_with('%')
}

fn operand(text: &str) -> Result<Operand, AsmErrorKind> {
    if is_reg(text) {
        Ok(Operand::Reg(reg(text)?))
    } else {
        Ok(Operand::Imm(imm32(text)?))
    }
}

/// `[%rN+off]` → (register, offset).
fn memory(text: &str) -> Result<(u8, i16), AsmErrorKind> {
    let inner = text
        .trim()
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .ok_or(AsmErrorKind::InvalidMemoryOperand)?
        .trim();
    let split = inner.find(['+', '-']);
    let (r, off) = match split {
        Some(i) => (&inner[..i], &inner[i..]),
        None => (inner, "0"),
    };
    let r = reg(r)?;
    let (v, _) = parse_int(&off.replace(' ', "")).ok_or(AsmErrorKind::InvalidNumber)?;
    let off = i16::try_from(v).map_err(|_| AsmErrorKind::OffsetRange)?;
    Ok((r, off))
}

fn target(text: &str) -> Target<'_> {
    let t = text.trim();
    if t.starts_with('+') || t.starts_with('-') {
        if let Some((v, _)) = parse_int(t) {
            return Target::Relative(v as i64);
        }
    }
    Target::Label(t)
}

fn alu_op(name: &str) -> Option<AluOp> {
    Some(match name {
        "add" => AluOp::Add,
        "sub" => AluOp::Sub,
        "mul" => AluOp::Mul,
        "div" => AluOp::Div,
        "sdiv" => AluOp::SDiv,
        "or" => AluOp::Or,
        "and" => AluOp::And,
        "lsh" => AluOp::Lsh,
        "rsh" => AluOp::Rsh,
        "neg" => AluOp::Neg,
        "mod" => AluOp::Mod,
        "smod" => AluOp::SMod,
        "xor" => AluOp::Xor,
        "mov" => AluOp::Mov,
        "arsh" => AluOp::Arsh,
        _ => return None,
    })
}

fn jmp_cond(name: &str) -> Option<JmpCond> {
    Some(match name {
        "jeq" => JmpCond::Eq,
        "jgt" => JmpCond::Gt,
        "jge" => JmpCond::Ge,
        "jset" => JmpCond::Set,
        "jne" => JmpCond::Ne,
        "jsgt" => JmpCond::Sgt,
        "jsge" => JmpCond::Sge,
        "jlt" => JmpCond::Lt,
        "jle" => JmpCond::Le,
        "jslt" => JmpCond::Slt,
        "jsle" => JmpCond::Sle,
        _ => return None,
    })
}

fn size_of(suffix: &str) -> Option<Size> {
    Some(match suffix {
        "b" => Size::B,
        "h" => Size::H,
        "w" => Size::W,
        "dw" => Size::DW,
        _ => return None,
    })
}

fn split_width(mnemonic: &str) -> (&str, Width) {
    if let Some(base) = mnemonic.strip_suffix("32") {
        (base, Width::W32)
    } else if let Some(base) = mnemonic.strip_suffix("64") {
        (base, Width::W64)
    } else {
        (mnemonic, Width::W64)
    }
}

fn parse_line(line: &str) -> Result<Pending<'_>, AsmErrorKind> {
    let line = line.trim();
    let (mnemonic, rest) = match line.find(char::is_whitespace) {
        Some(i) => (&line[..i], line[i..].trim()),
        None => (line, ""),
    };
    let ops: Vec<&str> = if rest.is_empty() { Vec::new() } else { rest.split(',').map(str::trim).collect() };
    let need = |n: usize| {
        if ops.len() == n {
            Ok(())
        } else {
            Err(AsmErrorKind::OperandCount)
        }
    };
    let done = |insn| Ok(Pending::Done(insn));

    match mnemonic {
        "exit" => {
            need(0)?;
            return done(Insn::Exit);
        }
        "lddw" => {
            need(2)?;
            let dst = reg(ops[0])?;
            if let Some(n) = ops[1].strip_prefix("map:") {
                let idx = imm32(n)?;
                return done(Insn::LoadImm64 { dst, kind: ImmKind::MapIndex, imm: idx as u32 as u64 });
            }
            return done(Insn::LoadImm64 { dst, kind: ImmKind::Value, imm: imm64(ops[1])? });
        }
        "ja" => {
            need(1)?;
            return Ok(Pending::Jump {
                make: |off| i16::try_from(off).ok().map(|_| Insn::Ja { off }),
                target: target(ops[0]),
                cond: None,
            });
        }
        "ja32" => {
            need(1)?;
            return Ok(Pending::Jump { make: |off| Some(Insn::JaLong { off }), target: target(ops[0]), cond: None });
        }
        "call" => {
            if let Some(label) = rest.strip_prefix("local") {
                return Ok(Pending::Call(target(label)));
            }
            need(1)?;
            if is_reg(ops[0]) {
                return done(Insn::CallReg { reg: reg(ops[0])? });
            }
            return done(Insn::CallHelper { id: imm32(ops[0])? as u32 });
        }
        "lock" => return parse_lock(rest),
        _ => {}
    }
    if let Some(bits) = mnemonic.strip_prefix("movsx") {
        let (from, width) = match bits {
            "832" => (8, Width::W32),
            "1632" => (16, Width::W32),
            "864" => (8, Width::W64),
            "1664" => (16, Width::W64),
            "3264" => (32, Width::W64),
            _ => return Err(AsmErrorKind::UnknownMnemonic),
        };
        need(2)?;
        return done(Insn::Alu { width, op: AluOp::MovSx(from), dst: reg(ops[0])?, src: Operand::Reg(reg(ops[1])?) });
    }
    for (prefix, op) in
        [("be", EndianOp::ToBe), ("le", EndianOp::ToLe), ("bswap", EndianOp::Swap), ("swap", EndianOp::Swap)]
    {
        if let Some(bits) = mnemonic.strip_prefix(prefix) {
            if let Ok(bits @ (16 | 32 | 64)) = bits.parse::<u8>() {
                need(1)?;
                return done(Insn::Endian { op, bits, dst: reg(ops[0])? });
            }
        }
    }
    if let Some(rest) = mnemonic.strip_prefix("ldx") {
        let (sign_extend, suffix) = match rest.strip_prefix('s') {
            Some(s) if !s.is_empty() && size_of(s).is_some() && s != "dw" => (true, s),
            _ => (false, rest),
        };
        let size = size_of(suffix).ok_or(AsmErrorKind::UnknownMnemonic)?;
        need(2)?;
        let (src, off) = memory(ops[1])?;
        return done(Insn::Load { size, sign_extend, dst: reg(ops[0])?, src, off });
    }
    if let Some(rest) = mnemonic.strip_prefix("stx") {
        let size = size_of(rest).ok_or(AsmErrorKind::UnknownMnemonic)?;
        need(2)?;
        let (dst, off) = memory(ops[0])?;
        return done(Insn::Store { size, dst, off, src: Operand::Reg(reg(ops[1])?) });
    }
    if let Some(rest) = mnemonic.strip_prefix("st") {
        if let Some(size) = size_of(rest) {
            need(2)?;
            let (dst, off) = memory(ops[0])?;
            return done(Insn::Store { size, dst, off, src: Operand::Imm(imm32(ops[1])?) });
        }
    }
    let (base, width) = split_width(mnemonic);
    if let Some(cond) = jmp_cond(base) {
        need(3)?;
        let dst = reg(ops[0])?;
        let src = operand(ops[1])?;
        return Ok(Pending::Jump {
            make: |off| i16::try_from(off).ok().map(|_| Insn::Exit),
            target: target(ops[2]),
            cond: Some((width, cond, dst, src)),
        });
    }
    if let Some(op) = alu_op(base) {
        if op == AluOp::Neg {
            need(1)?;
            return done(Insn::Alu { width, op, dst: reg(ops[0])?, src: Operand::Imm(0) });
        }
        need(2)?;
        return done(Insn::Alu { width, op, dst: reg(ops[0])?, src: operand(ops[1])? });
    }
    Err(AsmErrorKind::UnknownMnemonic)
}

fn parse_lock(rest: &str) -> Result<Pending<'_>, AsmErrorKind> {
    let mut words = rest.splitn(2, char::is_whitespace);
    let mut op_word = words.next().unwrap_or("");
    let mut tail = words.next().unwrap_or("").trim();
    let mut fetch = false;
    if op_word == "fetch" {
        fetch = true;
        let mut w = tail.splitn(2, char::is_whitespace);
        op_word = w.next().unwrap_or("");
        tail = w.next().unwrap_or("").trim();
    }
    let (base, width) = split_width(op_word);
    let size = if width == Width::W32 { Size::W } else { Size::DW };
    let op = match base {
        "add" => AtomicOp::Add,
        "or" => AtomicOp::Or,
        "and" => AtomicOp::And,
        "xor" => AtomicOp::Xor,
        "xchg" if !fetch => AtomicOp::Xchg,
        "cmpxchg" if !fetch => AtomicOp::CmpXchg,
        _ => return Err(AsmErrorKind::OperandCount),
    };
    let fetch = fetch || matches!(op, AtomicOp::Xchg | AtomicOp::CmpXchg);
    let ops: Vec<&str> = tail.split(',').map(str::trim).collect();
    if ops.len() != 2 || ops[1].is_empty() {
        return Err(AsmErrorKind::OperandCount);
    }
    let (dst, off) = memory(ops[0])?;
    Ok(Pending::Done(Insn::Atomic { size, op, fetch, dst, src: reg(ops[1])?, off }))
}

/// Assembles source text into instruction slots.
pub fn assemble(source: &str) -> Result<Vec<RawInsn>, AsmError> {
    let mut labels: BTreeMap<&str, usize> = BTreeMap::new();
    let mut pending: Vec<(usize, usize, Pending<'_>)> = Vec::new();
    let mut slot = 0usize;
    let mut first_exit = None;
    for (index, raw_line) in source.lines().enumerate() {
        let line_no = index + 1;
        let line = raw_line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        if let Some(label) = line.strip_suffix(':') {
            if labels.insert(label.trim(), slot).is_some() {
                return Err(AsmError { line: line_no, kind: AsmErrorKind::DuplicateLabel });
            }
            continue;
        }
        let p = parse_line(line).map_err(|kind| AsmError { line: line_no, kind })?;
        let slots = match &p {
            Pending::Done(insn) => {
                if *insn == Insn::Exit && first_exit.is_none() {
                    first_exit = Some(slot);
                }
                insn.slots()
            }
            _ => 1,
        };
        pending.push((line_no, slot, p));
        slot += slots;
    }
    let mut out = Vec::with_capacity(slot);
    for (line, at, p) in pending {
        let fail = |kind| AsmError { line, kind };
        let resolve = |t: &Target<'_>| -> Result<i64, AsmError> {
            match *t {
                Target::Relative(off) => Ok(off),
                Target::Label(name) => {
                    let dest = match labels.get(name) {
                        Some(&d) => d,
                        None if name == "exit" => first_exit.ok_or(fail(AsmErrorKind::UnknownLabel))?,
                        None => return Err(fail(AsmErrorKind::UnknownLabel)),
                    };
                    Ok(dest as i64 - at as i64 - 1)
                }
            }
        };
        let insn = match p {
            Pending::Done(insn) => insn,
            Pending::Call(t) => {
                let off = i32::try_from(resolve(&t)?).map_err(|_| fail(AsmErrorKind::JumpRange))?;
                Insn::CallLocal { off }
            }
            Pending::Jump { make, target, cond } => {
                let off = i32::try_from(resolve(&target)?).map_err(|_| fail(AsmErrorKind::JumpRange))?;
                let base = make(off).ok_or(fail(AsmErrorKind::JumpRange))?;
                match cond {
                    Some((width, cond, dst, src)) => Insn::Jcond { width, cond, dst, src, off: off as i16 },
                    None => base,
                }
            }
        };
        isa::encode(&insn, &mut out);
    }
    Ok(out)
}

/// Why a `#map` line did not parse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapDirectiveErrorKind {
    /// The kind is not `hash`, `array` or `percpu_array`.
    UnknownKind,
    /// A word after the kind is not `name=number`.
    NotAField,
    /// A field other than `key`, `value` and `max`.
    UnknownField,
    /// A field's value is not a 32-bit decimal or `0x` hex number.
    InvalidNumber,
    /// `key=`, `value=` or `max=` is missing.
    MissingField,
}

/// A `#map` error at a 1-based source line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MapDirectiveError {
    pub line: usize,
    pub kind: MapDirectiveErrorKind,
}

impl fmt::Display for MapDirectiveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            MapDirectiveErrorKind::UnknownKind => "map kind must be hash, array or percpu_array",
            MapDirectiveErrorKind::NotAField => "map fields look like key=4",
            MapDirectiveErrorKind::UnknownField => "unknown map field (key, value, max)",
            MapDirectiveErrorKind::InvalidNumber => "a map field needs a 32-bit number",
            MapDirectiveErrorKind::MissingField => "a map needs key=, value= and max=",
        };
        write!(f, "line {}: {what} (write `#map hash key=4 value=8 max=64`)", self.line)
    }
}

impl core::error::Error for MapDirectiveError {}

/// The maps an assembly file declares with `#map KIND key=N value=N max=N` lines, in order: the
/// first is `map:0`. KIND is `hash`, `array` or `percpu_array`; sizes are in bytes.
pub fn map_directives(source: &str) -> Result<Vec<MapDef>, MapDirectiveError> {
    let mut maps = Vec::new();
    for (index, line) in source.lines().enumerate() {
        let mut words = line.split_whitespace();
        if words.next() != Some("#map") {
            continue;
        }
        let fail = |kind| MapDirectiveError { line: index + 1, kind };
        let kind = match words.next() {
            Some("hash") => MapKind::Hash,
            Some("array") => MapKind::Array,
            Some("percpu_array") => MapKind::PerCpuArray,
            _ => return Err(fail(MapDirectiveErrorKind::UnknownKind)),
        };
        let (mut key, mut value, mut max) = (None, None, None);
        for word in words {
            let (name, number) = word.split_once('=').ok_or(fail(MapDirectiveErrorKind::NotAField))?;
            let n = match parse_int(number) {
                Some((n, _)) => u32::try_from(n).map_err(|_| fail(MapDirectiveErrorKind::InvalidNumber))?,
                None => return Err(fail(MapDirectiveErrorKind::InvalidNumber)),
            };
            match name {
                "key" => key = Some(n),
                "value" => value = Some(n),
                "max" => max = Some(n),
                _ => return Err(fail(MapDirectiveErrorKind::UnknownField)),
            }
        }
        match (key, value, max) {
            (Some(key_size_bytes), Some(value_size_bytes), Some(max_entries)) => {
                maps.push(MapDef { kind, key_size_bytes, value_size_bytes, max_entries })
            }
            _ => return Err(fail(MapDirectiveErrorKind::MissingField)),
        }
    }
    Ok(maps)
}

/// 20,000 lines of assembler-like garbage (mnemonics, registers, operands, stray punctuation),
/// for the tests that assembler and readers of assembly never panic.
#[cfg(test)]
pub(crate) fn garbage_texts() -> impl Iterator<Item = alloc::string::String> {
    let tokens = [
        "mov",
        "lddw",
        "ldxsw",
        "stxdw",
        "lock",
        "fetch",
        "cmpxchg32",
        "ja32",
        "jsle",
        "call",
        "local",
        "movsx1632",
        "be16",
        "%r1",
        "%r10",
        "%r11",
        "[%r2+",
        "-0x8000]",
        "[%r10-8]",
        "0xffffffff",
        "-",
        "+",
        ",",
        ":",
        "#",
        "exit",
        "label",
        "9223372036854775808",
        "\u{e9}",
        " ",
        "\n",
    ];
    let mut state = 0x1234_5678u64;
    (0..20_000).map(move |_| {
        let mut text = alloc::string::String::new();
        for _ in 0..(state % 12) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            text.push_str(tokens[(state % tokens.len() as u64) as usize]);
            if state & 0x100 != 0 {
                text.push(' ');
            }
        }
        text
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assembles_lddw_jumps_and_exit_target() {
        let slots = assemble("lddw %r0, 0x1122334455667788\njne %r0, 0, exit\nmov %r0, 1\nexit\n").unwrap();
        assert_eq!(slots.len(), 5);
        assert_eq!(slots[2], RawInsn::new(0x55, 0, 0, 1, 0));
    }

    #[test]
    fn garbage_never_panics() {
        for text in super::garbage_texts() {
            let _ = assemble(&text);
        }
    }

    #[test]
    fn range_errors() {
        assert_eq!(assemble("mov32 %r0, 2147483648").unwrap_err().kind, AsmErrorKind::ImmediateRange);
        assert!(assemble("mov32 %r0, 0xffffffff").is_ok());
        assert_eq!(assemble("ldxb %r0, [%r1+0x10000]").unwrap_err().kind, AsmErrorKind::OffsetRange);
        assert_eq!(assemble("lock").unwrap_err().kind, AsmErrorKind::OperandCount);
    }

    #[test]
    fn map_directives_parse_and_explain_mistakes() {
        let maps =
            map_directives("#map hash key=4 value=16 max=64\nmov %r0, 0\n#map array key=4 value=0x8 max=1\nexit")
                .unwrap();
        assert_eq!(
            maps,
            [
                MapDef { kind: MapKind::Hash, key_size_bytes: 4, value_size_bytes: 16, max_entries: 64 },
                MapDef { kind: MapKind::Array, key_size_bytes: 4, value_size_bytes: 8, max_entries: 1 },
            ]
        );
        assert_eq!(map_directives("# a comment\n#mapping is not a map\nexit").unwrap(), []);
        let error = |text| map_directives(text).unwrap_err();
        assert_eq!(error("exit\n#map tree key=4 value=8 max=1").line, 2);
        assert!(error("#map tree key=4 value=8 max=1").to_string().contains("map kind"));
        assert_eq!(error("#map hash key=4 value=8").kind, MapDirectiveErrorKind::MissingField);
        assert!(error("#map hash key=4 value=8").to_string().contains("max="));
        assert_eq!(error("#map hash key=4 value=8 max=-1").kind, MapDirectiveErrorKind::InvalidNumber);
        assert_eq!(error("#map hash key=4 value=8 max=1 flags=0").kind, MapDirectiveErrorKind::UnknownField);
        assert_eq!(error("#map hash key 4").kind, MapDirectiveErrorKind::NotAField);
    }
}
