//! Kingly's program types and hook points: the contract between the kernel that runs agents,
//! the host tool that verifies and pushes them, and the coder that writes them.
//!
//! Context layouts (all little-endian, read-only for the program):
//!
//! | type | r1 points to | bytes |
//! | --- | --- | --- |
//! | `decision` | `hook u32 @0, cpu u32 @4, now_ns u64 @8, field[0..4] u64 @16/24/32/40` | 48 |
//! | `tool` | `data u64 @0, data_end u64 @8` around the input bytes (a packet) | 16 |
//! | `timer` | `cpu u32 @0, period_ms u32 @4, now_ns u64 @8, runs u64 @16` | 24 |
//!
//! A decision depends only on the hook and its four fields: they are the cache key, so a cached
//! decision is exactly the one the program would return again (until its TTL or a replacement).
//! `cpu` and `now_ns` are there for programs that keep statistics in maps, not to decide on.

use crate::helpers;
use crate::program::{ContextKind, ProgramType};

/// Bytes of a `decision` context.
pub const DECISION_CTX_BYTES: usize = 48;
/// Offset of `field[0]` in a `decision` context.
pub const DECISION_FIELDS_OFFSET: usize = 16;
/// Fields per decision hook.
pub const DECISION_FIELDS: usize = 4;
/// Bytes of a `tool` context.
pub const TOOL_CTX_BYTES: usize = 16;
/// Bytes of a `timer` context.
pub const TIMER_CTX_BYTES: usize = 24;
/// Largest input a `tool` program receives.
pub const TOOL_MAX_INPUT_BYTES: usize = 4096;

/// The kinds of program Kingly runs besides `conformance`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Decision,
    Tool,
    Timer,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Decision, Kind::Tool, Kind::Timer];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Decision => "decision",
            Kind::Tool => "tool",
            Kind::Timer => "timer",
        }
    }

    pub fn from_name(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The verifier's view of this kind.
    pub fn program_type(self) -> ProgramType {
        match self {
            Kind::Decision => ProgramType {
                name: "decision",
                context: ContextKind::Struct { size_bytes: DECISION_CTX_BYTES as u32, writable: false },
                helpers: helpers::STANDARD_HELPERS,
                return_range: None,
            },
            Kind::Tool => ProgramType {
                name: "tool",
                context: ContextKind::Packet {
                    size_bytes: TOOL_CTX_BYTES as u32,
                    data_offset: 0,
                    data_end_offset: 8,
                    writable_packet: false,
                },
                helpers: helpers::STANDARD_HELPERS,
                return_range: None,
            },
            Kind::Timer => ProgramType {
                name: "timer",
                context: ContextKind::Struct { size_bytes: TIMER_CTX_BYTES as u32, writable: false },
                helpers: helpers::STANDARD_HELPERS,
                return_range: None,
            },
        }
    }
}

/// A hook where `decision` programs attach.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hook {
    pub id: u32,
    pub name: &'static str,
    /// What the decision means.
    pub returns: &'static str,
    /// Names of `field[0..4]`; unused fields are `""` and read as 0.
    pub fields: [&'static str; DECISION_FIELDS],
    /// Decisions are cached for this many ticks (1 ms each); 0 means never cached.
    pub ttl_ticks: u32,
    /// Worst-case instructions a program may need on this hot path (checked at load time).
    pub budget_insns: u64,
    /// Valid decisions are `0..=max_decision`; anything else falls back to the default policy.
    pub max_decision: u64,
}

/// `sched_slice`: the time slice, in microseconds, for the task about to run.
pub const SCHED_SLICE: Hook = Hook {
    id: 0,
    name: "sched_slice",
    returns: "time slice in microseconds (100..=100000)",
    fields: ["class", "task", "nice", "runnable"],
    ttl_ticks: 1000,
    budget_insns: 4096,
    max_decision: 100_000,
};

/// `sched_cpu`: the core a woken task should run on.
pub const SCHED_CPU: Hook = Hook {
    id: 1,
    name: "sched_cpu",
    returns: "core index (taken modulo the number of cores)",
    fields: ["class", "task", "prev_cpu", "waker_cpu"],
    ttl_ticks: 1000,
    budget_insns: 4096,
    max_decision: u32::MAX as u64,
};

/// `mcp_admit`: whether a tool call may run. Never cached: a rate limiter keeps state in maps.
pub const MCP_ADMIT: Hook = Hook {
    id: 2,
    name: "mcp_admit",
    returns: "0 = allow, 1 = deny, 2 = rate-limited",
    fields: ["tool", "client", "arg_bytes", ""],
    ttl_ticks: 0,
    budget_insns: 16384,
    max_decision: 2,
};

/// Every decision hook.
pub const HOOKS: [Hook; 3] = [SCHED_SLICE, SCHED_CPU, MCP_ADMIT];

/// Class values of the `class` field of the scheduler hooks.
pub mod class {
    pub const CPU_BOUND: u64 = 0;
    pub const SLEEPER: u64 = 1;
    pub const LATENCY: u64 = 2;
    pub const NAMES: [&str; 3] = ["cpu_bound", "sleeper", "latency"];
}

/// `mcp_admit` decisions.
pub mod admit {
    pub const ALLOW: u64 = 0;
    pub const DENY: u64 = 1;
    pub const RATE_LIMITED: u64 = 2;
}

impl Hook {
    pub fn by_name(name: &str) -> Option<Hook> {
        HOOKS.into_iter().find(|h| h.name == name)
    }

    pub fn by_id(id: u32) -> Option<Hook> {
        HOOKS.into_iter().find(|h| h.id == id)
    }

    /// Index of a named field.
    pub fn field_index(&self, name: &str) -> Option<usize> {
        if name.is_empty() {
            return None;
        }
        self.fields.iter().position(|f| *f == name)
    }

    /// Byte offset of a named field in the context.
    pub fn field_offset(&self, name: &str) -> Option<usize> {
        self.field_index(name).map(|i| DECISION_FIELDS_OFFSET + 8 * i)
    }
}

/// The value of the `mcp_admit` `tool` field: 32-bit FNV-1a of the tool's name.
pub fn tool_name_hash(name: &str) -> u64 {
    let mut h: u32 = 0x811c_9dc5;
    for b in name.bytes() {
        h ^= b as u32;
        h = h.wrapping_mul(0x0100_0193);
    }
    h as u64
}

/// Builds a `decision` context.
pub fn decision_context(hook: u32, cpu: u32, now_ns: u64, fields: [u64; DECISION_FIELDS]) -> [u8; DECISION_CTX_BYTES] {
    let mut ctx = [0u8; DECISION_CTX_BYTES];
    ctx[0..4].copy_from_slice(&hook.to_le_bytes());
    ctx[4..8].copy_from_slice(&cpu.to_le_bytes());
    ctx[8..16].copy_from_slice(&now_ns.to_le_bytes());
    for (i, f) in fields.iter().enumerate() {
        let at = DECISION_FIELDS_OFFSET + 8 * i;
        ctx[at..at + 8].copy_from_slice(&f.to_le_bytes());
    }
    ctx
}

/// The cache key of a decision: its four fields, little-endian (32 bytes).
pub fn decision_key(fields: [u64; DECISION_FIELDS]) -> [u8; 8 * DECISION_FIELDS] {
    let mut key = [0u8; 8 * DECISION_FIELDS];
    for (i, f) in fields.iter().enumerate() {
        key[8 * i..8 * i + 8].copy_from_slice(&f.to_le_bytes());
    }
    key
}

/// The bytes a `bpf_load` signature covers: a domain tag, the program type, the name, the maps
/// and the bytecode, each length-prefixed so no two loads share a message.
pub fn signed_message(kind: Kind, name: &str, maps: &[crate::MapDef], bytecode: &[u8]) -> alloc::vec::Vec<u8> {
    let mut message = alloc::vec::Vec::with_capacity(64 + name.len() + 16 * maps.len() + bytecode.len());
    message.extend_from_slice(b"kingly-bpf-load-v1\0");
    for part in [kind.name().as_bytes(), name.as_bytes()] {
        message.extend_from_slice(&(part.len() as u32).to_le_bytes());
        message.extend_from_slice(part);
    }
    message.extend_from_slice(&(maps.len() as u32).to_le_bytes());
    for map in maps {
        for word in [map.kind as u32, map.key_size_bytes, map.value_size_bytes, map.max_entries] {
            message.extend_from_slice(&word.to_le_bytes());
        }
    }
    message.extend_from_slice(&(bytecode.len() as u32).to_le_bytes());
    message.extend_from_slice(bytecode);
    message
}

/// Builds a `timer` context.
pub fn timer_context(cpu: u32, period_ms: u32, now_ns: u64, runs: u64) -> [u8; TIMER_CTX_BYTES] {
    let mut ctx = [0u8; TIMER_CTX_BYTES];
    ctx[0..4].copy_from_slice(&cpu.to_le_bytes());
    ctx[4..8].copy_from_slice(&period_ms.to_le_bytes());
    ctx[8..16].copy_from_slice(&now_ns.to_le_bytes());
    ctx[16..24].copy_from_slice(&runs.to_le_bytes());
    ctx
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asm;
    use crate::interp::{Env, FixedPlatform, Interpreter};
    use crate::load::Program;

    fn load(src: &str, kind: Kind) -> Result<crate::VerifiedProgram, crate::VerifyError> {
        Program::load_slots(asm::assemble(src).unwrap(), &kind.program_type(), &[], &Default::default())
    }

    fn run(kind: Kind, src: &str, ctx: &mut [u8], packet: &mut [u8]) -> u64 {
        let slots = asm::assemble(src).unwrap();
        let prog = Program::load_slots(slots, &kind.program_type(), &[], &Default::default()).unwrap();
        let mut platform = FixedPlatform::default();
        let mut env = Env { maps: &mut [], platform: &mut platform, budget_insns: 1000 };
        Interpreter::new().run_with_packet(&prog, ctx, packet, &mut env).unwrap()
    }

    #[test]
    fn decision_programs_read_named_fields() {
        let off = SCHED_SLICE.field_offset("nice").unwrap();
        let src = format!("ldxdw %r0, [%r1+{off}]\nexit");
        let mut ctx = decision_context(SCHED_SLICE.id, 0, 0, [2, 7, 19, 1]);
        assert_eq!(run(Kind::Decision, &src, &mut ctx, &mut []), 19);
    }

    #[test]
    fn decision_context_is_read_only() {
        assert!(load("stdw [%r1+16], 1\nmov %r0, 0\nexit", Kind::Decision).is_err());
    }

    #[test]
    fn tool_programs_see_input_as_a_packet() {
        let src = "ldxdw %r2, [%r1+0]\nldxdw %r3, [%r1+8]\nmov %r0, %r2\nadd %r0, 1\njgt %r0, %r3, +2\nldxb %r0, [%r2+0]\nexit\nmov %r0, 255\nexit";
        assert_eq!(run(Kind::Tool, src, &mut [0; TOOL_CTX_BYTES], &mut [42, 1]), 42);
        assert_eq!(run(Kind::Tool, src, &mut [0; TOOL_CTX_BYTES], &mut []), 255);
    }

    #[test]
    fn unchecked_packet_reads_are_refused() {
        assert!(load("ldxdw %r2, [%r1+0]\nldxb %r0, [%r2+0]\nexit", Kind::Tool).is_err());
    }

    #[test]
    fn hooks_have_distinct_ids_and_names() {
        for (i, a) in HOOKS.iter().enumerate() {
            assert_eq!(Hook::by_name(a.name), Some(*a));
            assert_eq!(Hook::by_id(a.id), Some(*a));
            for b in &HOOKS[i + 1..] {
                assert_ne!(a.id, b.id);
            }
        }
        assert_eq!(Hook::by_name("nope"), None);
        assert_eq!(SCHED_SLICE.field_index(""), None);
        assert_eq!(MCP_ADMIT.field_index(""), None);
    }

    #[test]
    fn fnv_matches_reference_values() {
        assert_eq!(tool_name_hash(""), 0x811c_9dc5);
        assert_eq!(tool_name_hash("a"), 0xe40c_292c);
    }

    #[test]
    fn signed_messages_differ_in_every_part() {
        let map = crate::MapDef { kind: crate::MapKind::Hash, key_size_bytes: 4, value_size_bytes: 8, max_entries: 16 };
        let base = signed_message(Kind::Tool, "crc", &[map], &[1, 2, 3]);
        assert_ne!(base, signed_message(Kind::Decision, "crc", &[map], &[1, 2, 3]));
        assert_ne!(base, signed_message(Kind::Tool, "crd", &[map], &[1, 2, 3]));
        assert_ne!(base, signed_message(Kind::Tool, "crc", &[], &[1, 2, 3]));
        assert_ne!(base, signed_message(Kind::Tool, "crc", &[map], &[1, 2, 4]));
        assert_eq!(base, signed_message(Kind::Tool, "crc", &[map], &[1, 2, 3]));
    }

    #[test]
    fn kinds_round_trip_by_name() {
        for k in Kind::ALL {
            assert_eq!(Kind::from_name(k.name()), Some(k));
        }
        assert_eq!(Kind::from_name("conformance"), None);
    }
}
