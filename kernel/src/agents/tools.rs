//! The agent runtime's message-port tools (`bpf_load`, `bpf_attach`, `bpf_detach`,
//! `bpf_unload`, `bpf_list`, `map_read`, `map_write`, `cache_lookup`, `cache_invalidate`,
//! `workload_run`, `bpf_dump`, `trace_set`, `trace_read`) and one tool per loaded `tool`
//! program. Arguments and results are the types of `kingly_proto::contract`; bytecode, dumps,
//! trace records and a tool program's input travel as attachments.

use super::{AgentError, LoadRequest, Runtime, TimerSlot};
use crate::cpu::CpuOps;
use crate::port::tools::{arguments, reply};
use crate::port::ToolOutcome;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use kingly_bpf::hooks::{self, Hook, Kind, HOOKS};
use kingly_bpf::maps::MapError;
use kingly_bpf::{MapDef, MapKind, Platform};
use kingly_proto::contract::{self as c, Hex, AGENT_TOOLS};
use kingly_proto::{Content, ToolArgs, ToolDescriptor};

pub use kingly_proto::contract::{DUMP_CHUNK_BYTES, TRACE_READ_MAX};

/// What a tool call needs from the platform besides the runtime.
pub struct CallContext<'a> {
    pub cpu: usize,
    pub now_ticks: u64,
    pub now_ms: u64,
    pub cpus: usize,
    pub platform: &'a mut dyn Platform,
    /// Runs the synthetic workload mix for this many milliseconds; its report or why not.
    pub workload: &'a mut dyn FnMut(u64, c::Mix) -> Result<c::WorkloadReport, String>,
}

/// Descriptors of the runtime's tools, then one per loaded `tool` program.
pub fn descriptors<C: CpuOps>(runtime: &Runtime<'_, C>) -> Vec<ToolDescriptor> {
    let mut list: Vec<ToolDescriptor> = AGENT_TOOLS
        .iter()
        .map(|t| ToolDescriptor { name: t.name.to_string(), description: t.description.to_string() })
        .collect();
    for agent in runtime.list().iter().filter(|a| a.kind == Kind::Tool) {
        list.push(ToolDescriptor {
            name: agent.name.clone(),
            description: alloc::format!(
                "{} (program {}): r0 of the program run over the input bytes",
                c::EXTENSION_DESCRIPTION,
                agent.id
            ),
        });
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
    if !AGENT_TOOLS.iter().any(|t| t.name == name) {
        let agent = runtime.tool(name)?;
        return Some(match tool_input(name, args) {
            Ok(input) => match runtime.run_tool(cx.cpu, &agent, input, cx.platform) {
                Ok(r0) => reply(&c::ExtensionReply { tool: name.to_string(), r0, input_bytes: input.len() as u64 }),
                Err(e) => ToolOutcome::Failed(alloc::format!("{name} failed: {e}")),
            },
            Err(e) => ToolOutcome::BadArguments(e),
        });
    }
    let outcome = match name {
        "bpf_load" => bpf_load(runtime, args),
        "bpf_attach" => arguments(name, args).and_then(|a| bpf_attach(runtime, a, cx)),
        "bpf_detach" => arguments(name, args).and_then(|a| bpf_detach(runtime, a)),
        "bpf_unload" => arguments(name, args).map(|c::BpfUnloadArgs { id }| match runtime.unload(id) {
            Ok(()) => reply(&c::UnloadReply { unloaded: id }),
            Err(e) => failed(e),
        }),
        "bpf_list" => arguments::<c::NoArgs>(name, args).map(|_| reply(&list(runtime))),
        "map_read" => arguments(name, args).map(|a| map_read(runtime, a)),
        "map_write" => arguments(name, args).map(|a| map_write(runtime, a)),
        "cache_lookup" => arguments(name, args).and_then(|a| cache_lookup(runtime, a, cx)),
        "cache_invalidate" => arguments(name, args).and_then(|a| cache_invalidate(runtime, a)),
        "bpf_dump" => arguments(name, args).map(|a| bpf_dump(runtime, a)),
        "trace_set" => arguments(name, args).and_then(|a| trace_set(runtime, a)),
        "trace_read" => arguments(name, args).and_then(|a| trace_read(runtime, a)),
        "workload_run" => arguments(name, args).and_then(|c::WorkloadArgs { ms, mix }| {
            if !(10..=10_000).contains(&ms) {
                return Err("'ms' must be between 10 and 10000".to_string());
            }
            Ok(match (cx.workload)(ms, mix.unwrap_or_default()) {
                Ok(report) => reply(&report),
                Err(why) => ToolOutcome::Failed(why),
            })
        }),
        _ => return None,
    };
    Some(outcome.unwrap_or_else(ToolOutcome::BadArguments))
}

fn failed(error: AgentError) -> ToolOutcome {
    ToolOutcome::Failed(error.to_string())
}

/// The kernel's hook of a contract hook name; `None` for the timer.
fn hook_of(name: c::HookName) -> Option<Hook> {
    match name {
        c::HookName::Timer => None,
        other => Hook::by_name(other.as_str()),
    }
}

fn decision_hook(name: c::DecisionHook) -> Result<Hook, String> {
    Hook::by_name(name.as_str()).ok_or_else(|| alloc::format!("this kernel has no hook '{}'", name.as_str()))
}

fn program_type(kind: Kind) -> c::ProgramType {
    match kind {
        Kind::Decision => c::ProgramType::Decision,
        Kind::Tool => c::ProgramType::Tool,
        Kind::Timer => c::ProgramType::Timer,
    }
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// A decision key from the `fields` argument: named fields, or up to four numbers in order.
fn key_fields(hook: &Hook, fields: Option<&c::Fields>) -> Result<[u64; hooks::DECISION_FIELDS], String> {
    let mut key = [0u64; hooks::DECISION_FIELDS];
    match fields {
        None => {}
        Some(c::Fields::Values(values)) if values.len() <= hooks::DECISION_FIELDS => {
            key[..values.len()].copy_from_slice(values);
        }
        Some(c::Fields::Values(_)) => {
            return Err("'fields' must be an object of named fields or an array of up to 4 numbers".into())
        }
        Some(c::Fields::Named(named)) => {
            for (name, value) in named {
                let index = hook.field_index(name).ok_or_else(|| {
                    alloc::format!(
                        "{} has no field '{name}'; its fields are {}",
                        hook.name,
                        hook.fields.iter().filter(|f| !f.is_empty()).copied().collect::<Vec<_>>().join(", ")
                    )
                })?;
                key[index] = *value;
            }
        }
    }
    Ok(key)
}

fn bpf_load<C: CpuOps>(runtime: &Runtime<'_, C>, args: &ToolArgs) -> Result<ToolOutcome, String> {
    let a: c::BpfLoadArgs = c::decode("bpf_load", &args.request).map_err(|e| e.to_string())?;
    let kind = Kind::from_name(a.kind.as_str())
        .ok_or_else(|| alloc::format!("this kernel has no program type '{}'", a.kind.as_str()))?;
    let bytecode = match (&a.bytes_hex, args.attachment.is_empty()) {
        (None, false) => &args.attachment[..],
        (Some(bytes), true) => bytes.bytes(),
        (Some(_), false) => return Err("give the bytecode once: as the attachment or as 'bytes_hex', not both".into()),
        (None, true) => return Err("missing bytecode: attach it or pass 'bytes_hex'".into()),
    };
    if a.maps.len() > 16 {
        return Err("'maps' must be an array of at most 16 map definitions".into());
    }
    let maps: Vec<MapDef> = a.maps.iter().map(MapDef::from).collect();
    let request =
        LoadRequest { kind, name: &a.name, maps: &maps, bytecode, signature: a.signature.as_ref().map(|s| s.bytes()) };
    let loaded = if a.replace { runtime.load_replacing(&request) } else { runtime.load(&request).map(|a| (a, None)) };
    Ok(match loaded {
        Ok((agent, replaced)) => reply(&c::LoadReply {
            id: agent.id,
            name: agent.name.clone(),
            kind: program_type(kind),
            insns: agent.insns() as u64,
            jited_bytes: agent.jited_bytes().map(|b| b as u64),
            engine: agent.engine().to_string(),
            attached: names(&agent.attachments()),
            replaced: replaced.map(|r| c::Replaced { id: r.id, hooks: names(&r.hooks) }),
            verifier: verifier(&agent.verify),
        }),
        Err(e) => failed(e),
    })
}

fn verifier(stats: &kingly_bpf::VerifyStats) -> c::VerifierStats {
    c::VerifierStats {
        insns_processed: stats.insns_processed,
        states_stored: stats.states_stored,
        paths_pruned: stats.paths_pruned,
        worst_case_path_insns: stats.worst_case_path_insns,
    }
}

fn bpf_attach<C: CpuOps>(
    runtime: &Runtime<'_, C>,
    a: c::BpfAttachArgs,
    cx: &CallContext<'_>,
) -> Result<ToolOutcome, String> {
    let id = a.id;
    Ok(match hook_of(a.hook) {
        Some(hook) => {
            if a.period_ms.is_some() || a.cpu.is_some() {
                return Err("period_ms and cpu are for the timer hook".into());
            }
            match runtime.attach(id, &hook) {
                Ok(replaced) => {
                    reply(&c::AttachReply::Hook(c::HookAttached { attached: id, hook: hook.name.into(), replaced }))
                }
                Err(e) => failed(e),
            }
        }
        None => {
            let period_ms = a.period_ms.ok_or("missing argument 'period_ms'")?;
            let cpu = a.cpu.unwrap_or(0);
            if cpu as usize >= cx.cpus {
                return Err(alloc::format!("'cpu' must be below {}", cx.cpus));
            }
            match runtime.attach_timer(id, TimerSlot { period_ms, cpu }, cx.now_ms) {
                Ok(()) => reply(&c::AttachReply::Timer(c::TimerAttached {
                    attached: id,
                    hook: "timer".into(),
                    period_ms,
                    cpu,
                })),
                Err(e) => failed(e),
            }
        }
    })
}

fn bpf_detach<C: CpuOps>(runtime: &Runtime<'_, C>, a: c::BpfDetachArgs) -> Result<ToolOutcome, String> {
    let detached = |id: Option<u32>, hook: &str| reply(&c::DetachReply { detached: id, hook: hook.into() });
    Ok(match (hook_of(a.hook), a.id) {
        (Some(hook), None) => detached(runtime.detach(&hook), hook.name),
        (Some(hook), Some(id)) => match runtime.detach_agent(id, &hook) {
            Ok(()) => detached(Some(id), hook.name),
            Err(e) => failed(e),
        },
        (None, Some(id)) => match runtime.detach_timer(id) {
            Ok(()) => detached(Some(id), "timer"),
            Err(e) => failed(e),
        },
        (None, None) => return Err("detaching a timer needs its program 'id'".into()),
    })
}

fn list<C: CpuOps>(runtime: &Runtime<'_, C>) -> c::ListReply {
    let r = |c: &core::sync::atomic::AtomicU64| c.load(core::sync::atomic::Ordering::Relaxed);
    let programs = runtime
        .list()
        .iter()
        .map(|agent| {
            let s = &agent.stats;
            c::ProgramInfo {
                id: agent.id,
                name: agent.name.clone(),
                kind: program_type(agent.kind),
                attached: names(&agent.attachments()),
                timer: agent.timer().map(|t| c::TimerInfo { period_ms: t.period_ms, cpu: t.cpu }),
                engine: agent.engine().to_string(),
                insns: agent.insns() as u64,
                xlated_insns: agent.insns() as u64,
                jited_bytes: agent.jited_bytes().map(|b| b as u64),
                jited_insns: agent.jited().map(|code| code.words.len() as u64),
                maps: agent.map_defs().len() as u64,
                runs: r(&s.runs),
                errors: r(&s.errors),
                total_insns: r(&s.total_insns),
                max_insns: r(&s.max_insns),
                total_ns: r(&s.total_ns),
                verifier: verifier(&agent.verify),
            }
        })
        .collect();
    let stats = &runtime.stats;
    c::ListReply {
        programs,
        signing: runtime.trust().describe().to_string(),
        swaps: r(&stats.swaps),
        default_decisions: r(&stats.defaults),
        fallbacks: r(&stats.fallbacks),
        hooks: HOOKS
            .iter()
            .map(|h| c::HookInfo {
                hook: h.name.to_string(),
                fields: h.fields.iter().filter(|f| !f.is_empty()).map(|f| f.to_string()).collect(),
                returns: h.returns.to_string(),
                ttl_ticks: h.ttl_ticks,
                budget_insns: h.budget_insns,
            })
            .collect(),
    }
}

fn map_read<C: CpuOps>(runtime: &Runtime<'_, C>, a: c::MapReadArgs) -> ToolOutcome {
    let (id, index) = (a.id, a.map.unwrap_or(0) as usize);
    let Some(agent) = runtime.get(id) else { return failed(AgentError::NoSuchAgent(id)) };
    let result = agent.with_map::<C, _>(index, |map| match &a.key {
        Some(key) => {
            if key.bytes().len() != map.def().key_size_bytes as usize {
                return Err(alloc::format!("the key must be {} bytes", map.def().key_size_bytes));
            }
            let value = map.lookup(key.bytes()).map(Hex::from);
            Ok(c::MapReadReply::One(c::MapValue { key: key.clone(), value }))
        }
        None => {
            let mut entries = Vec::new();
            map.for_each(|k, v| {
                if entries.len() < 256 {
                    entries.push(c::MapEntry { key: k.into(), value: v.into() });
                }
            });
            Ok(c::MapReadReply::All(c::MapEntries { entries, len: map.len() as u64 }))
        }
    });
    match result {
        None => ToolOutcome::Failed(alloc::format!("program {id} has no map {index}")),
        Some(Ok(value)) => reply(&value),
        Some(Err(e)) => ToolOutcome::Failed(e),
    }
}

fn map_write<C: CpuOps>(runtime: &Runtime<'_, C>, a: c::MapWriteArgs) -> ToolOutcome {
    let (id, index) = (a.id, a.map.unwrap_or(0) as usize);
    let (key, value) = (a.key.bytes(), a.value.bytes());
    let Some(agent) = runtime.get(id) else { return failed(AgentError::NoSuchAgent(id)) };
    let result = agent.with_map::<C, _>(index, |map| {
        map.update(key, value, kingly_bpf::maps::update_flags::ANY, 0)
            .map_err(|e| map_write_refusal(e, map.def(), key.len(), value.len()))
    });
    match result {
        None => ToolOutcome::Failed(alloc::format!("program {id} has no map {index}")),
        Some(Ok(())) => reply(&c::MapWriteReply { written: true, key: a.key }),
        Some(Err(e)) => ToolOutcome::Failed(alloc::format!("map_write refused: {e}")),
    }
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
            c::MapKind::from(def.kind).as_str(),
            entries.saturating_sub(1)
        ),
        MapError::Full => alloc::format!(
            "the map is full ({entries} entries) and the key is new; overwrite an existing key or give the map a larger max_entries"
        ),
        other => alloc::format!("{other}"),
    }
}

fn bpf_dump<C: CpuOps>(runtime: &Runtime<'_, C>, a: c::BpfDumpArgs) -> ToolOutcome {
    let id = a.id;
    let Some(agent) = runtime.get(id) else { return failed(AgentError::NoSuchAgent(id)) };
    let bytes = match (a.part, agent.jited()) {
        (c::DumpPart::Xlated, _) => agent.xlated_bytes(),
        (c::DumpPart::Jited, Some(code)) => code.bytes(),
        (c::DumpPart::JitedSlots, Some(code)) => code.slot_offsets.iter().flat_map(|o| o.to_le_bytes()).collect(),
        (c::DumpPart::Jited | c::DumpPart::JitedSlots, None) => {
            return ToolOutcome::Failed(alloc::format!(
                "program {id} ({}) runs in the interpreter: the JIT made no code for it; its xlated instructions are all there is",
                agent.name
            ))
        }
    };
    let start = usize::try_from(a.offset.unwrap_or(0)).unwrap_or(usize::MAX).min(bytes.len());
    let end = (start + DUMP_CHUNK_BYTES).min(bytes.len());
    let meta = c::DumpReply {
        id: agent.id,
        name: agent.name.clone(),
        kind: program_type(agent.kind),
        engine: agent.engine().to_string(),
        part: a.part,
        offset: start as u64,
        chunk_bytes: (end - start) as u64,
        total_bytes: bytes.len() as u64,
        xlated_insns: agent.insns() as u64,
        stubs_offset: agent.jited().map(|code| code.stubs_offset as u64),
    };
    ToolOutcome::Done(alloc::vec![
        Content::Reply(c::encode(&meta)),
        Content::Bytes { mime_type: "application/octet-stream".to_string(), data: bytes[start..end].to_vec() },
    ])
}

fn cache_lookup<C: CpuOps>(
    runtime: &Runtime<'_, C>,
    a: c::CacheArgs,
    cx: &CallContext<'_>,
) -> Result<ToolOutcome, String> {
    let hook = decision_hook(a.hook)?;
    let fields = key_fields(&hook, a.fields.as_ref())?;
    let cached = runtime.cached(cx.cpu, &hook, fields, cx.now_ticks);
    // Which policy made the cached decision: its program (0: the default policy; null: a
    // program replaced since, whose decision is stale and about to go) and generation.
    let made_by = cached.map(|d| c::MadeBy {
        program: runtime.provenance(&hook, d.generation()).map(|p| p.program),
        generation: d.generation(),
    });
    Ok(reply(&c::CacheLookupReply {
        hook: hook.name.to_string(),
        fields: fields.to_vec(),
        hit: cached.is_some(),
        value: cached.map(|d| d.value()),
        made_by,
    }))
}

fn cache_invalidate<C: CpuOps>(runtime: &Runtime<'_, C>, a: c::CacheArgs) -> Result<ToolOutcome, String> {
    let hook = decision_hook(a.hook)?;
    Ok(match a.fields.as_ref() {
        Some(given) => {
            let fields = key_fields(&hook, Some(given))?;
            let removed = runtime.invalidate_key(&hook, fields);
            reply(&c::InvalidateReply::Key(c::KeyInvalidated {
                hook: hook.name.to_string(),
                fields: fields.to_vec(),
                removed,
            }))
        }
        None => {
            runtime.invalidate_hook(&hook);
            reply(&c::InvalidateReply::Hook(c::HookInvalidated {
                hook: hook.name.to_string(),
                invalidated: "all".to_string(),
            }))
        }
    })
}

fn trace_set<C: CpuOps>(runtime: &Runtime<'_, C>, a: c::TraceSetArgs) -> Result<ToolOutcome, String> {
    let hook = decision_hook(a.hook)?;
    let explore = a.explore.unwrap_or(false);
    if explore && hook.id != hooks::SCHED_SLICE.id {
        return Err(alloc::format!("explore is for sched_slice only; {} has no safe range to explore", hook.name));
    }
    if let Some(seed) = a.seed {
        runtime.trace.seed(seed);
    }
    runtime.trace.set(hook.id, a.on, explore);
    Ok(reply(&c::TraceSetReply {
        hook: hook.name.to_string(),
        on: a.on,
        explore: a.on && explore,
        counters: trace_counters(runtime),
    }))
}

fn trace_counters<C: CpuOps>(runtime: &Runtime<'_, C>) -> c::TraceCounters {
    let t = runtime.trace.counters();
    c::TraceCounters { written: t.written, read: t.read, dropped: t.dropped, nested: t.nested }
}

fn trace_read<C: CpuOps>(runtime: &Runtime<'_, C>, a: c::TraceReadArgs) -> Result<ToolOutcome, String> {
    let max = a.max.map_or(TRACE_READ_MAX, |m| m as usize);
    if !(1..=TRACE_READ_MAX).contains(&max) {
        return Err(alloc::format!("'max' must be between 1 and {TRACE_READ_MAX}"));
    }
    let records = runtime.trace.drain(max);
    let mut bytes = Vec::with_capacity(records.len() * crate::trace::RECORD_BYTES);
    for record in &records {
        record.write_le(&mut bytes);
    }
    let (on, exploring) = runtime.trace.switches();
    let hook_names = |bits: u32| -> Vec<String> {
        HOOKS.iter().filter(|h| bits & (1 << h.id) != 0).map(|h| h.name.to_string()).collect()
    };
    let summary = c::TraceReadReply {
        records: records.len() as u64,
        record_bytes: crate::trace::RECORD_BYTES as u64,
        traced: hook_names(on),
        exploring: hook_names(exploring),
        counters: trace_counters(runtime),
    };
    Ok(ToolOutcome::Done(alloc::vec![
        Content::Reply(c::encode(&summary)),
        Content::Bytes { mime_type: "application/x-kingly-trace".to_string(), data: bytes },
    ]))
}

/// A `tool` program's input: the call's attachment (the host bridge turns `input_hex` or
/// `text` into it).
fn tool_input<'a>(name: &str, args: &'a ToolArgs) -> Result<&'a [u8], String> {
    if !args.request.is_empty() {
        return Err(alloc::format!("{name} takes its input as the attachment, with no typed arguments"));
    }
    if args.attachment.len() > hooks::TOOL_MAX_INPUT_BYTES {
        return Err(alloc::format!("input of {} bytes exceeds {}", args.attachment.len(), hooks::TOOL_MAX_INPUT_BYTES));
    }
    Ok(&args.attachment)
}
