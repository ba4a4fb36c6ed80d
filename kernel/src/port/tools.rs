//! The port's own tools: `kernel_info`, `ping`, `uart_stats`, `cache_stats`. Their arguments
//! and results are the types of `kingly_proto::contract`.

use super::{KernelInfo, Services, ToolOutcome, UartCounters};
use crate::dcache::CacheStats;
use alloc::string::ToString;
use alloc::vec::Vec;
use kingly_proto::contract::{
    self, CacheStatsReply, KernelInfoReply, NoArgs, PingArgs, PingReply, UartStatsReply, PORT_TOOLS,
};
use kingly_proto::{Content, LinkStats, ToolArgs, ToolDescriptor};
use serde::{Deserialize, Serialize};

/// Descriptors of the port's tools.
pub fn builtin() -> Vec<ToolDescriptor> {
    PORT_TOOLS
        .iter()
        .map(|t| ToolDescriptor { name: t.name.to_string(), description: t.description.to_string() })
        .collect()
}

/// A tool's typed arguments; a tool that takes no attachment refuses one.
pub fn arguments<'a, T: Deserialize<'a>>(tool: &str, args: &'a ToolArgs) -> Result<T, alloc::string::String> {
    if !args.attachment.is_empty() {
        return Err(alloc::format!("{tool} takes no attachment"));
    }
    contract::decode(tool, &args.request).map_err(|e| e.to_string())
}

/// A successful typed result.
pub fn reply(value: &impl Serialize) -> ToolOutcome {
    ToolOutcome::Done(alloc::vec![Content::Reply(contract::encode(value))])
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
    let outcome = match name {
        "kernel_info" => arguments::<NoArgs>(name, args).map(|_| reply(&kernel_info(&services.kernel_info()))),
        "uart_stats" => {
            arguments::<NoArgs>(name, args).map(|_| reply(&uart_stats(&services.uart_counters(), link, session)))
        }
        "cache_stats" => arguments::<NoArgs>(name, args).map(|_| reply(&cache_stats(&services.cache_stats()))),
        "ping" => arguments::<PingArgs>(name, args).and_then(|ping| match ping.data {
            Some(data) if data.len() > 512 => Err("'data' must be a string of at most 512 bytes".to_string()),
            data => Ok(reply(&PingReply { pong: true, data, uptime_ms: services.kernel_info().uptime_ms })),
        }),
        _ => return None,
    };
    Some(outcome.unwrap_or_else(ToolOutcome::BadArguments))
}

pub fn kernel_info(info: &KernelInfo) -> KernelInfoReply {
    KernelInfoReply {
        board: info.board.to_string(),
        cpus: info.cpus as u32,
        el: info.el as u32,
        mmu: if info.mmu { "on" } else { "off" }.to_string(),
        memory_bytes: info.memory_bytes,
        heap_bytes: info.heap_bytes,
        heap_used_bytes: info.heap_used_bytes,
        uptime_ms: info.uptime_ms,
        version: info.version.to_string(),
        build_hash: info.build_hash.to_string(),
        signing: info.signing.to_string(),
    }
}

/// The port's counters; `session` counts the sessions opened since boot, so a client can
/// tell a kernel that kept running (it grows) from one that rebooted (it starts again at 1).
pub fn uart_stats(uart: &UartCounters, link: &LinkStats, session: u32) -> UartStatsReply {
    UartStatsReply {
        session,
        bytes: uart.rx_bytes,
        overruns: uart.overruns,
        framing_errors: uart.framing_errors,
        parity_errors: uart.parity_errors,
        breaks: uart.breaks,
        ring_drops: uart.ring_drops,
        rx_holds: uart.rx_holds,
        link_bytes: link.rx.bytes,
        frames: link.rx.frames,
        crc_errors: link.rx.crc_errors,
        cobs_errors: link.rx.cobs_errors,
        oversize_frames: link.rx.oversize_frames,
        header_errors: link.rx.header_errors,
        resyncs: link.rx.resyncs,
        retransmits: link.session.retransmits,
        duplicates: link.session.duplicates,
        bad_messages: link.session.bad_messages,
        protocol_errors: link.session.protocol_errors,
        logs_dropped: link.session.logs_dropped,
        timeouts: link.session.timeouts,
        round_trip_ms: link.session.round_trip_ms,
        retransmit_timeout_ms: link.session.retransmit_timeout_ms,
    }
}

pub fn cache_stats(stats: &CacheStats) -> CacheStatsReply {
    CacheStatsReply {
        l1_hits: stats.cpus.l1_hits,
        global_hits: stats.cpus.global_hits,
        misses: stats.cpus.misses,
        evictions: stats.cpus.l1_evictions,
        l1_invalidated: stats.cpus.l1_invalidated,
        invalidations: stats.invalidations,
        inserts: stats.inserts,
        entries: stats.entries as u64,
        poisoned_reads: stats.cpus.poisoned_reads,
    }
}
