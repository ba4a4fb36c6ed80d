//! The agent runtime's message-port tools (`bpf_load`, `bpf_attach`, `bpf_detach`,
//! `bpf_unload`, `bpf_list`, `map_read`, `map_write`, `cache_lookup`, `cache_invalidate`,
//! `workload_run`, `bpf_dump`) and one tool per loaded `tool` program. Arguments and results are JSON;
//! bytes travel as lowercase hex, or as the request's binary attachment for `bpf_load`.

use super::{AgentError, LoadRequest, Runtime, TimerSlot};
use crate::cpu::CpuOps;
use crate::port::tools::parse_object;
use crate::port::ToolOutcome;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use kingly_bpf::hooks::{self, Hook, Kind, HOOKS};
use kingly_bpf::maps::MapError;
use kingly_bpf::{MapDef, MapKind, Platform};
use kingly_proto::{Content, ToolArgs, ToolDescriptor};
use serde_json::{json, Map as JsonMap, Value};

/// Names of the tools defined here (a `tool` program may not take one).
pub const NAMES: &[&str] = &[
    "bpf_load",
    "bpf_attach",
    "bpf_detach",
    "bpf_unload",
    "bpf_list",
    "map_read",
    "map_write",
    "cache_lookup",
    "cache_invalidate",
    "workload_run",
    "bpf_dump",
    "trace_set",
    "trace_read",
];

/// Most bytes `bpf_dump` returns per call: well inside the port's 68 KiB message limit (the
/// JSON around it is small), so a 64 KiB program or 1 MiB of JIT code comes in a few calls.
pub const DUMP_CHUNK_BYTES: usize = 32 * 1024;

/// Most records `trace_read` returns per call: 60 KiB of attachment, inside the port's 68 KiB
/// message limit.
pub const TRACE_READ_MAX: usize = 768;

/// Whether `name` belongs to a kernel tool (these or the port's built-ins).
pub fn is_reserved(name: &str) -> bool {
    NAMES.contains(&name) || crate::port::tools::builtin().iter().any(|t| t.name == name)
}

const HOOK_ENUM: &str = r#"["sched_slice","sched_cpu","mcp_admit","timer"]"#;

/// What a tool call needs from the platform besides the runtime.
pub struct CallContext<'a> {
    pub cpu: usize,
    pub now_ticks: u64,
    pub now_ms: u64,
    pub cpus: usize,
    pub platform: &'a mut dyn Platform,
    /// Runs the synthetic workload mix for this many milliseconds; its JSON report or why not.
    pub workload: &'a mut dyn FnMut(u64, crate::workload::Mix) -> Result<String, String>,
}

/// Descriptors of the runtime's tools, then one per loaded `tool` program.
pub fn descriptors<C: CpuOps>(runtime: &Runtime<'_, C>) -> Vec<ToolDescriptor> {
    let t = |name: &str, description: &str, schema: String| ToolDescriptor {
        name: name.to_string(),
        description: description.to_string(),
        input_schema: schema,
    };
    let fields = r#"{"description":"the hook's fields by name (missing ones are 0), or an array of up to 4 numbers","oneOf":[{"type":"object","additionalProperties":{"type":"integer","minimum":0}},{"type":"array","items":{"type":"integer","minimum":0},"maxItems":4}]}"#;
    let mut list = alloc::vec![
        t(
            "bpf_load",
            "Load an eBPF program: the kernel checks its Ed25519 signature and verifies it itself; returns its id and the verifier's statistics. Bytecode comes as the binary attachment or as `bytes_hex`. With replace: true a loaded program of the same name is replaced in place: the new one takes over its hooks (one pointer swap each, never a moment without a policy) and its timer, and the old one is unloaded.",
            r#"{"type":"object","properties":{"type":{"enum":["decision","tool","timer"],"description":"Program type: decision (attach to a hook), tool (becomes an MCP tool of its name) or timer"},"name":{"type":"string","pattern":"^[a-z][a-z0-9_]{0,47}$","description":"Name in bpf_list; a tool program's MCP tool name"},"replace":{"type":"boolean","description":"Replace a loaded program of the same name in place: it takes over its hooks and timer, then the old one is unloaded"},"signature":{"type":"string","description":"Ed25519 signature (128 hex digits) over kingly-bpf-load-v1: type, name, maps and bytecode, length-prefixed (kingly push and kingly mcp --allow-load make it)"},"bytes_hex":{"type":"string","description":"The bytecode (8-byte eBPF instruction slots) in hex"},"maps":{"type":"array","description":"The program's maps, in the order its map fds number them","items":{"type":"object","properties":{"kind":{"enum":["hash","array","percpu_array"],"description":"Map kind"},"key_size":{"type":"integer","description":"Key size in bytes"},"value_size":{"type":"integer","description":"Value size in bytes"},"max_entries":{"type":"integer","description":"Capacity in entries"}},"required":["kind","key_size","value_size","max_entries"]}}},"required":["type","name"],"additionalProperties":false}"#.to_string(),
        ),
        t(
            "bpf_attach",
            "Attach a loaded program to a hook (replacing the one there; its cached decisions vanish). Timers take period_ms and cpu.",
            alloc::format!(r#"{{"type":"object","properties":{{"id":{{"type":"integer","description":"Program id from bpf_load or bpf_list"}},"hook":{{"enum":{HOOK_ENUM},"description":"Decision hook, or timer"}},"period_ms":{{"type":"integer","minimum":1,"maximum":60000,"description":"Timer period in milliseconds (timer only)"}},"cpu":{{"type":"integer","minimum":0,"description":"Core the timer runs on (timer only; default 0)"}}}},"required":["id","hook"],"additionalProperties":false}}"#),
        ),
        t(
            "bpf_detach",
            "Detach the program at a hook (the hook's default policy answers again), or a timer program by id; with hook and id, only if that program is the one attached there",
            alloc::format!(r#"{{"type":"object","properties":{{"hook":{{"enum":{HOOK_ENUM},"description":"Hook to clear, or timer"}},"id":{{"type":"integer","description":"A timer program's id; with a decision hook, detach only if this program is the one attached there"}}}},"required":["hook"],"additionalProperties":false}}"#),
        ),
        t(
            "bpf_unload",
            "Unload a detached program; it is freed after a grace period",
            r#"{"type":"object","properties":{"id":{"type":"integer","description":"Program id from bpf_load or bpf_list"}},"required":["id"],"additionalProperties":false}"#.to_string(),
        ),
        t(
            "bpf_list",
            "Loaded programs: type, attachments, engine, runs, instructions, time, verifier statistics",
            r#"{"type":"object","properties":{},"additionalProperties":false}"#.to_string(),
        ),
        t(
            "map_read",
            "Read a program's map: one key (hex), or every entry (at most 256)",
            r#"{"type":"object","properties":{"id":{"type":"integer","description":"Program id"},"map":{"type":"integer","minimum":0,"description":"Index of the map in the program's maps (default 0)"},"key":{"type":"string","description":"Key in hex; omit to read every entry"}},"required":["id"],"additionalProperties":false}"#.to_string(),
        ),
        t(
            "map_write",
            "Write one entry of a program's map (key and value in hex)",
            r#"{"type":"object","properties":{"id":{"type":"integer","description":"Program id"},"map":{"type":"integer","minimum":0,"description":"Index of the map in the program's maps (default 0)"},"key":{"type":"string","description":"Key in hex (the map's key size)"},"value":{"type":"string","description":"Value in hex (the map's value size)"}},"required":["id","key","value"],"additionalProperties":false}"#.to_string(),
        ),
        t(
            "cache_lookup",
            "Look a decision up in the decision cache without running anything",
            alloc::format!(r#"{{"type":"object","properties":{{"hook":{{"enum":["sched_slice","sched_cpu","mcp_admit"],"description":"Decision hook"}},"fields":{fields}}},"required":["hook"],"additionalProperties":false}}"#),
        ),
        t(
            "cache_invalidate",
            "Invalidate a hook's cached decisions, or only the one for `fields`",
            alloc::format!(r#"{{"type":"object","properties":{{"hook":{{"enum":["sched_slice","sched_cpu","mcp_admit"],"description":"Decision hook"}},"fields":{fields}}},"required":["hook"],"additionalProperties":false}}"#),
        ),
        t(
            "workload_run",
            "Run the synthetic workload (CPU-bound, sleeper and latency-sensitive tasks) on the worker cores; per-class throughput and wake-up latency percentiles",
            r#"{"type":"object","properties":{"ms":{"type":"integer","minimum":10,"maximum":10000,"description":"How long to run, in milliseconds"},"mix":{"enum":["mixed","latency","cpu_bound","bursty"],"description":"Tasks per worker core: mixed (2 CPU-bound, 1 sleeper, 1 latency-sensitive; the default), latency (1 CPU-bound, 3 latency-sensitive), cpu_bound (3 CPU-bound, 1 sleeper), bursty (2 CPU-bound, 2 waking in bursts)"}},"required":["ms"],"additionalProperties":false}"#.to_string(),
        ),
        t(
            "bpf_dump",
            "A loaded program's code as bytes, in chunks of at most 32 KiB from `offset`: `xlated` is the verified eBPF bytecode, `jited` the A64 code the JIT made (little-endian words), `jited_slots` the word offset of each eBPF slot's translation (little-endian u32s). The JSON says the total size; call again with the next offset until it is reached.",
            r#"{"type":"object","properties":{"id":{"type":"integer","description":"Program id from bpf_load or bpf_list"},"part":{"enum":["xlated","jited","jited_slots"],"description":"Which code: xlated (verified eBPF), jited (A64 words) or jited_slots (where each eBPF slot's A64 code starts)"},"offset":{"type":"integer","minimum":0,"description":"Byte offset to start from (0, then the end of the previous chunk)"}},"required":["id","part"],"additionalProperties":false}"#.to_string(),
        ),
    ];
    list.push(t(
        "trace_set",
        "Switch a hook's decision trace on or off (per-CPU rings, oldest overwritten). With explore: true the hook's caller replaces each decision by a random one within the hook's safe bounds (sched_slice only), to learn a policy from.",
        r#"{"type":"object","properties":{"hook":{"enum":["sched_slice","sched_cpu","mcp_admit"],"description":"Decision hook"},"on":{"type":"boolean","description":"Trace the hook (true) or stop (false)"},"explore":{"type":"boolean","description":"Randomise the hook's decisions within safe bounds while tracing (sched_slice only; default false)"},"seed":{"type":"integer","minimum":0,"description":"Seed of the exploration generators (repeatable runs)"}},"required":["hook","on"],"additionalProperties":false}"#.to_string(),
    ));
    list.push(t(
        "trace_read",
        "Take up to `max` unread trace records as the binary attachment: 80-byte little-endian records (time_ns; hook | cpu<<8 | source<<16 | program<<32; generation; 4 fields; decision; outcome[0..4] as u32 pairs). Sources: 0 l1, 1 global, 2 miss, 3 default, 4 fallback, 5 explore. The JSON has the counts.",
        alloc::format!(r#"{{"type":"object","properties":{{"max":{{"type":"integer","minimum":1,"maximum":{TRACE_READ_MAX},"description":"Most records to return (default {TRACE_READ_MAX})"}}}},"additionalProperties":false}}"#),
    ));
    for agent in runtime.list().iter().filter(|a| a.kind == Kind::Tool) {
        list.push(t(
            &agent.name,
            &alloc::format!("eBPF tool extension (program {}): r0 of the program run over the input bytes", agent.id),
            r#"{"type":"object","properties":{"input_hex":{"type":"string","description":"input bytes in hex"},"text":{"type":"string","description":"input as UTF-8 text"}},"additionalProperties":false}"#.to_string(),
        ));
    }
    list
}

/// Runs one of the runtime's tools or a `tool` program; `None` when `name` is neither.
pub fn call<C: CpuOps>(
    runtime: &Runtime<'_, C>,
    name: &str,
    args: &ToolArgs,
    cx: &mut CallContext<'_>,
) -> Option<ToolOutcome> {
    if !NAMES.contains(&name) {
        let agent = runtime.tool(name)?;
        return Some(match tool_input(args) {
            Ok(input) => match runtime.run_tool(cx.cpu, &agent, &input, cx.platform) {
                Ok(r0) => done(json!({"tool": name, "r0": r0, "input_bytes": input.len()})),
                Err(e) => ToolOutcome::Failed(alloc::format!("{name} failed: {e}")),
            },
            Err(e) => ToolOutcome::BadArguments(e),
        });
    }
    let object = match parse_object(args) {
        Ok(object) => object,
        Err(e) => return Some(ToolOutcome::BadArguments(e)),
    };
    let a = Args(&object);
    let outcome = match name {
        "bpf_load" => bpf_load(runtime, args, &a),
        "bpf_attach" => bpf_attach(runtime, &a, cx),
        "bpf_detach" => bpf_detach(runtime, &a),
        "bpf_unload" => a.only(&["id"]).and_then(|()| a.u32("id")).map(|id| match runtime.unload(id) {
            Ok(()) => done(json!({"unloaded": id})),
            Err(e) => failed(e),
        }),
        "bpf_list" => a.only(&[]).map(|()| done(list_json(runtime))),
        "map_read" => map_read(runtime, &a),
        "map_write" => map_write(runtime, &a),
        "cache_lookup" => cache_tool(runtime, &a, cx, false),
        "cache_invalidate" => cache_tool(runtime, &a, cx, true),
        "bpf_dump" => bpf_dump(runtime, &a),
        "trace_set" => trace_set(runtime, &a),
        "trace_read" => trace_read(runtime, &a),
        "workload_run" => a.only(&["ms", "mix"]).and_then(|()| a.u64("ms")).and_then(|ms| {
            if !(10..=10_000).contains(&ms) {
                return Err("'ms' must be between 10 and 10000".to_string());
            }
            let mix = match a.str_opt("mix")? {
                None => crate::workload::Mix::Mixed,
                Some(name) => crate::workload::Mix::by_name(name).ok_or_else(|| {
                    alloc::format!("unknown mix '{name}'; mixes are {}", crate::workload::Mix::NAMES.join(", "))
                })?,
            };
            Ok(match (cx.workload)(ms, mix) {
                Ok(report) => ToolOutcome::Done(alloc::vec![Content::Json(report)]),
                Err(why) => ToolOutcome::Failed(why),
            })
        }),
        _ => return None,
    };
    Some(outcome.unwrap_or_else(ToolOutcome::BadArguments))
}

fn done(value: Value) -> ToolOutcome {
    ToolOutcome::Done(alloc::vec![Content::Json(value.to_string())])
}

fn failed(error: AgentError) -> ToolOutcome {
    ToolOutcome::Failed(error.to_string())
}

/// Typed access to a JSON argument object, with messages that name the argument.
struct Args<'a>(&'a JsonMap<String, Value>);

impl Args<'_> {
    fn only(&self, allowed: &[&str]) -> Result<(), String> {
        match self.0.keys().find(|k| !allowed.contains(&k.as_str())) {
            Some(key) => Err(alloc::format!("unexpected argument '{key}'")),
            None => Ok(()),
        }
    }
    fn u64_opt(&self, name: &str) -> Result<Option<u64>, String> {
        match self.0.get(name) {
            None => Ok(None),
            Some(v) => v.as_u64().map(Some).ok_or_else(|| alloc::format!("'{name}' must be a non-negative integer")),
        }
    }
    fn u64(&self, name: &str) -> Result<u64, String> {
        self.u64_opt(name)?.ok_or_else(|| alloc::format!("missing argument '{name}'"))
    }
    fn u32(&self, name: &str) -> Result<u32, String> {
        u32::try_from(self.u64(name)?).map_err(|_| alloc::format!("'{name}' is too large"))
    }
    fn str_opt(&self, name: &str) -> Result<Option<&str>, String> {
        match self.0.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(alloc::format!("'{name}' must be a string")),
        }
    }
    fn bool(&self, name: &str) -> Result<Option<bool>, String> {
        match self.0.get(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(alloc::format!("'{name}' must be true or false")),
        }
    }
    fn str(&self, name: &str) -> Result<&str, String> {
        self.str_opt(name)?.ok_or_else(|| alloc::format!("missing argument '{name}'"))
    }
    fn hex(&self, name: &str) -> Result<Vec<u8>, String> {
        decode_hex(self.str(name)?).map_err(|e| alloc::format!("'{name}': {e}"))
    }
    fn hook(&self) -> Result<Option<Hook>, String> {
        let name = self.str("hook")?;
        if name == "timer" {
            return Ok(None);
        }
        Hook::by_name(name).map(Some).ok_or_else(|| {
            alloc::format!("unknown hook '{name}'; hooks are sched_slice, sched_cpu, mcp_admit and timer")
        })
    }
    fn decision_hook(&self) -> Result<Hook, String> {
        self.hook()?.ok_or_else(|| "timer has no cached decisions; use sched_slice, sched_cpu or mcp_admit".to_string())
    }
    fn fields(&self, hook: &Hook) -> Result<[u64; hooks::DECISION_FIELDS], String> {
        let mut fields = [0u64; hooks::DECISION_FIELDS];
        match self.0.get("fields") {
            None => {}
            Some(Value::Array(values)) if values.len() <= hooks::DECISION_FIELDS => {
                for (slot, v) in fields.iter_mut().zip(values) {
                    *slot = v.as_u64().ok_or("'fields' must hold non-negative integers")?;
                }
            }
            Some(Value::Object(named)) => {
                for (name, v) in named {
                    let index = hook.field_index(name).ok_or_else(|| {
                        alloc::format!(
                            "{} has no field '{name}'; its fields are {}",
                            hook.name,
                            hook.fields.iter().filter(|f| !f.is_empty()).copied().collect::<Vec<_>>().join(", ")
                        )
                    })?;
                    fields[index] = v.as_u64().ok_or("'fields' must hold non-negative integers")?;
                }
            }
            Some(_) => return Err("'fields' must be an object of named fields or an array of up to 4 numbers".into()),
        }
        Ok(fields)
    }
}

fn bpf_load<C: CpuOps>(runtime: &Runtime<'_, C>, args: &ToolArgs, a: &Args<'_>) -> Result<ToolOutcome, String> {
    a.only(&["type", "name", "signature", "bytes_hex", "maps", "replace"])?;
    let replace = match a.0.get("replace") {
        None => false,
        Some(Value::Bool(replace)) => *replace,
        Some(_) => return Err("'replace' must be true or false".into()),
    };
    let kind_name = a.str("type")?;
    let kind = Kind::from_name(kind_name)
        .ok_or_else(|| alloc::format!("unknown program type '{kind_name}'; types are decision, tool and timer"))?;
    let name = a.str("name")?;
    let signature = match a.str_opt("signature")? {
        Some(hex) => Some(decode_hex(hex).map_err(|e| alloc::format!("'signature': {e}"))?),
        None => None,
    };
    let bytecode = match (args, a.str_opt("bytes_hex")?) {
        (ToolArgs::JsonAndBytes { bytes, .. }, None) => bytes.clone(),
        (ToolArgs::Json(_), Some(_)) => a.hex("bytes_hex")?,
        (ToolArgs::JsonAndBytes { .. }, Some(_)) => {
            return Err("give the bytecode once: as the attachment or as 'bytes_hex', not both".into())
        }
        _ => return Err("missing bytecode: attach it or pass 'bytes_hex'".into()),
    };
    let maps = match a.0.get("maps") {
        None => Vec::new(),
        Some(Value::Array(list)) if list.len() <= 16 => list.iter().map(map_def).collect::<Result<Vec<_>, _>>()?,
        Some(_) => return Err("'maps' must be an array of at most 16 map definitions".into()),
    };
    let request = LoadRequest { kind, name, maps: &maps, bytecode: &bytecode, signature: signature.as_deref() };
    let loaded = if replace { runtime.load_replacing(&request) } else { runtime.load(&request).map(|a| (a, None)) };
    Ok(match loaded {
        Ok((agent, replaced)) => done(json!({
            "id": agent.id,
            "name": agent.name,
            "type": kind.name(),
            "insns": agent.insns(),
            "jited_bytes": agent.jited_bytes(),
            "engine": agent.engine(),
            "attached": agent.attachments(),
            "replaced": replaced.map(|r| json!({"id": r.id, "hooks": r.hooks})),
            "verifier": verify_json(&agent.verify),
        })),
        Err(e) => failed(e),
    })
}

/// A map definition from `bpf_load`'s `maps` argument (the host bridge reads them with this too).
pub fn map_def(value: &Value) -> Result<MapDef, String> {
    let bad = || "each map needs kind (hash, array, percpu_array), key_size, value_size and max_entries".to_string();
    let object = value.as_object().ok_or_else(bad)?;
    let number = |name: &str| -> Result<u32, String> {
        object.get(name).and_then(Value::as_u64).and_then(|v| u32::try_from(v).ok()).ok_or_else(bad)
    };
    let kind = match object.get("kind").and_then(Value::as_str) {
        Some("hash") => MapKind::Hash,
        Some("array") => MapKind::Array,
        Some("percpu_array") => MapKind::PerCpuArray,
        _ => return Err(bad()),
    };
    Ok(MapDef {
        kind,
        key_size_bytes: number("key_size")?,
        value_size_bytes: number("value_size")?,
        max_entries: number("max_entries")?,
    })
}

/// The JSON form of a map definition (the host's `maps` argument).
pub fn map_kind_name(kind: MapKind) -> &'static str {
    match kind {
        MapKind::Hash => "hash",
        MapKind::Array => "array",
        MapKind::PerCpuArray => "percpu_array",
    }
}

fn verify_json(stats: &kingly_bpf::VerifyStats) -> Value {
    json!({
        "insns_processed": stats.insns_processed,
        "states_stored": stats.states_stored,
        "paths_pruned": stats.paths_pruned,
        "worst_case_path_insns": stats.worst_case_path_insns,
    })
}

fn bpf_attach<C: CpuOps>(runtime: &Runtime<'_, C>, a: &Args<'_>, cx: &CallContext<'_>) -> Result<ToolOutcome, String> {
    a.only(&["id", "hook", "period_ms", "cpu"])?;
    let id = a.u32("id")?;
    Ok(match a.hook()? {
        Some(hook) => {
            if a.0.contains_key("period_ms") || a.0.contains_key("cpu") {
                return Err("period_ms and cpu are for the timer hook".into());
            }
            match runtime.attach(id, &hook) {
                Ok(replaced) => done(json!({"attached": id, "hook": hook.name, "replaced": replaced})),
                Err(e) => failed(e),
            }
        }
        None => {
            let period_ms = a.u64("period_ms")?;
            let cpu = a.u64_opt("cpu")?.unwrap_or(0);
            if cpu >= cx.cpus as u64 {
                return Err(alloc::format!("'cpu' must be below {}", cx.cpus));
            }
            let slot = TimerSlot { period_ms: u32::try_from(period_ms).unwrap_or(u32::MAX), cpu: cpu as u32 };
            match runtime.attach_timer(id, slot, cx.now_ms) {
                Ok(()) => done(json!({"attached": id, "hook": "timer", "period_ms": period_ms, "cpu": cpu})),
                Err(e) => failed(e),
            }
        }
    })
}

fn bpf_detach<C: CpuOps>(runtime: &Runtime<'_, C>, a: &Args<'_>) -> Result<ToolOutcome, String> {
    a.only(&["hook", "id"])?;
    Ok(match a.hook()? {
        Some(hook) => match a.u64_opt("id")? {
            None => done(json!({"detached": runtime.detach(&hook), "hook": hook.name})),
            Some(_) => {
                let id = a.u32("id")?;
                match runtime.detach_agent(id, &hook) {
                    Ok(()) => done(json!({"detached": id, "hook": hook.name})),
                    Err(e) => failed(e),
                }
            }
        },
        None => {
            let id = a.u32("id").map_err(|_| "detaching a timer needs its program 'id'".to_string())?;
            match runtime.detach_timer(id) {
                Ok(()) => done(json!({"detached": id, "hook": "timer"})),
                Err(e) => failed(e),
            }
        }
    })
}

fn list_json<C: CpuOps>(runtime: &Runtime<'_, C>) -> Value {
    let programs: Vec<Value> = runtime
        .list()
        .iter()
        .map(|agent| {
            let s = &agent.stats;
            let r = |c: &core::sync::atomic::AtomicU64| c.load(core::sync::atomic::Ordering::Relaxed);
            json!({
                "id": agent.id,
                "name": agent.name,
                "type": agent.kind.name(),
                "attached": agent.attachments(),
                "timer": agent.timer().map(|t| json!({"period_ms": t.period_ms, "cpu": t.cpu})),
                "engine": agent.engine(),
                "insns": agent.insns(),
                "xlated_insns": agent.insns(),
                "jited_bytes": agent.jited_bytes(),
                "jited_insns": agent.jited().map(|code| code.words.len()),
                "maps": agent.map_defs().len(),
                "runs": r(&s.runs),
                "errors": r(&s.errors),
                "total_insns": r(&s.total_insns),
                "max_insns": r(&s.max_insns),
                "total_ns": r(&s.total_ns),
                "verifier": verify_json(&agent.verify),
            })
        })
        .collect();
    let stats = &runtime.stats;
    let r = |c: &core::sync::atomic::AtomicU64| c.load(core::sync::atomic::Ordering::Relaxed);
    json!({
        "programs": programs,
        "signing": runtime.trust().describe(),
        "swaps": r(&stats.swaps),
        "default_decisions": r(&stats.defaults),
        "fallbacks": r(&stats.fallbacks),
        "hooks": HOOKS.iter().map(|h| json!({"hook": h.name, "fields": h.fields.iter().filter(|f| !f.is_empty()).collect::<Vec<_>>(), "returns": h.returns, "ttl_ticks": h.ttl_ticks, "budget_insns": h.budget_insns})).collect::<Vec<_>>(),
    })
}

fn map_index(a: &Args<'_>) -> Result<usize, String> {
    Ok(a.u64_opt("map")?.unwrap_or(0) as usize)
}

fn map_read<C: CpuOps>(runtime: &Runtime<'_, C>, a: &Args<'_>) -> Result<ToolOutcome, String> {
    a.only(&["id", "map", "key"])?;
    let id = a.u32("id")?;
    let index = map_index(a)?;
    let key = match a.str_opt("key")? {
        Some(_) => Some(a.hex("key")?),
        None => None,
    };
    let Some(agent) = runtime.get(id) else { return Ok(failed(AgentError::NoSuchAgent(id))) };
    let result = agent.with_map::<C, _>(index, |map| match &key {
        Some(key) => {
            if key.len() != map.def().key_size_bytes as usize {
                return Err(alloc::format!("the key must be {} bytes", map.def().key_size_bytes));
            }
            Ok(json!({"key": encode_hex(key), "value": map.lookup(key).map(encode_hex)}))
        }
        None => {
            let mut entries = Vec::new();
            map.for_each(|k, v| {
                if entries.len() < 256 {
                    entries.push(json!({"key": encode_hex(k), "value": encode_hex(v)}));
                }
            });
            Ok(json!({"entries": entries, "len": map.len()}))
        }
    });
    Ok(match result {
        None => ToolOutcome::Failed(alloc::format!("program {id} has no map {index}")),
        Some(Ok(value)) => done(value),
        Some(Err(e)) => ToolOutcome::Failed(e),
    })
}

fn map_write<C: CpuOps>(runtime: &Runtime<'_, C>, a: &Args<'_>) -> Result<ToolOutcome, String> {
    a.only(&["id", "map", "key", "value"])?;
    let id = a.u32("id")?;
    let index = map_index(a)?;
    let (key, value) = (a.hex("key")?, a.hex("value")?);
    let Some(agent) = runtime.get(id) else { return Ok(failed(AgentError::NoSuchAgent(id))) };
    let result = agent.with_map::<C, _>(index, |map| {
        map.update(&key, &value, kingly_bpf::maps::update_flags::ANY, 0)
            .map_err(|e| map_write_refusal(e, map.def(), key.len(), value.len()))
    });
    Ok(match result {
        None => ToolOutcome::Failed(alloc::format!("program {id} has no map {index}")),
        Some(Ok(())) => done(json!({"written": true, "key": encode_hex(&key)})),
        Some(Err(e)) => ToolOutcome::Failed(alloc::format!("map_write refused: {e}")),
    })
}

/// Why `map_write` refused, in words: the cause, and what to send instead.
pub fn map_write_refusal(error: MapError, def: &MapDef, key_bytes: usize, value_bytes: usize) -> String {
    let (key_size, value_size, entries) = (def.key_size_bytes, def.value_size_bytes, def.max_entries);
    match error {
        MapError::KeySize | MapError::Full if def.kind != MapKind::Hash && key_bytes != key_size as usize => {
            alloc::format!("the key is {key_bytes} bytes but this map takes {key_size}-byte keys (the index, little-endian)")
        }
        MapError::KeySize => alloc::format!("the key is {key_bytes} bytes but this map takes {key_size}-byte keys"),
        MapError::ValueSize => {
            alloc::format!("the value is {value_bytes} bytes but this map holds {value_size}-byte values")
        }
        MapError::Full if def.kind != MapKind::Hash => alloc::format!(
            "index out of range: this {} has {entries} entries (keys 0 to {})",
            map_kind_name(def.kind),
            entries.saturating_sub(1)
        ),
        MapError::Full => alloc::format!(
            "the map is full ({entries} entries) and the key is new; overwrite an existing key or give the map a larger max_entries"
        ),
        other => alloc::format!("{other}"),
    }
}

fn bpf_dump<C: CpuOps>(runtime: &Runtime<'_, C>, a: &Args<'_>) -> Result<ToolOutcome, String> {
    a.only(&["id", "part", "offset"])?;
    let id = a.u32("id")?;
    let part = a.str("part")?;
    let offset = a.u64_opt("offset")?.unwrap_or(0);
    let Some(agent) = runtime.get(id) else { return Ok(failed(AgentError::NoSuchAgent(id))) };
    let bytes = match (part, agent.jited()) {
        ("xlated", _) => agent.xlated_bytes(),
        ("jited", Some(code)) => code.bytes(),
        ("jited_slots", Some(code)) => code.slot_offsets.iter().flat_map(|o| o.to_le_bytes()).collect(),
        ("jited" | "jited_slots", None) => {
            return Ok(ToolOutcome::Failed(alloc::format!(
                "program {id} ({}) runs in the interpreter: the JIT made no code for it; its xlated instructions are all there is",
                agent.name
            )))
        }
        _ => return Err(alloc::format!("unknown part '{part}'; parts are xlated, jited and jited_slots")),
    };
    let start = usize::try_from(offset).unwrap_or(usize::MAX).min(bytes.len());
    let end = (start + DUMP_CHUNK_BYTES).min(bytes.len());
    let meta = json!({
        "id": agent.id,
        "name": agent.name,
        "type": agent.kind.name(),
        "engine": agent.engine(),
        "part": part,
        "offset": start,
        "chunk_bytes": end - start,
        "total_bytes": bytes.len(),
        "xlated_insns": agent.insns(),
        "stubs_offset": agent.jited().map(|code| code.stubs_offset),
    });
    Ok(ToolOutcome::Done(alloc::vec![
        Content::Json(meta.to_string()),
        Content::Bytes { mime_type: "application/octet-stream".to_string(), data: bytes[start..end].to_vec() },
    ]))
}

fn cache_tool<C: CpuOps>(
    runtime: &Runtime<'_, C>,
    a: &Args<'_>,
    cx: &CallContext<'_>,
    invalidate: bool,
) -> Result<ToolOutcome, String> {
    a.only(&["hook", "fields"])?;
    let hook = a.decision_hook()?;
    let fields = a.fields(&hook)?;
    Ok(if invalidate {
        if a.0.contains_key("fields") {
            done(json!({"hook": hook.name, "fields": fields, "removed": runtime.invalidate_key(&hook, fields)}))
        } else {
            runtime.invalidate_hook(&hook);
            done(json!({"hook": hook.name, "invalidated": "all"}))
        }
    } else {
        let cached = runtime.cached(cx.cpu, &hook, fields, cx.now_ticks);
        // Which policy made the cached decision: its program (0: the default policy; null: a
        // program replaced since, whose decision is stale and about to go) and generation.
        let made_by = cached.map(|d| {
            let program = runtime.provenance(&hook, d.generation()).map(|p| p.program);
            json!({"program": program, "generation": d.generation()})
        });
        done(
            json!({"hook": hook.name, "fields": fields, "hit": cached.is_some(), "value": cached.map(|d| d.value()), "made_by": made_by}),
        )
    })
}

fn trace_set<C: CpuOps>(runtime: &Runtime<'_, C>, a: &Args<'_>) -> Result<ToolOutcome, String> {
    a.only(&["hook", "on", "explore", "seed"])?;
    let hook = a.decision_hook()?;
    let on = a.bool("on")?.ok_or("'on' is required: true to trace the hook, false to stop")?;
    let explore = a.bool("explore")?.unwrap_or(false);
    if explore && hook.id != hooks::SCHED_SLICE.id {
        return Err(alloc::format!("explore is for sched_slice only; {} has no safe range to explore", hook.name));
    }
    if let Some(seed) = a.u64_opt("seed")? {
        runtime.trace.seed(seed);
    }
    runtime.trace.set(hook.id, on, explore);
    Ok(done(json!({"hook": hook.name, "on": on, "explore": on && explore, "counters": trace_counters(runtime)})))
}

fn trace_counters<C: CpuOps>(runtime: &Runtime<'_, C>) -> Value {
    let c = runtime.trace.counters();
    json!({"written": c.written, "read": c.read, "dropped": c.dropped, "nested": c.nested})
}

fn trace_read<C: CpuOps>(runtime: &Runtime<'_, C>, a: &Args<'_>) -> Result<ToolOutcome, String> {
    a.only(&["max"])?;
    let max = a.u64_opt("max")?.unwrap_or(TRACE_READ_MAX as u64);
    if !(1..=TRACE_READ_MAX as u64).contains(&max) {
        return Err(alloc::format!("'max' must be between 1 and {TRACE_READ_MAX}"));
    }
    let records = runtime.trace.drain(max as usize);
    let mut bytes = Vec::with_capacity(records.len() * crate::trace::RECORD_BYTES);
    for record in &records {
        record.write_le(&mut bytes);
    }
    let (on, exploring) = runtime.trace.switches();
    let names = |bits: u32| -> Vec<&str> { HOOKS.iter().filter(|h| bits & (1 << h.id) != 0).map(|h| h.name).collect() };
    let summary = json!({
        "records": records.len(),
        "record_bytes": crate::trace::RECORD_BYTES,
        "traced": names(on),
        "exploring": names(exploring),
        "counters": trace_counters(runtime),
    });
    Ok(ToolOutcome::Done(alloc::vec![
        Content::Json(summary.to_string()),
        Content::Bytes { mime_type: "application/x-kingly-trace".to_string(), data: bytes },
    ]))
}

fn tool_input(args: &ToolArgs) -> Result<Vec<u8>, String> {
    let input = match args {
        ToolArgs::Bytes(bytes) => bytes.clone(),
        _ => {
            let object = parse_object(args)?;
            let a = Args(&object);
            a.only(&["input_hex", "text"])?;
            match (a.str_opt("input_hex")?, a.str_opt("text")?) {
                (Some(_), None) => a.hex("input_hex")?,
                (None, Some(text)) => text.as_bytes().to_vec(),
                (None, None) => Vec::new(),
                (Some(_), Some(_)) => return Err("give 'input_hex' or 'text', not both".into()),
            }
        }
    };
    if input.len() > hooks::TOOL_MAX_INPUT_BYTES {
        return Err(alloc::format!("input of {} bytes exceeds {}", input.len(), hooks::TOOL_MAX_INPUT_BYTES));
    }
    Ok(input)
}

/// Lowercase hex.
pub fn encode_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
}

/// Why hex text was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HexError {
    OddLength,
    BadDigit(usize),
    WrongLength,
}

impl core::fmt::Display for HexError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            HexError::OddLength => f.write_str("hex needs an even number of digits"),
            HexError::BadDigit(at) => write!(f, "not a hex digit at position {at}"),
            HexError::WrongLength => f.write_str("wrong number of hex digits"),
        }
    }
}

fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Decodes hex (either case) into a new vector.
pub fn decode_hex(text: &str) -> Result<Vec<u8>, HexError> {
    let mut out = alloc::vec![0u8; text.len() / 2];
    if !text.len().is_multiple_of(2) {
        return Err(HexError::OddLength);
    }
    decode_hex_into(text, &mut out)?;
    Ok(out)
}

/// Decodes hex into exactly `out.len()` bytes.
pub fn decode_hex_into(text: &str, out: &mut [u8]) -> Result<(), HexError> {
    let digits = text.as_bytes();
    if digits.len() != out.len() * 2 {
        return Err(if digits.len().is_multiple_of(2) { HexError::WrongLength } else { HexError::OddLength });
    }
    for (i, byte) in out.iter_mut().enumerate() {
        let hi = nibble(digits[2 * i]).ok_or(HexError::BadDigit(2 * i))?;
        let lo = nibble(digits[2 * i + 1]).ok_or(HexError::BadDigit(2 * i + 1))?;
        *byte = hi << 4 | lo;
    }
    Ok(())
}
