//! Load-time errors: one `Copy` enum for decoding and verification, always with the pc.

use core::fmt;

/// An instruction field that RFC 9669 requires to be zero for this opcode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Field {
    Dst,
    Src,
    Offset,
    Imm,
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Field::Dst => "dst",
            Field::Src => "src",
            Field::Offset => "offset",
            Field::Imm => "imm",
        })
    }
}

/// Kind of memory region a pointer refers to, for messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RegionKind {
    Context,
    Stack,
    MapValue,
    MapHandle,
    Packet,
}

impl fmt::Display for RegionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RegionKind::Context => "context",
            RegionKind::Stack => "stack",
            RegionKind::MapValue => "map value",
            RegionKind::MapHandle => "map handle",
            RegionKind::Packet => "packet",
        })
    }
}

/// Why a program was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    // Decoding.
    EmptyProgram,
    ProgramTooLarge,
    TruncatedInstruction,
    UnknownOpcode,
    NonZeroField(Field),
    InvalidRegister(u8),
    InvalidImmediate,
    InvalidSrcKind(u8),
    BadLddwSecondSlot,
    JumpOutOfRange,
    JumpIntoLddw,
    // Control flow.
    FallOffEnd,
    UnreachableInstruction,
    TooManyFrames,
    InfiniteLoop,
    TooComplex,
    // Registers.
    ReadBeforeWrite(u8),
    WriteToFramePointer,
    // Memory.
    StackReadBeforeWrite { off: i32 },
    OutOfBounds { region: RegionKind, off: i64, size: u8 },
    PossiblyNull(u8),
    NotAPointer(u8),
    UnboundedOffset(u8),
    ReadOnlyContext,
    PartialPointerAccess,
    PointerStore(RegionKind),
    AtomicOnPointer,
    // Values.
    PointerArithmetic(u8),
    UnboundedPointerArithmetic(u8),
    PointerOffsetRange(u8),
    PointerSubtraction(u8),
    PointerComparison(u8),
    PointerLeak(u8),
    ReturnOutOfRange,
    DivisionByZero,
    // Calls.
    UnknownHelper(u32),
    HelperArgument { arg: u8 },
    UnknownMap(u32),
    UnknownCallTarget,
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ErrorKind::EmptyProgram => f.write_str("program has no instructions"),
            ErrorKind::ProgramTooLarge => f.write_str("program is too large"),
            ErrorKind::TruncatedInstruction => f.write_str("truncated instruction"),
            ErrorKind::UnknownOpcode => f.write_str("unknown opcode"),
            ErrorKind::NonZeroField(field) => write!(f, "unused field {field} is not zero"),
            ErrorKind::InvalidRegister(r) => write!(f, "invalid register r{r}"),
            ErrorKind::InvalidImmediate => f.write_str("invalid immediate for this opcode"),
            ErrorKind::InvalidSrcKind(s) => write!(f, "unsupported src kind {s}"),
            ErrorKind::BadLddwSecondSlot => f.write_str("malformed second slot of lddw"),
            ErrorKind::JumpOutOfRange => f.write_str("jump out of the program"),
            ErrorKind::JumpIntoLddw => f.write_str("jump into the middle of lddw"),
            ErrorKind::FallOffEnd => f.write_str("execution falls off the end of the program"),
            ErrorKind::UnreachableInstruction => f.write_str("unreachable instruction"),
            ErrorKind::TooManyFrames => f.write_str("too many call stack frames"),
            ErrorKind::InfiniteLoop => f.write_str("infinite loop detected"),
            ErrorKind::TooComplex => f.write_str("program too complex: loop may not terminate within the budget"),
            ErrorKind::ReadBeforeWrite(r) => write!(f, "R{r} read before write"),
            ErrorKind::WriteToFramePointer => f.write_str("R10 is read-only"),
            ErrorKind::StackReadBeforeWrite { off } => {
                write!(f, "stack slot fp{off:+} read before write")
            }
            ErrorKind::OutOfBounds { region, off, size } => {
                write!(f, "{size}-byte {region} access at offset {off} is out of bounds")
            }
            ErrorKind::PossiblyNull(r) => write!(f, "R{r} may be NULL here; check it first"),
            ErrorKind::NotAPointer(r) => write!(f, "R{r} is not a valid pointer"),
            ErrorKind::UnboundedOffset(r) => write!(f, "R{r} has an unbounded variable offset"),
            ErrorKind::ReadOnlyContext => f.write_str("write to read-only context"),
            ErrorKind::PartialPointerAccess => f.write_str("partial access to a spilled pointer"),
            ErrorKind::PointerStore(region) => write!(f, "pointer stored into {region}"),
            ErrorKind::AtomicOnPointer => f.write_str("atomic operation on a pointer"),
            ErrorKind::PointerArithmetic(r) => write!(f, "prohibited pointer arithmetic on R{r}"),
            ErrorKind::UnboundedPointerArithmetic(r) => write!(
                f,
                "R{r} is not known to lie within ±2^29, so it cannot be added to or subtracted from a pointer"
            ),
            ErrorKind::PointerOffsetRange(r) => {
                write!(f, "R{r} would point more than 2^29 bytes away from its object")
            }
            ErrorKind::PointerSubtraction(r) => write!(
                f,
                "R{r}: pointer - pointer is only allowed within one object (one lookup's value, one stack frame, \
                 the context, the packet) or as data_end - data"
            ),
            ErrorKind::PointerComparison(r) => write!(
                f,
                "R{r}: this pointer comparison would depend on the address; only a map value that may be NULL \
                 may be compared with 0, and a packet pointer at or after data with data_end"
            ),
            ErrorKind::PointerLeak(r) => write!(f, "R{r} leaks a pointer"),
            ErrorKind::ReturnOutOfRange => f.write_str("R0 is outside the program type's return range"),
            ErrorKind::DivisionByZero => f.write_str("possible division by zero"),
            ErrorKind::UnknownHelper(id) => {
                write!(f, "helper {id} is not allowed for this program type")
            }
            ErrorKind::HelperArgument { arg } => {
                write!(f, "R{arg} does not match the helper prototype")
            }
            ErrorKind::UnknownMap(i) => write!(f, "map {i} does not exist"),
            ErrorKind::UnknownCallTarget => f.write_str("call target is not a known constant helper"),
        }
    }
}

/// A refused program: the instruction index (in 8-byte slots) and the reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct VerifyError {
    pub pc: usize,
    pub kind: ErrorKind,
}

impl VerifyError {
    pub const fn new(pc: usize, kind: ErrorKind) -> Self {
        VerifyError { pc, kind }
    }
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at pc {}", self.kind, self.pc)
    }
}

impl core::error::Error for VerifyError {}
