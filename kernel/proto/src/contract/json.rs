//! The host's side of the contract: a tool's JSON arguments to its typed request, its typed
//! result to JSON, and the MCP input and output schemas, all from the types in [`super::tools`].
//! Anything not a kernel tool is a `tool` program ([`ExtensionArgs`] → [`ExtensionReply`]).

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use super::tools::*;
use super::{decode, encode};
use crate::ToolArgs;

/// Runs `$body` with `$args` and `$reply` bound to the argument and result types of `$name`.
macro_rules! by_tool {
    ($name:expr, |$args:ident, $reply:ident| $body:expr) => {{
        macro_rules! with {
            ($a:ty, $r:ty) => {{
                #[allow(dead_code)]
                type $args = $a;
                #[allow(dead_code)]
                type $reply = $r;
                $body
            }};
        }
        match $name {
            "kernel_info" => with!(NoArgs, KernelInfoReply),
            "ping" => with!(PingArgs, PingReply),
            "uart_stats" => with!(NoArgs, UartStatsReply),
            "cache_stats" => with!(NoArgs, CacheStatsReply),
            "bpf_load" => with!(BpfLoadArgs, LoadReply),
            "bpf_attach" => with!(BpfAttachArgs, AttachReply),
            "bpf_detach" => with!(BpfDetachArgs, DetachReply),
            "bpf_unload" => with!(BpfUnloadArgs, UnloadReply),
            "bpf_list" => with!(NoArgs, ListReply),
            "map_read" => with!(MapReadArgs, MapReadReply),
            "map_write" => with!(MapWriteArgs, MapWriteReply),
            "cache_lookup" => with!(CacheArgs, CacheLookupReply),
            "cache_invalidate" => with!(CacheArgs, InvalidateReply),
            "workload_run" => with!(WorkloadArgs, WorkloadReport),
            "bpf_dump" => with!(BpfDumpArgs, DumpReply),
            "trace_set" => with!(TraceSetArgs, TraceSetReply),
            "trace_read" => with!(TraceReadArgs, TraceReadReply),
            _ => with!(ExtensionArgs, ExtensionReply),
        }
    }};
}

fn parse<T: DeserializeOwned>(tool: &str, arguments: &Value) -> Result<T, String> {
    let arguments = match arguments {
        Value::Null => Value::Object(serde_json::Map::new()),
        Value::Object(_) => arguments.clone(),
        _ => return Err(alloc::format!("the arguments of {tool} must be a JSON object")),
    };
    serde_json::from_value(arguments).map_err(|e| alloc::format!("bad arguments for {tool}: {e}"))
}

/// The wire form of a call of `tool` with JSON `arguments` (an object, or null for none) and an
/// optional attachment: the typed request, checked against the tool's argument type.
pub fn request(tool: &str, arguments: &Value, attachment: Option<Vec<u8>>) -> Result<ToolArgs, String> {
    if !super::is_kernel_tool(tool) {
        let args: ExtensionArgs = parse(tool, arguments)?;
        let input = match (args.input_hex, args.text, attachment) {
            (Some(hex), None, None) => hex.0,
            (None, Some(text), None) => text.into_bytes(),
            (None, None, attachment) => attachment.unwrap_or_default(),
            _ => return Err("give the input once: 'input_hex', 'text' or an attachment".to_string()),
        };
        return Ok(ToolArgs::bytes(input));
    }
    if tool == "bpf_load" {
        // The bytecode travels as the attachment, whichever way it came.
        let mut args: BpfLoadArgs = parse(tool, arguments)?;
        let attachment = match (args.bytes_hex.take(), attachment) {
            (Some(_), Some(_)) => {
                return Err("give the bytecode once: as the attachment or as 'bytes_hex', not both".to_string())
            }
            (Some(hex), None) => hex.0,
            (None, Some(bytes)) => bytes,
            (None, None) => Vec::new(),
        };
        return Ok(ToolArgs { request: encode(&args), attachment });
    }
    let request = by_tool!(tool, |Args, Reply| parse::<Args>(tool, arguments).map(|a| encode(&a)))?;
    Ok(ToolArgs { request, attachment: attachment.unwrap_or_default() })
}

fn reply_json<T: DeserializeOwned + Serialize>(tool: &str, bytes: &[u8]) -> Result<Value, String> {
    let value: T = decode(tool, bytes).map_err(|_| alloc::format!("{tool}'s result does not decode"))?;
    serde_json::to_value(value).map_err(|e| e.to_string())
}

/// `tool`'s typed result as JSON.
pub fn reply(tool: &str, bytes: &[u8]) -> Result<Value, String> {
    by_tool!(tool, |Args, Reply| reply_json::<Reply>(tool, bytes))
}

/// The tool whose result a resource holds.
pub fn resource_tool(uri: &str) -> Option<&'static str> {
    super::RESOURCES.iter().find(|r| r.0 == uri).map(|r| r.3)
}

#[cfg(feature = "schema")]
fn schema_of<T: schemars::JsonSchema>() -> Value {
    let generator =
        schemars::generate::SchemaSettings::draft2020_12().with(|s| s.inline_subschemas = true).into_generator();
    let mut value = generator.into_root_schema_for::<T>().to_value();
    if let Value::Object(object) = &mut value {
        for key in ["$schema", "title", "description"] {
            object.remove(key);
        }
        // MCP wants an object at the root, with its properties listed.
        object.entry("type").or_insert_with(|| Value::String("object".into()));
        if !object.contains_key("anyOf") {
            object.entry("properties").or_insert_with(|| Value::Object(serde_json::Map::new()));
        }
    }
    value
}

/// The JSON Schema of `tool`'s arguments (MCP `inputSchema`).
#[cfg(feature = "schema")]
pub fn input_schema(tool: &str) -> Value {
    by_tool!(tool, |Args, Reply| schema_of::<Args>())
}

/// The JSON Schema of `tool`'s result (MCP `outputSchema`).
#[cfg(feature = "schema")]
pub fn output_schema(tool: &str) -> Value {
    by_tool!(tool, |Args, Reply| schema_of::<Reply>())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::Hex;
    use serde_json::json;

    #[test]
    fn json_arguments_become_typed_requests() {
        let args = request("bpf_attach", &json!({"id": 4, "hook": "timer", "period_ms": 10}), None).unwrap();
        let typed: BpfAttachArgs = decode("bpf_attach", &args.request).unwrap();
        assert_eq!(typed, BpfAttachArgs { id: 4, hook: HookName::Timer, period_ms: Some(10), cpu: None });
        let error = request("bpf_attach", &json!({"id": 4, "hook": "timer", "bogus": 1}), None).unwrap_err();
        assert!(error.contains("bogus"), "{error}");
        let error = request("bpf_attach", &json!({"id": -1, "hook": "timer"}), None).unwrap_err();
        assert!(error.contains("bpf_attach"), "{error}");
        assert!(request("kernel_info", &json!([1]), None).is_err());
    }

    #[test]
    fn bytecode_moves_to_the_attachment_and_hex_becomes_bytes() {
        let args =
            request("bpf_load", &json!({"type": "tool", "name": "t", "bytes_hex": "9500000000000000"}), None).unwrap();
        assert_eq!(args.attachment, [0x95, 0, 0, 0, 0, 0, 0, 0]);
        let typed: BpfLoadArgs = decode("bpf_load", &args.request).unwrap();
        assert_eq!(typed.bytes_hex, None);
        assert!(request("bpf_load", &json!({"type": "tool", "name": "t", "bytes_hex": "95"}), Some(vec![1])).is_err());
        let write = request("map_write", &json!({"id": 1, "key": "00", "value": "zz"}), None).unwrap_err();
        assert!(write.contains("hex digit"), "{write}");
    }

    #[test]
    fn extension_input_comes_one_way() {
        assert_eq!(request("my_tool", &json!({"text": "hi"}), None).unwrap().attachment, b"hi");
        assert_eq!(request("my_tool", &json!({"input_hex": "0a0b"}), None).unwrap().attachment, [10, 11]);
        assert!(request("my_tool", &json!({"text": "hi", "input_hex": "00"}), None).is_err());
    }

    #[test]
    fn replies_render_as_the_json_clients_know() {
        let reply = MapReadReply::One(MapValue { key: Hex(vec![1, 2]), value: None });
        let value = super::reply("map_read", &encode(&reply)).unwrap();
        assert_eq!(value, json!({"key": "0102", "value": null}));
        let report = WorkloadReport {
            ms: 100,
            mix: Mix::Bursty,
            worker_cores: 3,
            sched_slice: None,
            context_switches: 7,
            classes: Default::default(),
        };
        let value = super::reply("workload_run", &encode(&report)).unwrap();
        assert_eq!(value["mix"], "bursty");
        assert!(super::reply("map_read", &[0xff]).is_err());
    }

    #[cfg(feature = "schema")]
    #[test]
    fn schemas_come_from_the_types() {
        let schema = input_schema("bpf_attach");
        assert_eq!(schema["type"], "object");
        assert_eq!(schema["additionalProperties"], false);
        assert!(schema["properties"]["hook"].to_string().contains("sched_slice"), "{schema}");
        assert!(schema["properties"]["id"]["description"].as_str().unwrap().contains("Program id"));
        assert_eq!(schema["required"], json!(["id", "hook"]));
        assert_eq!(input_schema("kernel_info")["properties"], json!({}));
        assert!(input_schema("someone_elses_tool")["properties"].get("input_hex").is_some());
        assert_eq!(output_schema("map_read")["type"], "object");
        assert!(output_schema("bpf_list")["properties"]["programs"].is_object());
    }
}
