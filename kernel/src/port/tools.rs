//! The built-in tools: `kernel_info`, `ping`, `uart_stats`, `cache_stats`, with their JSON
//! input schemas and JSON results.

use super::{KernelInfo, Services, ToolOutcome, UartCounters};
use crate::dcache::CacheStats;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use kingly_proto::{Content, LinkStats, ToolArgs, ToolDescriptor};
use serde_json::json;

const NO_ARGUMENTS: &str = r#"{"type":"object","properties":{},"additionalProperties":false}"#;

/// Descriptors of the built-in tools.
pub fn builtin() -> Vec<ToolDescriptor> {
    let t = |name: &str, description: &str, schema: &str| ToolDescriptor {
        name: name.to_string(),
        description: description.to_string(),
        input_schema: schema.to_string(),
    };
    alloc::vec![
        t(
            "kernel_info",
            "Board, cores, exception level, MMU state, memory, uptime, version and build hash",
            NO_ARGUMENTS
        ),
        t(
            "ping",
            "Round trip through the kernel's message port; echoes `data` if given",
            r#"{"type":"object","properties":{"data":{"type":"string","maxLength":512,"description":"Text to echo back"}},"additionalProperties":false}"#
        ),
        t("uart_stats", "UART and link counters: bytes, overruns, framing errors, CRC errors, resyncs", NO_ARGUMENTS),
        t(
            "cache_stats",
            "Decision cache counters: L1 hits, global hits, misses, evictions, invalidations",
            NO_ARGUMENTS
        ),
    ]
}

/// Parses JSON arguments into an object; absent or empty arguments are `{}`.
pub fn parse_object(args: &ToolArgs) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    let text = match args {
        ToolArgs::Json(text) | ToolArgs::JsonAndBytes { json: text, .. } => text.as_str(),
        ToolArgs::Bytes(_) => return Err("this tool takes JSON arguments, not bytes".to_string()),
    };
    if text.trim().is_empty() {
        return Ok(serde_json::Map::new());
    }
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Object(map)) => Ok(map),
        Ok(_) => Err("arguments must be a JSON object".to_string()),
        Err(error) => Err(alloc::format!("arguments are not valid JSON: {error}")),
    }
}

fn no_arguments(args: &ToolArgs) -> Result<(), String> {
    let map = parse_object(args)?;
    match map.keys().next() {
        Some(key) => Err(alloc::format!("unexpected argument '{key}': this tool takes none")),
        None => Ok(()),
    }
}

/// Runs a built-in tool; `None` when `name` is not one.
/// `session` is the port's current session number (1 for the first since boot).
pub fn call_builtin(
    name: &str,
    args: &ToolArgs,
    services: &impl Services,
    link: &LinkStats,
    session: u32,
) -> Option<ToolOutcome> {
    let json = |text: String| ToolOutcome::Done(alloc::vec![Content::Json(text)]);
    let outcome = match name {
        "kernel_info" => match no_arguments(args) {
            Ok(()) => json(kernel_info_json(&services.kernel_info())),
            Err(e) => ToolOutcome::BadArguments(e),
        },
        "uart_stats" => match no_arguments(args) {
            Ok(()) => json(uart_stats_json(&services.uart_counters(), link, session)),
            Err(e) => ToolOutcome::BadArguments(e),
        },
        "cache_stats" => match no_arguments(args) {
            Ok(()) => json(cache_stats_json(&services.cache_stats())),
            Err(e) => ToolOutcome::BadArguments(e),
        },
        "ping" => match parse_object(args) {
            Ok(map) => {
                if let Some(key) = map.keys().find(|k| k.as_str() != "data") {
                    return Some(ToolOutcome::BadArguments(alloc::format!("unexpected argument '{key}'")));
                }
                match map.get("data") {
                    None => json(json!({"pong": true, "uptime_ms": services.kernel_info().uptime_ms}).to_string()),
                    Some(serde_json::Value::String(data)) if data.len() <= 512 => json(
                        json!({"pong": true, "data": data, "uptime_ms": services.kernel_info().uptime_ms}).to_string(),
                    ),
                    Some(_) => ToolOutcome::BadArguments("'data' must be a string of at most 512 bytes".to_string()),
                }
            }
            Err(e) => ToolOutcome::BadArguments(e),
        },
        _ => return None,
    };
    Some(outcome)
}

pub fn kernel_info_json(info: &KernelInfo) -> String {
    json!({
        "board": info.board,
        "cpus": info.cpus,
        "el": info.el,
        "mmu": if info.mmu { "on" } else { "off" },
        "memory_bytes": info.memory_bytes,
        "heap_bytes": info.heap_bytes,
        "heap_used_bytes": info.heap_used_bytes,
        "uptime_ms": info.uptime_ms,
        "version": info.version,
        "build_hash": info.build_hash,
        "signing": info.signing,
    })
    .to_string()
}

/// The port's counters; `session` counts the sessions opened since boot, so a client can
/// tell a kernel that kept running (it grows) from one that rebooted (it starts again at 1).
pub fn uart_stats_json(uart: &UartCounters, link: &LinkStats, session: u32) -> String {
    json!({
        "session": session,
        "bytes": uart.rx_bytes,
        "overruns": uart.overruns,
        "framing_errors": uart.framing_errors,
        "parity_errors": uart.parity_errors,
        "breaks": uart.breaks,
        "ring_drops": uart.ring_drops,
        "rx_holds": uart.rx_holds,
        "link_bytes": link.rx.bytes,
        "frames": link.rx.frames,
        "crc_errors": link.rx.crc_errors,
        "cobs_errors": link.rx.cobs_errors,
        "oversize_frames": link.rx.oversize_frames,
        "header_errors": link.rx.header_errors,
        "resyncs": link.rx.resyncs,
        "retransmits": link.session.retransmits,
        "duplicates": link.session.duplicates,
        "bad_messages": link.session.bad_messages,
        "protocol_errors": link.session.protocol_errors,
        "logs_dropped": link.session.logs_dropped,
        "timeouts": link.session.timeouts,
        "round_trip_ms": link.session.round_trip_ms,
        "retransmit_timeout_ms": link.session.retransmit_timeout_ms,
    })
    .to_string()
}

pub fn cache_stats_json(stats: &CacheStats) -> String {
    json!({
        "l1_hits": stats.cpus.l1_hits,
        "global_hits": stats.cpus.global_hits,
        "misses": stats.cpus.misses,
        "evictions": stats.cpus.l1_evictions,
        "l1_invalidated": stats.cpus.l1_invalidated,
        "invalidations": stats.invalidations,
        "inserts": stats.inserts,
        "entries": stats.entries,
        "poisoned_reads": stats.cpus.poisoned_reads,
    })
    .to_string()
}
