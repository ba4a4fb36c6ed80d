//! What `kingly mcp` tells MCP clients about the kernel's tools beyond the kernel's own
//! descriptors (name, description, input schema): MCP annotations (may the tool change
//! anything, destroy anything, be retried) and, where a result is a JSON object of known shape,
//! an `outputSchema` its `structuredContent` validates against. The message port has no room
//! for these, and they are MCP's vocabulary, so they live with the bridge.

use kingly_proto::ToolDescriptor;
use serde_json::{json, Value};

/// How a tool behaves, as MCP's `ToolAnnotations` hints say it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Hints {
    read_only: bool,
    destructive: bool,
    idempotent: bool,
}

const READS: Hints = Hints { read_only: true, destructive: false, idempotent: true };

/// The MCP form of a kernel tool.
pub fn kernel_tool(tool: &ToolDescriptor) -> Value {
    let input_schema = serde_json::from_str::<Value>(&tool.input_schema).unwrap_or(json!({"type": "object"}));
    let (title, hints, output_schema) = describe(&tool.name);
    let mut value = json!({
        "name": tool.name,
        "title": title,
        "description": tool.description,
        "inputSchema": input_schema,
        "annotations": {
            "title": title,
            "readOnlyHint": hints.read_only,
            "destructiveHint": hints.destructive,
            "idempotentHint": hints.idempotent,
            // Everything a kernel tool touches is inside the kernel: a closed world.
            "openWorldHint": false,
        },
    });
    if let Some(schema) = output_schema {
        value["outputSchema"] = schema;
    }
    value
}

/// A JSON Schema object with these properties, `required` naming those every result has.
fn object(properties: Value, required: &[&str]) -> Value {
    json!({"type": "object", "properties": properties, "required": required})
}

fn integer(description: &str) -> Value {
    json!({"type": "integer", "description": description})
}

fn string(description: &str) -> Value {
    json!({"type": "string", "description": description})
}

fn verifier() -> Value {
    object(
        json!({
            "insns_processed": integer("instructions the verifier walked"),
            "states_stored": integer("states kept for pruning"),
            "paths_pruned": integer("paths cut short by a stored state"),
            "worst_case_path_insns": integer("longest path the program can execute"),
        }),
        &["insns_processed", "worst_case_path_insns"],
    )
}

/// Title, behaviour and output schema of a kernel tool by name; anything not named here is a
/// `tool` agent (an eBPF program answering r0 over its input).
fn describe(name: &str) -> (String, Hints, Option<Value>) {
    let nullable_integer = |description: &str| json!({"type": ["integer", "null"], "description": description});
    let (title, hints, schema) = match name {
        "kernel_info" => (
            "Kernel facts",
            READS,
            Some(object(
                json!({
                    "board": string("raspi4b, virt, pi4 or pi5"),
                    "cpus": integer("cores up"),
                    "el": integer("exception level the kernel runs at"),
                    "mmu": string("on or off"),
                    "memory_bytes": integer("RAM"),
                    "heap_bytes": integer("heap size"),
                    "heap_used_bytes": integer("heap in use"),
                    "uptime_ms": integer("time since boot"),
                    "version": string("kernel version"),
                    "build_hash": string("build identifier"),
                    "signing": string("the bpf_load signature policy"),
                }),
                &["board", "cpus", "el", "mmu", "uptime_ms"],
            )),
        ),
        "ping" => (
            "Ping the kernel",
            READS,
            Some(object(
                json!({"pong": {"type": "boolean"}, "data": string("the data sent, echoed"), "uptime_ms": integer("time since boot")}),
                &["pong"],
            )),
        ),
        "uart_stats" => (
            "UART and link counters",
            READS,
            Some(object(
                json!({
                    "session": integer("sessions opened since boot"),
                    "bytes": integer("bytes the UART received"),
                    "link_bytes": integer("bytes the message port's link received"),
                    "frames": integer("frames received"),
                    "crc_errors": integer("frames with a bad CRC"),
                }),
                &["frames"],
            )),
        ),
        "cache_stats" => (
            "Decision cache counters",
            READS,
            Some(object(
                json!({
                    "l1_hits": integer("per-CPU cache hits"),
                    "global_hits": integer("global table hits"),
                    "misses": integer("lookups that ran a program or a default"),
                    "evictions": integer("per-CPU entries evicted"),
                    "invalidations": integer("invalidations"),
                    "inserts": integer("decisions stored"),
                    "entries": integer("entries in the global table"),
                }),
                &["l1_hits", "global_hits", "misses"],
            )),
        ),
        "cache_lookup" => (
            "Look up a cached decision",
            READS,
            Some(object(
                json!({
                    "hook": string("the hook"),
                    "fields": {"type": "array", "items": {"type": "integer"}, "description": "the key's fields"},
                    "hit": {"type": "boolean", "description": "whether a decision is cached"},
                    "value": nullable_integer("the cached decision, null on a miss"),
                    "made_by": {"type": ["object", "null"], "description": "which policy made the cached decision: program id (0: the hook's default policy; null: a program replaced since) and policy generation; null on a miss", "properties": {"program": nullable_integer("program id"), "generation": integer("policy generation")}},
                }),
                &["hook", "hit"],
            )),
        ),
        "cache_invalidate" => (
            "Invalidate cached decisions",
            // Decisions are recomputed on the next miss: nothing is lost for good.
            Hints { read_only: false, destructive: false, idempotent: true },
            Some(object(
                json!({
                    "hook": string("the hook"),
                    "removed": {"type": "boolean", "description": "whether the one key was cached"},
                    "invalidated": string("all, when the whole hook was invalidated"),
                }),
                &["hook"],
            )),
        ),
        "bpf_load" => (
            "Load an eBPF program",
            Hints { read_only: false, destructive: false, idempotent: false },
            Some(object(
                json!({
                    "id": integer("program id, for bpf_attach, map_read and bpf_unload"),
                    "name": string("program name (a tool program's MCP tool name)"),
                    "type": string("decision, tool or timer"),
                    "insns": integer("instructions"),
                    "jited_bytes": nullable_integer("bytes of A64 code the JIT made; null without a JIT"),
                    "engine": string("interpreter or JIT"),
                    "replaced": {"type": ["object", "null"], "description": "with replace: the program replaced (id, hooks it handed over)"},
                    "verifier": verifier(),
                }),
                &["id", "name", "type"],
            )),
        ),
        "bpf_attach" => (
            "Attach a program to a hook",
            // It replaces the program at the hook.
            Hints { read_only: false, destructive: true, idempotent: true },
            Some(object(
                json!({
                    "attached": integer("the program attached"),
                    "hook": string("where"),
                    "replaced": nullable_integer("the program it replaced"),
                    "period_ms": integer("timer period"),
                    "cpu": integer("timer core"),
                }),
                &["attached", "hook"],
            )),
        ),
        "bpf_detach" => (
            "Detach a program",
            Hints { read_only: false, destructive: true, idempotent: true },
            Some(object(
                json!({"detached": {"type": ["integer", "null"], "description": "the program detached, null when none was"}, "hook": string("where")}),
                &["hook"],
            )),
        ),
        "bpf_dump" => (
            "Dump a program's code",
            READS,
            Some(object(
                json!({
                    "id": integer("program id"),
                    "name": string("program name"),
                    "type": string("decision, tool or timer"),
                    "engine": string("interpreter or JIT"),
                    "part": string("xlated, jited or jited_slots"),
                    "offset": integer("where this chunk starts, in bytes"),
                    "chunk_bytes": integer("bytes in this chunk (the binary content that follows)"),
                    "total_bytes": integer("bytes in the whole part"),
                    "xlated_insns": integer("verified eBPF instructions"),
                    "stubs_offset": nullable_integer("A64 word where the JIT's out-of-line stubs start; null without a JIT"),
                }),
                &["id", "part", "offset", "chunk_bytes", "total_bytes"],
            )),
        ),
        "bpf_unload" => (
            "Unload a program",
            Hints { read_only: false, destructive: true, idempotent: true },
            Some(object(json!({"unloaded": integer("the program unloaded")}), &["unloaded"])),
        ),
        "bpf_list" => (
            "List loaded programs",
            READS,
            Some(object(
                json!({
                    "programs": {"type": "array", "description": "loaded programs", "items": object(
                        json!({
                            "id": integer("program id"),
                            "name": string("program name"),
                            "type": string("decision, tool or timer"),
                            "attached": {"type": "array", "items": {"type": "string"}, "description": "hooks it is attached to"},
                            "engine": string("interpreter or JIT"),
                            "insns": integer("instructions"),
                            "xlated_insns": integer("verified eBPF instructions"),
                            "jited_bytes": nullable_integer("bytes of A64 code; null without a JIT"),
                            "jited_insns": nullable_integer("A64 instructions; null without a JIT"),
                            "runs": integer("times run"),
                            "errors": integer("runs that failed"),
                            "verifier": verifier(),
                        }),
                        &["id", "name", "type", "attached"],
                    )},
                    "signing": string("the bpf_load signature policy"),
                    "swaps": integer("programs replaced at hooks"),
                    "hooks": {"type": "array", "items": {"type": "object"}, "description": "the decision hooks and their contexts"},
                }),
                &["programs", "signing"],
            )),
        ),
        "map_read" => (
            "Read a program's map",
            READS,
            Some(json!({
                "type": "object",
                "properties": {
                    "key": string("the key read, hex"),
                    "value": {"type": ["string", "null"], "description": "its value in hex, null when absent"},
                    "entries": {"type": "array", "description": "every entry (at most 256)", "items": object(
                        json!({"key": string("hex"), "value": string("hex")}), &["key", "value"])},
                    "len": integer("entries in the map"),
                },
                "anyOf": [{"required": ["key", "value"]}, {"required": ["entries", "len"]}],
            })),
        ),
        "map_write" => (
            "Write a map entry",
            Hints { read_only: false, destructive: true, idempotent: true },
            Some(object(json!({"written": {"type": "boolean"}, "key": string("the key written, hex")}), &["written"])),
        ),
        "workload_run" => (
            "Run the synthetic workload",
            Hints { read_only: false, destructive: false, idempotent: false },
            Some(object(
                json!({
                    "ms": integer("how long it ran"),
                    "mix": string("the workload mix: mixed, latency, cpu_bound or bursty"),
                    "worker_cores": integer("cores that ran tasks"),
                    "sched_slice": {"type": ["string", "integer"], "description": "default, or the id of the sched_slice program"},
                    "context_switches": integer("switches on the worker cores"),
                    "classes": {"type": "object", "description": "per task class: tasks, iterations, per_second, wake-up latency percentiles"},
                }),
                &["ms", "classes"],
            )),
        ),
        "trace_set" => (
            "Switch a hook's decision trace",
            Hints { read_only: false, destructive: false, idempotent: true },
            Some(object(
                json!({
                    "hook": string("the hook"),
                    "on": {"type": "boolean", "description": "whether the hook is traced now"},
                    "explore": {"type": "boolean", "description": "whether its decisions are randomised within safe bounds"},
                    "counters": {"type": "object", "description": "records written, read, dropped (overwritten unread) and nested (refused)"},
                }),
                &["hook", "on", "explore"],
            )),
        ),
        "trace_read" => (
            "Read decision trace records",
            // It takes the records it returns: a second read does not return them again.
            Hints { read_only: false, destructive: false, idempotent: false },
            Some(object(
                json!({
                    "records": integer("records in the binary attachment"),
                    "record_bytes": integer("bytes per record"),
                    "traced": {"type": "array", "items": {"type": "string"}, "description": "hooks traced now"},
                    "exploring": {"type": "array", "items": {"type": "string"}, "description": "hooks exploring now"},
                    "counters": {"type": "object", "description": "records written, read, dropped (overwritten unread) and nested (refused)"},
                }),
                &["records", "record_bytes", "counters"],
            )),
        ),
        _ => (
            // A `tool` agent: it may update its own maps, so it is not read-only.
            "eBPF tool extension",
            Hints { read_only: false, destructive: false, idempotent: false },
            Some(object(
                json!({
                    "tool": string("the tool"),
                    "r0": integer("what the program returned"),
                    "input_bytes": integer("bytes of input it ran over"),
                }),
                &["tool", "r0", "input_bytes"],
            )),
        ),
    };
    let title = if kingly_kernel::agents::tools::is_reserved(name) || title != "eBPF tool extension" {
        title.to_string()
    } else {
        format!("eBPF tool {name}")
    };
    (title, hints, schema)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn descriptor(name: &str) -> ToolDescriptor {
        ToolDescriptor {
            name: name.into(),
            description: "d".into(),
            input_schema: r#"{"type":"object","properties":{}}"#.into(),
        }
    }

    #[test]
    fn every_kernel_tool_has_annotations_and_agents_get_the_agent_schema() {
        for name in
            kingly_kernel::agents::tools::NAMES.iter().chain(&["kernel_info", "ping", "uart_stats", "cache_stats"])
        {
            let tool = kernel_tool(&descriptor(name));
            let annotations = &tool["annotations"];
            for hint in ["readOnlyHint", "destructiveHint", "idempotentHint", "openWorldHint"] {
                assert!(annotations[hint].is_boolean(), "{name}: {hint}");
            }
            assert_eq!(tool["outputSchema"]["type"], "object", "{name}");
            assert_ne!(tool["title"], "eBPF tool extension", "{name} is a kernel tool, not an agent");
        }
        let agent = kernel_tool(&descriptor("crc32"));
        assert_eq!(agent["title"], "eBPF tool crc32");
        assert_eq!(agent["outputSchema"]["required"], json!(["tool", "r0", "input_bytes"]));
        assert_eq!(kernel_tool(&descriptor("bpf_list"))["annotations"]["readOnlyHint"], true);
        assert_eq!(kernel_tool(&descriptor("bpf_unload"))["annotations"]["destructiveHint"], true);
    }
}
