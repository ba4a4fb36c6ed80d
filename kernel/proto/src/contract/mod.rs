//! The contract between the host and the kernel's message port: every kernel tool's name,
//! description, arguments and result as Rust types ([`tools`]), encoded with postcard inside
//! [`crate::ToolArgs::request`] and [`crate::Content::Reply`]; raw bytes (bytecode, dumps,
//! trace records, a tool program's input) travel beside them as attachments.
//!
//! The kernel decodes these types and never sees JSON. The host's bridge (`kingly call`,
//! `kingly mcp`, `kingly push`) is the one place JSON meets the kernel: with the `json`
//! feature, [`json`] turns a tool's JSON arguments into its request, its reply into JSON, and
//! derives the MCP input and output schemas from the same types (with the `schema` feature),
//! so schema, parser and kernel cannot drift apart.

pub mod tools;
mod wire;

#[cfg(feature = "bpf")]
mod bpf;
#[cfg(feature = "json")]
pub mod json;

pub use tools::*;
pub use wire::{decode_hex, decode_hex_into, encode_hex, Hex, HexError};

/// A kernel tool: its name and what it does, for the model that picks it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ToolSpec {
    /// Unique tool name, e.g. `kernel_info`.
    pub name: &'static str,
    /// What it does.
    pub description: &'static str,
}

/// The port's own tools.
pub const PORT_TOOLS: &[ToolSpec] = &[
    ToolSpec {
        name: "kernel_info",
        description: "Board, cores, exception level, MMU state, memory, uptime, version and build hash",
    },
    ToolSpec { name: "ping", description: "Round trip through the kernel's message port; echoes `data` if given" },
    ToolSpec {
        name: "uart_stats",
        description: "UART and link counters: bytes, overruns, framing errors, CRC errors, resyncs",
    },
    ToolSpec {
        name: "cache_stats",
        description: "Decision cache counters: L1 hits, global hits, misses, evictions, invalidations",
    },
];

/// The agent runtime's tools.
pub const AGENT_TOOLS: &[ToolSpec] = &[
    ToolSpec {
        name: "bpf_load",
        description: "Load an eBPF program: the kernel checks its Ed25519 signature and verifies it itself; returns its id and the verifier's statistics. Bytecode comes as the binary attachment or as `bytes_hex`. With replace: true a loaded program of the same name is replaced in place: the new one takes over its hooks (one pointer swap each, never a moment without a policy) and its timer, and the old one is unloaded.",
    },
    ToolSpec {
        name: "bpf_attach",
        description: "Attach a loaded program to a hook (replacing the one there; its cached decisions vanish). Timers take period_ms and cpu.",
    },
    ToolSpec {
        name: "bpf_detach",
        description: "Detach the program at a hook (the hook's default policy answers again), or a timer program by id; with hook and id, only if that program is the one attached there",
    },
    ToolSpec { name: "bpf_unload", description: "Unload a detached program; it is freed after a grace period" },
    ToolSpec {
        name: "bpf_list",
        description: "Loaded programs: type, attachments, engine, runs, instructions, time, verifier statistics",
    },
    ToolSpec { name: "map_read", description: "Read a program's map: one key (hex), or every entry (at most 256)" },
    ToolSpec { name: "map_write", description: "Write one entry of a program's map (key and value in hex)" },
    ToolSpec { name: "cache_lookup", description: "Look a decision up in the decision cache without running anything" },
    ToolSpec {
        name: "cache_invalidate",
        description: "Invalidate a hook's cached decisions, or only the one for `fields`",
    },
    ToolSpec {
        name: "workload_run",
        description: "Run the synthetic workload (CPU-bound, sleeper and latency-sensitive tasks) on the worker cores; per-class throughput and wake-up latency percentiles",
    },
    ToolSpec {
        name: "bpf_dump",
        description: "A loaded program's code as bytes, in chunks of at most 32 KiB from `offset`: `xlated` is the verified eBPF bytecode, `jited` the A64 code the JIT made (little-endian words), `jited_slots` the word offset of each eBPF slot's translation (little-endian u32s). The result says the total size; call again with the next offset until it is reached.",
    },
    ToolSpec {
        name: "trace_set",
        description: "Switch a hook's decision trace on or off (per-CPU rings, oldest overwritten). With explore: true the hook's caller replaces each decision by a random one within the hook's safe bounds (sched_slice only), to learn a policy from.",
    },
    ToolSpec {
        name: "trace_read",
        description: "Take up to `max` unread trace records as the binary attachment: 80-byte little-endian records (time_ns; hook | cpu<<8 | source<<16 | program<<32; generation; 4 fields; decision; outcome[0..4] as u32 pairs). Sources: 0 l1, 1 global, 2 miss, 3 default, 4 fallback, 5 explore. The result has the counts.",
    },
];

/// How a `tool` program is described in `tools/list`.
pub const EXTENSION_DESCRIPTION: &str = "eBPF tool extension";

/// Whether `name` is one of the kernel's own tools (a `tool` program may not take it).
pub fn is_kernel_tool(name: &str) -> bool {
    PORT_TOOLS.iter().chain(AGENT_TOOLS).any(|t| t.name == name)
}

/// Longest program name.
pub const MAX_NAME_BYTES: usize = 48;

/// Whether `name` is a valid program name: 1 to [`MAX_NAME_BYTES`] of `a-z`, `0-9`, `_`,
/// starting with a letter.
pub fn valid_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= MAX_NAME_BYTES
        && bytes[0].is_ascii_lowercase()
        && bytes.iter().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_')
}

/// Most bytes `bpf_dump` returns per call: well inside the port's message limit, so a 64 KiB
/// program or 1 MiB of JIT code comes in a few calls.
pub const DUMP_CHUNK_BYTES: usize = 32 * 1024;

/// Most records `trace_read` returns per call: 60 KiB of attachment, inside the port's 68 KiB
/// message limit.
pub const TRACE_READ_MAX: usize = 768;

/// The resources every kernel offers, and the tool whose result type each one holds.
pub const RESOURCES: &[(&str, &str, &str, &str)] = &[
    (
        "kingly://kernel/info",
        "kernel info",
        "Board, cores, exception level, MMU, memory, uptime, version",
        "kernel_info",
    ),
    ("kingly://uart/stats", "UART statistics", "Bytes, overruns, framing and CRC errors, resyncs", "uart_stats"),
    (
        "kingly://cache/stats",
        "decision cache statistics",
        "L1 and global hits, misses, evictions, invalidations",
        "cache_stats",
    ),
];

/// Why a request or reply did not decode.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeError {
    /// The tool.
    pub tool: alloc::string::String,
}

impl core::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "the arguments are not {}'s (postcard, kingly_proto::contract); kingly call, kingly push and kingly mcp encode them",
            self.tool
        )
    }
}

/// Decodes a tool's typed arguments (or result) from postcard, refusing trailing bytes.
pub fn decode<'a, T: serde::Deserialize<'a>>(tool: &str, bytes: &'a [u8]) -> Result<T, DecodeError> {
    match postcard::take_from_bytes::<T>(bytes) {
        Ok((value, [])) => Ok(value),
        _ => Err(DecodeError { tool: tool.into() }),
    }
}

/// Postcard bytes of a request or result.
pub fn encode<T: serde::Serialize>(value: &T) -> alloc::vec::Vec<u8> {
    // Encoding into a growable vector fails only on types postcard cannot express (none here).
    postcard::to_allocvec(value).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn names_follow_the_rules() {
        assert!(valid_name("sched_policy_2"));
        for bad in ["", "2x", "Caps", "dash-ed", &"a".repeat(49)] {
            assert!(!valid_name(bad), "{bad}");
        }
        assert!(is_kernel_tool("bpf_load") && is_kernel_tool("ping") && !is_kernel_tool("my_tool"));
    }

    #[test]
    fn requests_round_trip_and_garbage_is_refused() {
        let args = BpfAttachArgs { id: 3, hook: HookName::Timer, period_ms: Some(10), cpu: None };
        let bytes = encode(&args);
        assert_eq!(decode::<BpfAttachArgs>("bpf_attach", &bytes), Ok(args));
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(decode::<BpfAttachArgs>("bpf_attach", &longer).is_err());
        assert!(decode::<BpfAttachArgs>("bpf_attach", &[0xff; 3]).is_err());
        assert_eq!(decode::<NoArgs>("kernel_info", &[]), Ok(NoArgs {}));
    }

    #[test]
    fn either_values_carry_their_variant_on_the_wire() {
        let reply = MapReadReply::All(MapEntries { entries: alloc::vec![], len: 0 });
        assert_eq!(decode::<MapReadReply>("map_read", &encode(&reply)), Ok(reply));
        let fields = Fields::Named([("class".to_string(), 2)].into_iter().collect());
        assert_eq!(decode::<Fields>("cache_lookup", &encode(&fields)), Ok(fields));
    }
}
