//! Every kernel tool's arguments and result, as types.
//!
//! Field names are the JSON names MCP clients use; doc comments on fields become the
//! parameter descriptions of the generated input schemas, so they are written for the model
//! that calls the tool. Postcard encodes fields by position: **append fields at the end only**
//! and bump [`crate::MESSAGE_VERSION`] for anything else.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

use super::wire::{either, Hex};

macro_rules! contract_type {
    ($item:item) => {
        #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
        #[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
        $item
    };
}

contract_type! {
    /// The arguments of a tool that takes none.
    #[serde(deny_unknown_fields)]
    #[derive(Default)]
    pub struct NoArgs {}
}

contract_type! {
    /// A program type.
    #[serde(rename_all = "snake_case")]
    #[derive(Copy, Hash)]
    pub enum ProgramType {
        /// Attached to a decision hook; answers the hook's question.
        Decision,
        /// Becomes an MCP tool of its name; runs over the call's input bytes.
        Tool,
        /// Runs every `period_ms` on one core.
        Timer,
    }
}

impl ProgramType {
    /// The JSON spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Decision => "decision",
            Self::Tool => "tool",
            Self::Timer => "timer",
        }
    }
}

contract_type! {
    /// A hook a program attaches to.
    #[serde(rename_all = "snake_case")]
    #[derive(Copy, Hash)]
    pub enum HookName {
        /// The scheduler's time slice for a task.
        SchedSlice,
        /// The core a waking task runs on.
        SchedCpu,
        /// Whether the message port admits a tool call.
        McpAdmit,
        /// A periodic timer (timer programs).
        Timer,
    }
}

impl HookName {
    /// The JSON spelling, which is also the kernel's hook name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::SchedSlice => "sched_slice",
            Self::SchedCpu => "sched_cpu",
            Self::McpAdmit => "mcp_admit",
            Self::Timer => "timer",
        }
    }
}

contract_type! {
    /// A hook whose decisions are cached.
    #[serde(rename_all = "snake_case")]
    #[derive(Copy, Hash)]
    pub enum DecisionHook {
        /// The scheduler's time slice for a task.
        SchedSlice,
        /// The core a waking task runs on.
        SchedCpu,
        /// Whether the message port admits a tool call.
        McpAdmit,
    }
}

impl DecisionHook {
    /// The JSON spelling, which is also the kernel's hook name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::SchedSlice => "sched_slice",
            Self::SchedCpu => "sched_cpu",
            Self::McpAdmit => "mcp_admit",
        }
    }
}

contract_type! {
    /// A map kind.
    #[serde(rename_all = "snake_case")]
    #[derive(Copy, Hash)]
    pub enum MapKind {
        /// `BPF_MAP_TYPE_HASH`.
        Hash,
        /// `BPF_MAP_TYPE_ARRAY`.
        Array,
        /// `BPF_MAP_TYPE_PERCPU_ARRAY`.
        PercpuArray,
    }
}

impl MapKind {
    /// The JSON spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Hash => "hash",
            Self::Array => "array",
            Self::PercpuArray => "percpu_array",
        }
    }
}

contract_type! {
    /// One of a program's maps.
    #[serde(deny_unknown_fields)]
    pub struct MapSpec {
        /// Map kind.
        pub kind: MapKind,
        /// Key size in bytes.
        pub key_size: u32,
        /// Value size in bytes.
        pub value_size: u32,
        /// Capacity in entries.
        pub max_entries: u32,
    }
}

contract_type! {
    /// A synthetic workload mix: the tasks on every worker core.
    #[serde(rename_all = "snake_case")]
    #[derive(Copy, Hash, Default)]
    pub enum Mix {
        /// 2 CPU-bound, 1 sleeper, 1 latency-sensitive task (the default).
        #[default]
        Mixed,
        /// 1 CPU-bound, 3 latency-sensitive.
        Latency,
        /// 3 CPU-bound, 1 sleeper.
        CpuBound,
        /// 2 CPU-bound, 2 waking in bursts.
        Bursty,
    }
}

impl Mix {
    /// Every mix, in the order of [`Mix::NAMES`].
    pub const ALL: [Mix; 4] = [Mix::Mixed, Mix::Latency, Mix::CpuBound, Mix::Bursty];
    /// Their names.
    pub const NAMES: [&'static str; 4] = ["mixed", "latency", "cpu_bound", "bursty"];

    /// The mix called `name`.
    pub fn by_name(name: &str) -> Option<Mix> {
        Self::ALL.into_iter().find(|m| m.name() == name)
    }

    /// Its name.
    pub const fn name(self) -> &'static str {
        Self::NAMES[self as usize]
    }
}

contract_type! {
    /// Which code `bpf_dump` returns.
    #[serde(rename_all = "snake_case")]
    #[derive(Copy, Hash)]
    pub enum DumpPart {
        /// The verified eBPF bytecode.
        Xlated,
        /// The A64 code the JIT made (little-endian words).
        Jited,
        /// Where each eBPF slot's A64 code starts (little-endian u32 word offsets).
        JitedSlots,
    }
}

impl DumpPart {
    /// The JSON spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Xlated => "xlated",
            Self::Jited => "jited",
            Self::JitedSlots => "jited_slots",
        }
    }
}

either! {
    /// A decision key: the hook's fields by name (missing ones are 0), or up to 4 numbers.
    pub enum Fields {
        /// Fields by name.
        Named(BTreeMap<String, u64>),
        /// Fields in order.
        Values(Vec<u64>),
    }
}

// ---- arguments ----------------------------------------------------------------------------

contract_type! {
    /// `ping`.
    #[serde(deny_unknown_fields)]
    pub struct PingArgs {
        /// Text to echo back (at most 512 bytes).
        #[cfg_attr(feature = "schema", schemars(length(max = 512)))]
        pub data: Option<String>,
    }
}

contract_type! {
    /// `bpf_load`; the bytecode is the call's attachment or `bytes_hex`.
    #[serde(deny_unknown_fields)]
    pub struct BpfLoadArgs {
        /// Program type: decision (attach to a hook), tool (becomes an MCP tool of its name) or timer.
        #[serde(rename = "type")]
        pub kind: ProgramType,
        /// Name in bpf_list; a tool program's MCP tool name.
        #[cfg_attr(feature = "schema", schemars(regex(pattern = r"^[a-z][a-z0-9_]{0,47}$")))]
        pub name: String,
        /// Replace a loaded program of the same name in place: it takes over its hooks and timer, then the old one is unloaded.
        #[serde(default)]
        pub replace: bool,
        /// Ed25519 signature (128 hex digits) over kingly-bpf-load-v1: type, name, maps and bytecode, length-prefixed (kingly push and kingly mcp --allow-load make it).
        pub signature: Option<Hex>,
        /// The bytecode (8-byte eBPF instruction slots) in hex.
        pub bytes_hex: Option<Hex>,
        /// The program's maps, in the order its map fds number them.
        #[serde(default)]
        #[cfg_attr(feature = "schema", schemars(length(max = 16)))]
        pub maps: Vec<MapSpec>,
    }
}

contract_type! {
    /// `bpf_attach`.
    #[serde(deny_unknown_fields)]
    pub struct BpfAttachArgs {
        /// Program id from bpf_load or bpf_list.
        pub id: u32,
        /// Decision hook, or timer.
        pub hook: HookName,
        /// Timer period in milliseconds (timer only).
        #[cfg_attr(feature = "schema", schemars(range(min = 1, max = 60000)))]
        pub period_ms: Option<u32>,
        /// Core the timer runs on (timer only; default 0).
        pub cpu: Option<u32>,
    }
}

contract_type! {
    /// `bpf_detach`.
    #[serde(deny_unknown_fields)]
    pub struct BpfDetachArgs {
        /// Hook to clear, or timer.
        pub hook: HookName,
        /// A timer program's id; with a decision hook, detach only if this program is the one attached there.
        pub id: Option<u32>,
    }
}

contract_type! {
    /// `bpf_unload`.
    #[serde(deny_unknown_fields)]
    pub struct BpfUnloadArgs {
        /// Program id from bpf_load or bpf_list.
        pub id: u32,
    }
}

contract_type! {
    /// `map_read`.
    #[serde(deny_unknown_fields)]
    pub struct MapReadArgs {
        /// Program id.
        pub id: u32,
        /// Index of the map in the program's maps (default 0).
        pub map: Option<u32>,
        /// Key in hex; omit to read every entry.
        pub key: Option<Hex>,
    }
}

contract_type! {
    /// `map_write`.
    #[serde(deny_unknown_fields)]
    pub struct MapWriteArgs {
        /// Program id.
        pub id: u32,
        /// Index of the map in the program's maps (default 0).
        pub map: Option<u32>,
        /// Key in hex (the map's key size).
        pub key: Hex,
        /// Value in hex (the map's value size).
        pub value: Hex,
    }
}

contract_type! {
    /// `cache_lookup` and `cache_invalidate`.
    #[serde(deny_unknown_fields)]
    pub struct CacheArgs {
        /// Decision hook.
        pub hook: DecisionHook,
        /// The hook's fields by name (missing ones are 0), or an array of up to 4 numbers.
        pub fields: Option<Fields>,
    }
}

contract_type! {
    /// `workload_run`.
    #[serde(deny_unknown_fields)]
    pub struct WorkloadArgs {
        /// How long to run, in milliseconds.
        #[cfg_attr(feature = "schema", schemars(range(min = 10, max = 10000)))]
        pub ms: u64,
        /// Tasks per worker core: mixed (2 CPU-bound, 1 sleeper, 1 latency-sensitive; the default), latency (1 CPU-bound, 3 latency-sensitive), cpu_bound (3 CPU-bound, 1 sleeper), bursty (2 CPU-bound, 2 waking in bursts).
        pub mix: Option<Mix>,
    }
}

contract_type! {
    /// `bpf_dump`.
    #[serde(deny_unknown_fields)]
    pub struct BpfDumpArgs {
        /// Program id from bpf_load or bpf_list.
        pub id: u32,
        /// Which code: xlated (verified eBPF), jited (A64 words) or jited_slots (where each eBPF slot's A64 code starts).
        pub part: DumpPart,
        /// Byte offset to start from (0, then the end of the previous chunk).
        pub offset: Option<u64>,
    }
}

contract_type! {
    /// `trace_set`.
    #[serde(deny_unknown_fields)]
    pub struct TraceSetArgs {
        /// Decision hook.
        pub hook: DecisionHook,
        /// Trace the hook (true) or stop (false).
        pub on: bool,
        /// Randomise the hook's decisions within safe bounds while tracing (sched_slice only; default false).
        pub explore: Option<bool>,
        /// Seed of the exploration generators (repeatable runs).
        pub seed: Option<u64>,
    }
}

contract_type! {
    /// `trace_read`.
    #[serde(deny_unknown_fields)]
    pub struct TraceReadArgs {
        /// Most records to return (default and at most 768).
        #[cfg_attr(feature = "schema", schemars(range(min = 1, max = 768)))]
        pub max: Option<u32>,
    }
}

contract_type! {
    /// A `tool` program's call: its input bytes, given one way or the other. On the wire the
    /// input is the call's attachment and this struct is not sent.
    #[serde(deny_unknown_fields)]
    pub struct ExtensionArgs {
        /// Input bytes in hex.
        pub input_hex: Option<Hex>,
        /// Input as UTF-8 text.
        pub text: Option<String>,
    }
}

// ---- results ------------------------------------------------------------------------------

contract_type! {
    /// `kernel_info` (and the `kingly://kernel/info` resource).
    pub struct KernelInfoReply {
        /// raspi4b, virt, pi4 or pi5.
        pub board: String,
        /// Cores up.
        pub cpus: u32,
        /// Exception level the kernel runs at.
        pub el: u32,
        /// on or off.
        pub mmu: String,
        /// RAM in bytes.
        pub memory_bytes: u64,
        /// Heap size in bytes.
        pub heap_bytes: u64,
        /// Heap in use, in bytes.
        pub heap_used_bytes: u64,
        /// Time since boot.
        pub uptime_ms: u64,
        /// Kernel version.
        pub version: String,
        /// Build identifier.
        pub build_hash: String,
        /// The bpf_load signature policy.
        pub signing: String,
    }
}

contract_type! {
    /// `ping`.
    pub struct PingReply {
        /// Always true.
        pub pong: bool,
        /// The data sent, echoed.
        pub data: Option<String>,
        /// Time since boot.
        pub uptime_ms: u64,
    }
}

contract_type! {
    /// `uart_stats` (and `kingly://uart/stats`).
    pub struct UartStatsReply {
        /// Sessions opened since boot (starts at 1 again after a reboot).
        pub session: u32,
        /// Bytes the UART received.
        pub bytes: u64,
        /// Receive FIFO overruns.
        pub overruns: u64,
        /// Framing errors.
        pub framing_errors: u64,
        /// Parity errors.
        pub parity_errors: u64,
        /// Break conditions.
        pub breaks: u64,
        /// Bytes dropped because the receive ring was full.
        pub ring_drops: u64,
        /// Times the receiver was held back by flow control.
        pub rx_holds: u64,
        /// Bytes the message port's link received.
        pub link_bytes: u64,
        /// Frames received.
        pub frames: u64,
        /// Frames with a bad CRC.
        pub crc_errors: u64,
        /// Frames with bad COBS.
        pub cobs_errors: u64,
        /// Frames over the size limit.
        pub oversize_frames: u64,
        /// Frames with a bad header.
        pub header_errors: u64,
        /// Times the receiver resynchronised on a frame delimiter.
        pub resyncs: u64,
        /// Frames sent again.
        pub retransmits: u64,
        /// Duplicate frames received.
        pub duplicates: u64,
        /// Messages that did not decode.
        pub bad_messages: u64,
        /// Protocol errors.
        pub protocol_errors: u64,
        /// Log lines dropped.
        pub logs_dropped: u64,
        /// Retransmission timeouts.
        pub timeouts: u64,
        /// Smoothed round-trip time.
        pub round_trip_ms: u64,
        /// Current retransmission timeout.
        pub retransmit_timeout_ms: u64,
    }
}

contract_type! {
    /// `cache_stats` (and `kingly://cache/stats`).
    pub struct CacheStatsReply {
        /// Per-CPU L1 hits.
        pub l1_hits: u64,
        /// Global table hits.
        pub global_hits: u64,
        /// Misses (the policy ran).
        pub misses: u64,
        /// L1 entries evicted.
        pub evictions: u64,
        /// L1 entries found invalidated.
        pub l1_invalidated: u64,
        /// Invalidations.
        pub invalidations: u64,
        /// Inserts.
        pub inserts: u64,
        /// Entries in the global table.
        pub entries: u64,
        /// Reads that found a poisoned entry.
        pub poisoned_reads: u64,
    }
}

contract_type! {
    /// What the verifier did.
    pub struct VerifierStats {
        /// Instructions the verifier walked.
        pub insns_processed: u64,
        /// States kept for pruning.
        pub states_stored: u64,
        /// Paths cut short by a stored state.
        pub paths_pruned: u64,
        /// Longest path the program can execute.
        pub worst_case_path_insns: u64,
    }
}

contract_type! {
    /// The program a load replaced.
    pub struct Replaced {
        /// Its id.
        pub id: u32,
        /// The hooks the new program took over.
        pub hooks: Vec<String>,
    }
}

contract_type! {
    /// `bpf_load`.
    pub struct LoadReply {
        /// Program id.
        pub id: u32,
        /// Its name.
        pub name: String,
        /// decision, tool or timer.
        #[serde(rename = "type")]
        pub kind: ProgramType,
        /// eBPF instruction slots.
        pub insns: u64,
        /// Bytes of A64 code (null: interpreted).
        pub jited_bytes: Option<u64>,
        /// jit or interpreter.
        pub engine: String,
        /// Hooks it is attached to.
        pub attached: Vec<String>,
        /// The program replaced in place, if any.
        pub replaced: Option<Replaced>,
        /// What the verifier did.
        pub verifier: VerifierStats,
    }
}

contract_type! {
    /// `bpf_attach` to a decision hook.
    pub struct HookAttached {
        /// Program id.
        pub attached: u32,
        /// The hook.
        pub hook: String,
        /// The program attached there before, if any.
        pub replaced: Option<u32>,
    }
}

contract_type! {
    /// `bpf_attach` to the timer.
    pub struct TimerAttached {
        /// Program id.
        pub attached: u32,
        /// timer.
        pub hook: String,
        /// Period in milliseconds.
        pub period_ms: u32,
        /// Core it runs on.
        pub cpu: u32,
    }
}

either! {
    /// `bpf_attach`.
    pub enum AttachReply {
        /// To a decision hook.
        Hook(HookAttached),
        /// To the timer.
        Timer(TimerAttached),
    }
}

contract_type! {
    /// `bpf_detach`.
    pub struct DetachReply {
        /// The program detached (null: none was attached).
        pub detached: Option<u32>,
        /// The hook.
        pub hook: String,
    }
}

contract_type! {
    /// `bpf_unload`.
    pub struct UnloadReply {
        /// The program unloaded.
        pub unloaded: u32,
    }
}

contract_type! {
    /// A timer program's schedule.
    pub struct TimerInfo {
        /// Period in milliseconds.
        pub period_ms: u32,
        /// Core it runs on.
        pub cpu: u32,
    }
}

contract_type! {
    /// One loaded program.
    pub struct ProgramInfo {
        /// Program id.
        pub id: u32,
        /// Its name.
        pub name: String,
        /// decision, tool or timer.
        #[serde(rename = "type")]
        pub kind: ProgramType,
        /// Hooks it is attached to.
        pub attached: Vec<String>,
        /// Its timer, if attached to one.
        pub timer: Option<TimerInfo>,
        /// jit or interpreter.
        pub engine: String,
        /// eBPF instruction slots.
        pub insns: u64,
        /// eBPF instruction slots after verification.
        pub xlated_insns: u64,
        /// Bytes of A64 code (null: interpreted).
        pub jited_bytes: Option<u64>,
        /// A64 instructions (null: interpreted).
        pub jited_insns: Option<u64>,
        /// Maps it owns.
        pub maps: u64,
        /// Runs.
        pub runs: u64,
        /// Runs that failed.
        pub errors: u64,
        /// Instructions executed over all runs.
        pub total_insns: u64,
        /// Most instructions one run executed.
        pub max_insns: u64,
        /// Time spent running, in nanoseconds.
        pub total_ns: u64,
        /// What the verifier did.
        pub verifier: VerifierStats,
    }
}

contract_type! {
    /// One decision hook.
    pub struct HookInfo {
        /// Its name.
        pub hook: String,
        /// Its fields, in order.
        pub fields: Vec<String>,
        /// What its decision means.
        pub returns: String,
        /// How long a cached decision lives, in timer ticks.
        pub ttl_ticks: u32,
        /// Most instructions a decision may take.
        pub budget_insns: u64,
    }
}

contract_type! {
    /// `bpf_list`.
    pub struct ListReply {
        /// Loaded programs.
        pub programs: Vec<ProgramInfo>,
        /// The bpf_load signature policy.
        pub signing: String,
        /// Programs replaced in place.
        pub swaps: u64,
        /// Decisions the default policies made.
        pub default_decisions: u64,
        /// Decisions that fell back to the default after a program failed.
        pub fallbacks: u64,
        /// The decision hooks.
        pub hooks: Vec<HookInfo>,
    }
}

contract_type! {
    /// One map entry.
    pub struct MapEntry {
        /// Key in hex.
        pub key: Hex,
        /// Value in hex.
        pub value: Hex,
    }
}

contract_type! {
    /// `map_read` of one key.
    pub struct MapValue {
        /// Key in hex.
        pub key: Hex,
        /// Value in hex (null: no such key).
        pub value: Option<Hex>,
    }
}

contract_type! {
    /// `map_read` of every entry.
    pub struct MapEntries {
        /// At most 256 entries.
        pub entries: Vec<MapEntry>,
        /// Entries in the map.
        pub len: u64,
    }
}

either! {
    /// `map_read`.
    pub enum MapReadReply {
        /// One key.
        One(MapValue),
        /// Every entry.
        All(MapEntries),
    }
}

contract_type! {
    /// `map_write`.
    pub struct MapWriteReply {
        /// Always true.
        pub written: bool,
        /// Key in hex.
        pub key: Hex,
    }
}

contract_type! {
    /// The policy that made a cached decision.
    pub struct MadeBy {
        /// Its program (0: the default policy; null: a program replaced since).
        pub program: Option<u32>,
        /// The hook's policy generation.
        pub generation: u32,
    }
}

contract_type! {
    /// `cache_lookup`.
    pub struct CacheLookupReply {
        /// The hook.
        pub hook: String,
        /// The key's fields.
        pub fields: Vec<u64>,
        /// Whether a decision is cached.
        pub hit: bool,
        /// The cached decision.
        pub value: Option<u64>,
        /// Which policy made it.
        pub made_by: Option<MadeBy>,
    }
}

contract_type! {
    /// `cache_invalidate` of one key.
    pub struct KeyInvalidated {
        /// The hook.
        pub hook: String,
        /// The key's fields.
        pub fields: Vec<u64>,
        /// Whether a decision was cached.
        pub removed: bool,
    }
}

contract_type! {
    /// `cache_invalidate` of a whole hook.
    pub struct HookInvalidated {
        /// The hook.
        pub hook: String,
        /// all.
        pub invalidated: String,
    }
}

either! {
    /// `cache_invalidate`.
    pub enum InvalidateReply {
        /// One key.
        Key(KeyInvalidated),
        /// The whole hook.
        Hook(HookInvalidated),
    }
}

contract_type! {
    /// Wake-up latency percentiles in microseconds.
    pub struct Latencies {
        /// Median.
        pub p50: u32,
        /// 90th percentile.
        pub p90: u32,
        /// 99th percentile.
        pub p99: u32,
        /// Worst.
        pub max: u32,
    }
}

contract_type! {
    /// One task class in a workload report.
    pub struct ClassReport {
        /// Tasks of the class.
        pub tasks: u64,
        /// Work iterations.
        pub iterations: u64,
        /// Iterations per second.
        pub per_second: u64,
        /// Wake-ups measured (null: the class does not sleep).
        pub wakeups: Option<u64>,
        /// Wake-up latency percentiles.
        pub latency_us: Option<Latencies>,
    }
}

contract_type! {
    /// `workload_run`.
    pub struct WorkloadReport {
        /// How long it ran.
        pub ms: u64,
        /// The mix.
        pub mix: Mix,
        /// Cores running tasks.
        pub worker_cores: u64,
        /// The sched_slice policy: the program id, or null for the default policy.
        pub sched_slice: Option<u32>,
        /// Context switches.
        pub context_switches: u64,
        /// Per task class: tasks, iterations, per_second, wake-up latency percentiles.
        pub classes: BTreeMap<String, ClassReport>,
    }
}

contract_type! {
    /// `bpf_dump`; the chunk itself is the attachment.
    pub struct DumpReply {
        /// Program id.
        pub id: u32,
        /// Its name.
        pub name: String,
        /// decision, tool or timer.
        #[serde(rename = "type")]
        pub kind: ProgramType,
        /// jit or interpreter.
        pub engine: String,
        /// The part.
        pub part: DumpPart,
        /// Where the chunk starts.
        pub offset: u64,
        /// Bytes in this chunk.
        pub chunk_bytes: u64,
        /// Bytes in the part.
        pub total_bytes: u64,
        /// eBPF instruction slots.
        pub xlated_insns: u64,
        /// Byte offset of the JIT's out-of-line stubs (null: interpreted).
        pub stubs_offset: Option<u64>,
    }
}

contract_type! {
    /// The trace rings' counters.
    pub struct TraceCounters {
        /// Records written.
        pub written: u64,
        /// Records read.
        pub read: u64,
        /// Records overwritten before they were read.
        pub dropped: u64,
        /// Records not written because a trace write was interrupted by another.
        pub nested: u64,
    }
}

contract_type! {
    /// `trace_set`.
    pub struct TraceSetReply {
        /// The hook.
        pub hook: String,
        /// Tracing now.
        pub on: bool,
        /// Exploring now.
        pub explore: bool,
        /// The rings' counters.
        pub counters: TraceCounters,
    }
}

contract_type! {
    /// `trace_read`; the records are the attachment.
    pub struct TraceReadReply {
        /// Records in the attachment.
        pub records: u64,
        /// Bytes per record.
        pub record_bytes: u64,
        /// Hooks being traced.
        pub traced: Vec<String>,
        /// Hooks being explored.
        pub exploring: Vec<String>,
        /// The rings' counters.
        pub counters: TraceCounters,
    }
}

contract_type! {
    /// A `tool` program's result.
    pub struct ExtensionReply {
        /// The tool.
        pub tool: String,
        /// The program's r0.
        pub r0: u64,
        /// Input bytes it ran over.
        pub input_bytes: u64,
    }
}
