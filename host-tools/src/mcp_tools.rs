//! What `kingly mcp` tells MCP clients about the kernel's tools: the kernel's descriptors
//! (name, description), the input and output schemas generated from the typed contract
//! (`kingly_proto::contract`, the same types the kernel decodes, so they cannot drift), and
//! MCP annotations (may the tool change anything, destroy anything, be retried). The message
//! port has no room for annotations and they are MCP's vocabulary, so they live with the bridge.

use kingly_proto::contract::{self, json as typed};
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
/// Changes state, can be repeated to the same end.
const SETS: Hints = Hints { read_only: false, destructive: false, idempotent: true };
/// Changes or removes what is there; repeating it changes nothing more.
const REPLACES: Hints = Hints { read_only: false, destructive: true, idempotent: true };
/// Each call does something new.
const ACTS: Hints = Hints { read_only: false, destructive: false, idempotent: false };

/// The MCP form of a kernel tool.
pub fn kernel_tool(tool: &ToolDescriptor) -> Value {
    let (title, hints) = describe(&tool.name);
    json!({
        "name": tool.name,
        "title": title,
        "description": tool.description,
        "inputSchema": typed::input_schema(&tool.name),
        "outputSchema": typed::output_schema(&tool.name),
        "annotations": {
            "title": title,
            "readOnlyHint": hints.read_only,
            "destructiveHint": hints.destructive,
            "idempotentHint": hints.idempotent,
            // Everything a kernel tool touches is inside the kernel: a closed world.
            "openWorldHint": false,
        },
    })
}

/// Title and behaviour of a kernel tool by name; anything else is a `tool` agent (an eBPF
/// program answering r0 over its input, which may update its own maps: not read-only).
fn describe(name: &str) -> (String, Hints) {
    let (title, hints) = match name {
        "kernel_info" => ("Kernel facts", READS),
        "ping" => ("Ping the kernel", READS),
        "uart_stats" => ("UART and link counters", READS),
        "cache_stats" => ("Decision cache counters", READS),
        "cache_lookup" => ("Look up a cached decision", READS),
        "cache_invalidate" => ("Invalidate cached decisions", SETS),
        "bpf_load" => ("Load an eBPF program", ACTS),
        "bpf_attach" => ("Attach a program to a hook", REPLACES),
        "bpf_detach" => ("Detach a program", REPLACES),
        "bpf_dump" => ("Dump a program's code", READS),
        "bpf_unload" => ("Unload a program", REPLACES),
        "bpf_list" => ("List loaded programs", READS),
        "map_read" => ("Read a program's map", READS),
        "map_write" => ("Write a map entry", REPLACES),
        "workload_run" => ("Run the synthetic workload", ACTS),
        "trace_set" => ("Switch a hook's decision trace", SETS),
        // It takes the records it returns: a second read does not return them again.
        "trace_read" => ("Read decision trace records", ACTS),
        _ => return (format!("eBPF tool {name}"), ACTS),
    };
    debug_assert!(contract::is_kernel_tool(name));
    (title.to_string(), hints)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn descriptor(name: &str) -> ToolDescriptor {
        ToolDescriptor { name: name.into(), description: "d".into() }
    }

    #[test]
    fn every_kernel_tool_has_annotations_and_schemas_from_the_contract() {
        for spec in contract::PORT_TOOLS.iter().chain(contract::AGENT_TOOLS) {
            let tool = kernel_tool(&descriptor(spec.name));
            let annotations = &tool["annotations"];
            for hint in ["readOnlyHint", "destructiveHint", "idempotentHint", "openWorldHint"] {
                assert!(annotations[hint].is_boolean(), "{}: {hint}", spec.name);
            }
            assert_eq!(tool["inputSchema"]["type"], "object", "{}", spec.name);
            assert_eq!(tool["outputSchema"]["type"], "object", "{}", spec.name);
            assert!(!tool["title"].as_str().unwrap().starts_with("eBPF tool "), "{} is a kernel tool", spec.name);
        }
        let agent = kernel_tool(&descriptor("crc32"));
        assert_eq!(agent["title"], "eBPF tool crc32");
        assert_eq!(agent["outputSchema"]["required"], json!(["tool", "r0", "input_bytes"]));
        assert!(agent["inputSchema"]["properties"]["input_hex"].is_object());
        assert_eq!(kernel_tool(&descriptor("bpf_list"))["annotations"]["readOnlyHint"], true);
        assert_eq!(kernel_tool(&descriptor("bpf_unload"))["annotations"]["destructiveHint"], true);
        let load = kernel_tool(&descriptor("bpf_load"));
        assert_eq!(load["inputSchema"]["required"], json!(["type", "name"]), "{load}");
    }
}
