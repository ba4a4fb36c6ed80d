//! RFC 9669 instruction encoding: the one decoder (and encoder) every other module uses.
//!
//! # Resources
//! RFC 9669 "BPF Instruction Set Architecture", sections 3 (encoding), 4 (arithmetic and jump
//! instructions) and 5 (load and store instructions). `callx` (opcode 0x8d, register in `dst`)
//! follows uBPF and is not in the RFC.

use alloc::vec::Vec;

use crate::error::{ErrorKind, Field, VerifyError};

/// Size of one instruction slot in bytes.
pub const INSN_SIZE_BYTES: usize = 8;
/// Largest program accepted, in instruction slots (Linux's privileged limit).
pub const MAX_PROGRAM_SLOTS: usize = 1_000_000;
/// Number of general registers, r0..=r10.
pub const REGISTER_COUNT: usize = 11;
/// The read-only frame pointer.
pub const FRAME_POINTER: u8 = 10;

/// Instruction classes (RFC 9669 section 3.1).
pub mod class {
    pub const LD: u8 = 0x00;
    pub const LDX: u8 = 0x01;
    pub const ST: u8 = 0x02;
    pub const STX: u8 = 0x03;
    pub const ALU: u8 = 0x04;
    pub const JMP: u8 = 0x05;
    pub const JMP32: u8 = 0x06;
    pub const ALU64: u8 = 0x07;
}

/// Memory access modes and sizes (RFC 9669 section 5.1).
pub mod mem {
    pub const SIZE_W: u8 = 0x00;
    pub const SIZE_H: u8 = 0x08;
    pub const SIZE_B: u8 = 0x10;
    pub const SIZE_DW: u8 = 0x18;
    pub const MODE_IMM: u8 = 0x00;
    pub const MODE_MEM: u8 = 0x60;
    pub const MODE_MEMSX: u8 = 0x80;
    pub const MODE_ATOMIC: u8 = 0xc0;
}

/// Atomic operation codes carried in `imm` (RFC 9669 section 5.3).
pub mod atomic {
    pub const ADD: i32 = 0x00;
    pub const OR: i32 = 0x40;
    pub const AND: i32 = 0x50;
    pub const XOR: i32 = 0xa0;
    pub const FETCH: i32 = 0x01;
    pub const XCHG: i32 = 0xe0 | FETCH;
    pub const CMPXCHG: i32 = 0xf0 | FETCH;
}

/// `src` value of an `lddw` whose immediate is a map index (Linux's `BPF_PSEUDO_MAP_FD`).
pub const PSEUDO_MAP_INDEX: u8 = 1;
/// `src` value of a program-local call (RFC 9669 section 4.3.1).
pub const PSEUDO_CALL_LOCAL: u8 = 1;

/// One raw 8-byte instruction slot, fields as they are encoded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct RawInsn {
    pub opcode: u8,
    pub dst: u8,
    pub src: u8,
    pub off: i16,
    pub imm: i32,
}

impl RawInsn {
    /// Reads a slot from its little-endian memory form.
    pub fn from_bytes(bytes: [u8; 8]) -> Self {
        RawInsn {
            opcode: bytes[0],
            dst: bytes[1] & 0x0f,
            src: bytes[1] >> 4,
            off: i16::from_le_bytes([bytes[2], bytes[3]]),
            imm: i32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]),
        }
    }

    /// The little-endian memory form of this slot.
    pub fn to_bytes(self) -> [u8; 8] {
        let off = self.off.to_le_bytes();
        let imm = self.imm.to_le_bytes();
        [self.opcode, (self.dst & 0x0f) | (self.src << 4), off[0], off[1], imm[0], imm[1], imm[2], imm[3]]
    }

    /// The slot read as one little-endian u64 (the `-- raw` form of `lddw.data`).
    pub fn from_u64(value: u64) -> Self {
        Self::from_bytes(value.to_le_bytes())
    }

    /// Builds a slot from its fields.
    pub const fn new(opcode: u8, dst: u8, src: u8, off: i16, imm: i32) -> Self {
        RawInsn { opcode, dst, src, off, imm }
    }

    /// Instruction class (low three bits of the opcode).
    pub const fn class(self) -> u8 {
        self.opcode & 0x07
    }
}

/// Splits a byte string into slots; the length must be a multiple of eight.
pub fn slots_from_bytes(bytes: &[u8]) -> Result<Vec<RawInsn>, VerifyError> {
    if !bytes.len().is_multiple_of(INSN_SIZE_BYTES) {
        return Err(VerifyError::new(bytes.len() / INSN_SIZE_BYTES, ErrorKind::TruncatedInstruction));
    }
    let mut out = Vec::with_capacity(bytes.len() / INSN_SIZE_BYTES);
    for chunk in bytes.chunks_exact(INSN_SIZE_BYTES) {
        let mut b = [0u8; 8];
        b.copy_from_slice(chunk);
        out.push(RawInsn::from_bytes(b));
    }
    Ok(out)
}

/// Flattens slots back into bytes.
pub fn slots_to_bytes(slots: &[RawInsn]) -> Vec<u8> {
    slots.iter().flat_map(|s| s.to_bytes()).collect()
}

/// Operand width of an ALU or jump instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Width {
    W32,
    W64,
}

/// Memory access size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Size {
    B,
    H,
    W,
    DW,
}

impl Size {
    /// Access size in bytes.
    pub const fn bytes(self) -> u8 {
        match self {
            Size::B => 1,
            Size::H => 2,
            Size::W => 4,
            Size::DW => 8,
        }
    }

    const fn from_opcode(opcode: u8) -> Size {
        match opcode & 0x18 {
            mem::SIZE_W => Size::W,
            mem::SIZE_H => Size::H,
            mem::SIZE_B => Size::B,
            _ => Size::DW,
        }
    }

    const fn bits(self) -> u8 {
        match self {
            Size::W => mem::SIZE_W,
            Size::H => mem::SIZE_H,
            Size::B => mem::SIZE_B,
            Size::DW => mem::SIZE_DW,
        }
    }
}

/// Second operand of an ALU, store or conditional jump.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Operand {
    Reg(u8),
    Imm(i32),
}

/// ALU operations, signed variants and MOVSX spelled out (RFC 9669 section 4.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AluOp {
    Add,
    Sub,
    Mul,
    Div,
    SDiv,
    Or,
    And,
    Lsh,
    Rsh,
    Neg,
    Mod,
    SMod,
    Xor,
    Mov,
    /// Sign-extending move from the low 8, 16 or 32 bits.
    MovSx(u8),
    Arsh,
}

/// Byte-swap flavours (RFC 9669 section 4.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EndianOp {
    ToLe,
    ToBe,
    Swap,
}

/// Conditional jump predicates (RFC 9669 section 4.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum JmpCond {
    Eq,
    Gt,
    Ge,
    Set,
    Ne,
    Sgt,
    Sge,
    Lt,
    Le,
    Slt,
    Sle,
}

/// Atomic read-modify-write operations (RFC 9669 section 5.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AtomicOp {
    Add,
    Or,
    And,
    Xor,
    Xchg,
    CmpXchg,
}

/// Meaning of a 64-bit immediate load.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ImmKind {
    /// A plain 64-bit constant.
    Value,
    /// A handle to the map with this index in the program's map table.
    MapIndex,
}

/// A decoded instruction. Jump offsets are relative to the next slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Insn {
    Alu {
        width: Width,
        op: AluOp,
        dst: u8,
        src: Operand,
    },
    Endian {
        op: EndianOp,
        bits: u8,
        dst: u8,
    },
    LoadImm64 {
        dst: u8,
        kind: ImmKind,
        imm: u64,
    },
    /// Second slot of an `lddw`; never executed and never a jump target.
    LoadImm64Tail,
    Load {
        size: Size,
        sign_extend: bool,
        dst: u8,
        src: u8,
        off: i16,
    },
    Store {
        size: Size,
        dst: u8,
        off: i16,
        src: Operand,
    },
    Atomic {
        size: Size,
        op: AtomicOp,
        fetch: bool,
        dst: u8,
        src: u8,
        off: i16,
    },
    Ja {
        off: i32,
    },
    /// `gotol` (JMP32 class JA): the offset comes from `imm`.
    JaLong {
        off: i32,
    },
    Jcond {
        width: Width,
        cond: JmpCond,
        dst: u8,
        src: Operand,
        off: i16,
    },
    CallHelper {
        id: u32,
    },
    CallLocal {
        off: i32,
    },
    CallReg {
        reg: u8,
    },
    Exit,
}

impl Insn {
    /// Number of slots the instruction occupies.
    pub const fn slots(&self) -> usize {
        match self {
            Insn::LoadImm64 { .. } => 2,
            _ => 1,
        }
    }

    /// Jump target of a `ja`, conditional jump or local call at `pc`, if any.
    pub fn jump_target(&self, pc: usize) -> Option<i64> {
        let off = match *self {
            Insn::Ja { off } | Insn::JaLong { off } | Insn::CallLocal { off } => off as i64,
            Insn::Jcond { off, .. } => off as i64,
            _ => return None,
        };
        Some(pc as i64 + 1 + off)
    }
}

fn check_reg(reg: u8) -> Result<u8, ErrorKind> {
    if reg as usize >= REGISTER_COUNT {
        Err(ErrorKind::InvalidRegister(reg))
    } else {
        Ok(reg)
    }
}

fn must_be_zero(field: Field, value: i64) -> Result<(), ErrorKind> {
    if value != 0 {
        Err(ErrorKind::NonZeroField(field))
    } else {
        Ok(())
    }
}

fn alu_op(code: u8, off: i16, width: Width, is_reg: bool) -> Result<AluOp, ErrorKind> {
    let plain = |op| {
        if off == 0 {
            Ok(op)
        } else {
            Err(ErrorKind::NonZeroField(Field::Offset))
        }
    };
    match code {
        0x00 => plain(AluOp::Add),
        0x10 => plain(AluOp::Sub),
        0x20 => plain(AluOp::Mul),
        0x30 => match off {
            0 => Ok(AluOp::Div),
            1 => Ok(AluOp::SDiv),
            _ => Err(ErrorKind::NonZeroField(Field::Offset)),
        },
        0x40 => plain(AluOp::Or),
        0x50 => plain(AluOp::And),
        0x60 => plain(AluOp::Lsh),
        0x70 => plain(AluOp::Rsh),
        0x80 => plain(AluOp::Neg),
        0x90 => match off {
            0 => Ok(AluOp::Mod),
            1 => Ok(AluOp::SMod),
            _ => Err(ErrorKind::NonZeroField(Field::Offset)),
        },
        0xa0 => plain(AluOp::Xor),
        0xb0 => match (off, is_reg, width) {
            (0, _, _) => Ok(AluOp::Mov),
            (8 | 16, true, _) | (32, true, Width::W64) => Ok(AluOp::MovSx(off as u8)),
            _ => Err(ErrorKind::NonZeroField(Field::Offset)),
        },
        0xc0 => plain(AluOp::Arsh),
        _ => Err(ErrorKind::UnknownOpcode),
    }
}

fn jmp_cond(code: u8) -> Option<JmpCond> {
    Some(match code {
        0x10 => JmpCond::Eq,
        0x20 => JmpCond::Gt,
        0x30 => JmpCond::Ge,
        0x40 => JmpCond::Set,
        0x50 => JmpCond::Ne,
        0x60 => JmpCond::Sgt,
        0x70 => JmpCond::Sge,
        0xa0 => JmpCond::Lt,
        0xb0 => JmpCond::Le,
        0xc0 => JmpCond::Slt,
        0xd0 => JmpCond::Sle,
        _ => return None,
    })
}

/// Decodes the instruction starting at `slots[0]`; `slots[1]` is consulted only for `lddw`.
/// Never panics; every unused field must be zero.
pub fn decode(slots: &[RawInsn]) -> Result<Insn, ErrorKind> {
    let Some(&raw) = slots.first() else {
        return Err(ErrorKind::TruncatedInstruction);
    };
    let opcode = raw.opcode;
    match raw.class() {
        class::ALU | class::ALU64 => {
            let width = if raw.class() == class::ALU64 { Width::W64 } else { Width::W32 };
            let dst = check_reg(raw.dst)?;
            let is_reg = opcode & 0x08 != 0;
            let code = opcode & 0xf0;
            if code == 0xd0 {
                let op = match (width, is_reg) {
                    (Width::W32, false) => EndianOp::ToLe,
                    (Width::W32, true) => EndianOp::ToBe,
                    (Width::W64, false) => EndianOp::Swap,
                    (Width::W64, true) => return Err(ErrorKind::UnknownOpcode),
                };
                must_be_zero(Field::Src, raw.src as i64)?;
                must_be_zero(Field::Offset, raw.off as i64)?;
                if !matches!(raw.imm, 16 | 32 | 64) {
                    return Err(ErrorKind::InvalidImmediate);
                }
                return Ok(Insn::Endian { op, bits: raw.imm as u8, dst });
            }
            let op = alu_op(code, raw.off, width, is_reg)?;
            if op == AluOp::Neg {
                if is_reg {
                    return Err(ErrorKind::UnknownOpcode);
                }
                must_be_zero(Field::Src, raw.src as i64)?;
                must_be_zero(Field::Imm, raw.imm as i64)?;
                return Ok(Insn::Alu { width, op, dst, src: Operand::Imm(0) });
            }
            let src = if is_reg {
                must_be_zero(Field::Imm, raw.imm as i64)?;
                Operand::Reg(check_reg(raw.src)?)
            } else {
                must_be_zero(Field::Src, raw.src as i64)?;
                Operand::Imm(raw.imm)
            };
            Ok(Insn::Alu { width, op, dst, src })
        }
        class::JMP | class::JMP32 => {
            let wide = raw.class() == class::JMP;
            let is_reg = opcode & 0x08 != 0;
            match opcode & 0xf0 {
                0x00 => {
                    if is_reg {
                        return Err(ErrorKind::UnknownOpcode);
                    }
                    must_be_zero(Field::Dst, raw.dst as i64)?;
                    must_be_zero(Field::Src, raw.src as i64)?;
                    if wide {
                        must_be_zero(Field::Imm, raw.imm as i64)?;
                        Ok(Insn::Ja { off: raw.off as i32 })
                    } else {
                        must_be_zero(Field::Offset, raw.off as i64)?;
                        Ok(Insn::JaLong { off: raw.imm })
                    }
                }
                0x80 if wide => {
                    must_be_zero(Field::Offset, raw.off as i64)?;
                    if is_reg {
                        must_be_zero(Field::Src, raw.src as i64)?;
                        must_be_zero(Field::Imm, raw.imm as i64)?;
                        return Ok(Insn::CallReg { reg: check_reg(raw.dst)? });
                    }
                    must_be_zero(Field::Dst, raw.dst as i64)?;
                    match raw.src {
                        0 => Ok(Insn::CallHelper { id: raw.imm as u32 }),
                        PSEUDO_CALL_LOCAL => Ok(Insn::CallLocal { off: raw.imm }),
                        _ => Err(ErrorKind::InvalidSrcKind(raw.src)),
                    }
                }
                0x90 if wide && !is_reg => {
                    must_be_zero(Field::Dst, raw.dst as i64)?;
                    must_be_zero(Field::Src, raw.src as i64)?;
                    must_be_zero(Field::Offset, raw.off as i64)?;
                    must_be_zero(Field::Imm, raw.imm as i64)?;
                    Ok(Insn::Exit)
                }
                code => {
                    let cond = jmp_cond(code).ok_or(ErrorKind::UnknownOpcode)?;
                    let dst = check_reg(raw.dst)?;
                    let src = if is_reg {
                        must_be_zero(Field::Imm, raw.imm as i64)?;
                        Operand::Reg(check_reg(raw.src)?)
                    } else {
                        must_be_zero(Field::Src, raw.src as i64)?;
                        Operand::Imm(raw.imm)
                    };
                    let width = if wide { Width::W64 } else { Width::W32 };
                    Ok(Insn::Jcond { width, cond, dst, src, off: raw.off })
                }
            }
        }
        class::LD => {
            if opcode != (class::LD | mem::MODE_IMM | mem::SIZE_DW) {
                return Err(ErrorKind::UnknownOpcode);
            }
            let dst = check_reg(raw.dst)?;
            must_be_zero(Field::Offset, raw.off as i64)?;
            let kind = match raw.src {
                0 => ImmKind::Value,
                PSEUDO_MAP_INDEX => ImmKind::MapIndex,
                other => return Err(ErrorKind::InvalidSrcKind(other)),
            };
            let Some(&next) = slots.get(1) else {
                return Err(ErrorKind::TruncatedInstruction);
            };
            if next.opcode != 0 || next.dst != 0 || next.src != 0 || next.off != 0 {
                return Err(ErrorKind::BadLddwSecondSlot);
            }
            if kind == ImmKind::MapIndex && next.imm != 0 {
                return Err(ErrorKind::BadLddwSecondSlot);
            }
            let imm = (raw.imm as u32 as u64) | ((next.imm as u32 as u64) << 32);
            Ok(Insn::LoadImm64 { dst, kind, imm })
        }
        class::LDX => {
            let size = Size::from_opcode(opcode);
            let sign_extend = match opcode & 0xe0 {
                mem::MODE_MEM => false,
                mem::MODE_MEMSX if size != Size::DW => true,
                _ => return Err(ErrorKind::UnknownOpcode),
            };
            must_be_zero(Field::Imm, raw.imm as i64)?;
            Ok(Insn::Load { size, sign_extend, dst: check_reg(raw.dst)?, src: check_reg(raw.src)?, off: raw.off })
        }
        class::ST => {
            if opcode & 0xe0 != mem::MODE_MEM {
                return Err(ErrorKind::UnknownOpcode);
            }
            must_be_zero(Field::Src, raw.src as i64)?;
            Ok(Insn::Store {
                size: Size::from_opcode(opcode),
                dst: check_reg(raw.dst)?,
                off: raw.off,
                src: Operand::Imm(raw.imm),
            })
        }
        _ => {
            // class::STX
            let size = Size::from_opcode(opcode);
            let dst = check_reg(raw.dst)?;
            let src = check_reg(raw.src)?;
            match opcode & 0xe0 {
                mem::MODE_MEM => {
                    must_be_zero(Field::Imm, raw.imm as i64)?;
                    Ok(Insn::Store { size, dst, off: raw.off, src: Operand::Reg(src) })
                }
                mem::MODE_ATOMIC if matches!(size, Size::W | Size::DW) => {
                    let (op, fetch) = match raw.imm {
                        atomic::ADD => (AtomicOp::Add, false),
                        atomic::OR => (AtomicOp::Or, false),
                        atomic::AND => (AtomicOp::And, false),
                        atomic::XOR => (AtomicOp::Xor, false),
                        x if x == atomic::ADD | atomic::FETCH => (AtomicOp::Add, true),
                        x if x == atomic::OR | atomic::FETCH => (AtomicOp::Or, true),
                        x if x == atomic::AND | atomic::FETCH => (AtomicOp::And, true),
                        x if x == atomic::XOR | atomic::FETCH => (AtomicOp::Xor, true),
                        atomic::XCHG => (AtomicOp::Xchg, true),
                        atomic::CMPXCHG => (AtomicOp::CmpXchg, true),
                        _ => return Err(ErrorKind::InvalidImmediate),
                    };
                    Ok(Insn::Atomic { size, op, fetch, dst, src, off: raw.off })
                }
                _ => Err(ErrorKind::UnknownOpcode),
            }
        }
    }
}

/// A whole program decoded: one entry per slot, the second slot of an `lddw` as
/// [`Insn::LoadImm64Tail`]. Jump and call targets are checked to land on an instruction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decoded {
    pub raw: Vec<RawInsn>,
    pub insns: Vec<Insn>,
}

/// Decodes and structurally checks a program given as slots.
pub fn decode_program(raw: Vec<RawInsn>) -> Result<Decoded, VerifyError> {
    if raw.is_empty() {
        return Err(VerifyError::new(0, ErrorKind::EmptyProgram));
    }
    if raw.len() > MAX_PROGRAM_SLOTS {
        return Err(VerifyError::new(MAX_PROGRAM_SLOTS, ErrorKind::ProgramTooLarge));
    }
    let mut insns = Vec::with_capacity(raw.len());
    let mut pc = 0;
    while pc < raw.len() {
        let insn = decode(&raw[pc..]).map_err(|kind| VerifyError::new(pc, kind))?;
        insns.push(insn);
        if insn.slots() == 2 {
            insns.push(Insn::LoadImm64Tail);
        }
        pc += insn.slots();
    }
    for (pc, insn) in insns.iter().enumerate() {
        if let Some(target) = insn.jump_target(pc) {
            let fail = |kind| Err(VerifyError::new(pc, kind));
            if target < 0 || target >= insns.len() as i64 {
                return fail(ErrorKind::JumpOutOfRange);
            }
            if insns[target as usize] == Insn::LoadImm64Tail {
                return fail(ErrorKind::JumpIntoLddw);
            }
        }
    }
    Ok(Decoded { raw, insns })
}

fn alu_code(op: AluOp) -> (u8, i16) {
    match op {
        AluOp::Add => (0x00, 0),
        AluOp::Sub => (0x10, 0),
        AluOp::Mul => (0x20, 0),
        AluOp::Div => (0x30, 0),
        AluOp::SDiv => (0x30, 1),
        AluOp::Or => (0x40, 0),
        AluOp::And => (0x50, 0),
        AluOp::Lsh => (0x60, 0),
        AluOp::Rsh => (0x70, 0),
        AluOp::Neg => (0x80, 0),
        AluOp::Mod => (0x90, 0),
        AluOp::SMod => (0x90, 1),
        AluOp::Xor => (0xa0, 0),
        AluOp::Mov => (0xb0, 0),
        AluOp::MovSx(bits) => (0xb0, bits as i16),
        AluOp::Arsh => (0xc0, 0),
    }
}

fn cond_code(cond: JmpCond) -> u8 {
    match cond {
        JmpCond::Eq => 0x10,
        JmpCond::Gt => 0x20,
        JmpCond::Ge => 0x30,
        JmpCond::Set => 0x40,
        JmpCond::Ne => 0x50,
        JmpCond::Sgt => 0x60,
        JmpCond::Sge => 0x70,
        JmpCond::Lt => 0xa0,
        JmpCond::Le => 0xb0,
        JmpCond::Slt => 0xc0,
        JmpCond::Sle => 0xd0,
    }
}

fn atomic_imm(op: AtomicOp, fetch: bool) -> i32 {
    let base = match op {
        AtomicOp::Add => atomic::ADD,
        AtomicOp::Or => atomic::OR,
        AtomicOp::And => atomic::AND,
        AtomicOp::Xor => atomic::XOR,
        AtomicOp::Xchg => return atomic::XCHG,
        AtomicOp::CmpXchg => return atomic::CMPXCHG,
    };
    if fetch {
        base | atomic::FETCH
    } else {
        base
    }
}

/// Encodes one instruction, appending one or two slots. [`Insn::LoadImm64Tail`] encodes nothing.
pub fn encode(insn: &Insn, out: &mut Vec<RawInsn>) {
    let width_class = |w: Width, c32: u8, c64: u8| if w == Width::W64 { c64 } else { c32 };
    match *insn {
        Insn::Alu { width, op, dst, src } => {
            let cls = width_class(width, class::ALU, class::ALU64);
            let (code, off) = alu_code(op);
            out.push(match src {
                Operand::Reg(s) if op != AluOp::Neg => RawInsn::new(cls | code | 0x08, dst, s, off, 0),
                Operand::Imm(imm) => RawInsn::new(cls | code, dst, 0, off, imm),
                Operand::Reg(_) => RawInsn::new(cls | code, dst, 0, off, 0),
            });
        }
        Insn::Endian { op, bits, dst } => {
            let opcode = match op {
                EndianOp::ToLe => class::ALU | 0xd0,
                EndianOp::ToBe => class::ALU | 0xd8,
                EndianOp::Swap => class::ALU64 | 0xd0,
            };
            out.push(RawInsn::new(opcode, dst, 0, 0, bits as i32));
        }
        Insn::LoadImm64 { dst, kind, imm } => {
            let src = if kind == ImmKind::MapIndex { PSEUDO_MAP_INDEX } else { 0 };
            out.push(RawInsn::new(0x18, dst, src, 0, imm as u32 as i32));
            out.push(RawInsn::new(0, 0, 0, 0, (imm >> 32) as u32 as i32));
        }
        Insn::LoadImm64Tail => {}
        Insn::Load { size, sign_extend, dst, src, off } => {
            let mode = if sign_extend { mem::MODE_MEMSX } else { mem::MODE_MEM };
            out.push(RawInsn::new(class::LDX | mode | size.bits(), dst, src, off, 0));
        }
        Insn::Store { size, dst, off, src } => out.push(match src {
            Operand::Reg(s) => RawInsn::new(class::STX | mem::MODE_MEM | size.bits(), dst, s, off, 0),
            Operand::Imm(imm) => RawInsn::new(class::ST | mem::MODE_MEM | size.bits(), dst, 0, off, imm),
        }),
        Insn::Atomic { size, op, fetch, dst, src, off } => {
            out.push(RawInsn::new(class::STX | mem::MODE_ATOMIC | size.bits(), dst, src, off, atomic_imm(op, fetch)))
        }
        Insn::Ja { off } => out.push(RawInsn::new(class::JMP, 0, 0, off as i16, 0)),
        Insn::JaLong { off } => out.push(RawInsn::new(class::JMP32, 0, 0, 0, off)),
        Insn::Jcond { width, cond, dst, src, off } => {
            let cls = width_class(width, class::JMP32, class::JMP);
            out.push(match src {
                Operand::Reg(s) => RawInsn::new(cls | cond_code(cond) | 0x08, dst, s, off, 0),
                Operand::Imm(imm) => RawInsn::new(cls | cond_code(cond), dst, 0, off, imm),
            });
        }
        Insn::CallHelper { id } => out.push(RawInsn::new(0x85, 0, 0, 0, id as i32)),
        Insn::CallLocal { off } => out.push(RawInsn::new(0x85, 0, PSEUDO_CALL_LOCAL, 0, off)),
        Insn::CallReg { reg } => out.push(RawInsn::new(0x8d, reg, 0, 0, 0)),
        Insn::Exit => out.push(RawInsn::new(0x95, 0, 0, 0, 0)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_every_valid_opcode() {
        // Every opcode byte with plausible fields either fails to decode or re-encodes identically.
        for opcode in 0..=255u8 {
            for &(src, off, imm) in &[(0u8, 0i16, 0i32), (1, 0, 0), (0, 1, 0), (0, 0, 16), (2, 0, 1), (0, 8, 0)] {
                let raw = [RawInsn::new(opcode, 1, src, off, imm), RawInsn::new(0, 0, 0, 0, 7)];
                if let Ok(insn) = decode(&raw) {
                    let mut out = Vec::new();
                    encode(&insn, &mut out);
                    assert_eq!(&out[..], &raw[..insn.slots()], "opcode {opcode:#x} {insn:?}");
                }
            }
        }
    }

    #[test]
    fn rejects_nonzero_unused_fields() {
        assert_eq!(decode(&[RawInsn::new(0x07, 0, 0, 1, 1)]), Err(ErrorKind::NonZeroField(Field::Offset)));
        assert_eq!(decode(&[RawInsn::new(0x95, 1, 0, 0, 0)]), Err(ErrorKind::NonZeroField(Field::Dst)));
        assert_eq!(decode(&[RawInsn::new(0xff, 0, 0, 0, 0)]), Err(ErrorKind::UnknownOpcode));
        assert_eq!(decode(&[RawInsn::new(0x18, 0, 0, 0, 0)]), Err(ErrorKind::TruncatedInstruction));
    }

    #[test]
    fn jump_into_lddw_is_rejected() {
        let raw = alloc::vec![
            RawInsn::new(0x05, 0, 0, 1, 0),
            RawInsn::new(0x18, 0, 0, 0, 1),
            RawInsn::new(0, 0, 0, 0, 0),
            RawInsn::new(0x95, 0, 0, 0, 0),
        ];
        assert_eq!(decode_program(raw).unwrap_err(), VerifyError::new(0, ErrorKind::JumpIntoLddw));
    }
}
