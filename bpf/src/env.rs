//! What a run needs and how it fails, shared by the interpreter, the helpers and the JIT's
//! runtime: the machine's services ([`Platform`]), the maps and budget ([`Env`]), and
//! [`RunError`].

use core::fmt;

use crate::maps::Map;

/// Services helpers need from the machine.
pub trait Platform {
    fn ktime_get_ns(&mut self) -> u64;
    fn prandom_u32(&mut self) -> u32;
    fn smp_processor_id(&self) -> u32;
}

/// A deterministic platform for tests and the host tool: a counter clock and xorshift randomness.
#[derive(Clone, Debug)]
pub struct FixedPlatform {
    pub now_ns: u64,
    pub cpu: u32,
    pub rng_state: u64,
}

impl Default for FixedPlatform {
    fn default() -> Self {
        FixedPlatform { now_ns: 0, cpu: 0, rng_state: 0x9e37_79b9_7f4a_7c15 }
    }
}

impl Platform for FixedPlatform {
    fn ktime_get_ns(&mut self) -> u64 {
        self.now_ns += 1000;
        self.now_ns
    }
    fn prandom_u32(&mut self) -> u32 {
        xorshift_u32(&mut self.rng_state)
    }
    fn smp_processor_id(&self) -> u32 {
        self.cpu
    }
}

/// One step of Marsaglia's xorshift64 (13, 7, 17) on a non-zero `state`; the high half.
pub fn xorshift_u32(state: &mut u64) -> u32 {
    let mut x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    (x >> 32) as u32
}

/// What a run needs besides the program and its context.
pub struct Env<'a> {
    /// Live maps, in the program's map order.
    pub maps: &'a mut [Map],
    pub platform: &'a mut dyn Platform,
    /// Instructions the run may execute before it is stopped.
    pub budget_insns: u64,
}

/// Why a run stopped abnormally.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunErrorKind {
    OutOfBounds {
        addr: u64,
        size: u8,
    },
    BudgetExhausted,
    CallDepthExceeded,
    UnknownHelper(u32),
    InvalidInstruction,
    MapMismatch,
    HelperFault,
    /// The context is shorter than the program type's (compiled code, which has no bounds
    /// checks, refuses to run rather than read past it).
    ContextTooShort {
        len: u32,
        needed: u32,
    },
}

/// A run-time failure at `pc`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunError {
    pub pc: usize,
    pub kind: RunErrorKind,
}

impl fmt::Display for RunErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            RunErrorKind::OutOfBounds { addr, size } => {
                write!(f, "{size}-byte access at {addr:#x} is outside every region")
            }
            RunErrorKind::BudgetExhausted => f.write_str("instruction budget exhausted"),
            RunErrorKind::CallDepthExceeded => f.write_str("too many nested calls"),
            RunErrorKind::UnknownHelper(id) => write!(f, "unknown helper {id}"),
            RunErrorKind::InvalidInstruction => f.write_str("invalid instruction"),
            RunErrorKind::MapMismatch => f.write_str("maps do not match the program's definitions"),
            RunErrorKind::HelperFault => f.write_str("helper argument fault"),
            RunErrorKind::ContextTooShort { len, needed } => {
                write!(f, "context of {len} bytes is shorter than the program type's {needed}")
            }
        }
    }
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at pc {}", self.kind, self.pc)
    }
}

impl core::error::Error for RunError {}
