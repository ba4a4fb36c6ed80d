//! The message port over a real serial socket: sessions, tools, garbage, faults, reconnects.

use kingly::board::Board;
use kingly::client::Client;
use kingly_tests::{Booted, FaultProxy, FaultRates};
use rand::{Rng, SeedableRng};
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

fn json_of(result: &kingly_proto::CallToolResult) -> serde_json::Value {
    kingly::client::content_json(&result.content)
}

#[test]
fn tools_answer_on_both_boards() {
    for board in [Board::Raspi4b, Board::Virt] {
        let kernel = Booted::boot(board, "").unwrap();
        let mut client = kernel.client().unwrap();
        assert_eq!(client.peer.name, "kingly");
        let info = json_of(&client.call_tool("kernel_info", "{}", None).unwrap());
        assert_eq!(info["cpus"], 4, "{info}");
        assert_eq!(info["board"], board.name());
        assert_eq!(info["mmu"], "on");
        let names: Vec<String> = client.list_tools().unwrap().into_iter().map(|t| t.name).collect();
        for tool in ["kernel_info", "ping", "uart_stats", "cache_stats"] {
            assert!(names.iter().any(|n| n == tool), "{board}: {tool} missing from {names:?}");
        }
        let error = client.call_tool("no_such_tool", "{}", None).unwrap_err().to_string();
        assert!(error.contains("unknown tool 'no_such_tool'"), "{error}");
        let stats = client.read_resource("kingly://cache/stats").unwrap();
        assert_eq!(stats[0].uri, "kingly://cache/stats");
        assert!(client.ping().unwrap() < Duration::from_secs(5));
    }
}

#[test]
fn a_new_hello_resets_the_session_without_a_reboot() {
    let kernel = Booted::boot(Board::Raspi4b, "").unwrap();
    let uptimes: Vec<u64> = (0..3)
        .map(|_| {
            // Each client opens a fresh session on the same, still running kernel.
            let mut client = kernel.client().unwrap();
            json_of(&client.call_tool("kernel_info", "{}", None).unwrap())["uptime_ms"].as_u64().unwrap()
        })
        .collect();
    assert!(uptimes.windows(2).all(|w| w[0] <= w[1]), "the kernel rebooted between sessions: {uptimes:?}");
}

#[test]
fn a_mebibyte_of_garbage_then_a_valid_call_succeeds() {
    let mut kernel = Booted::boot(Board::Virt, "").unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut garbage = vec![0u8; 1 << 20];
    rng.fill(&mut garbage[..]);
    kernel.send(&garbage).unwrap();
    let mut client = kernel.client().unwrap();
    let stats = json_of(&client.call_tool("uart_stats", "{}", None).unwrap());
    assert!(stats["bytes"].as_u64().unwrap() >= 1 << 20, "{stats}");
    let rejected = stats["crc_errors"].as_u64().unwrap() + stats["cobs_errors"].as_u64().unwrap();
    assert!(rejected > 1000, "garbage not counted: {stats}");
    assert!(stats["resyncs"].as_u64().unwrap() > 0 || rejected > 0, "{stats}");
}

/// Calls `n` tools through a proxy corrupting 1% of the bytes; every answer must be right.
fn calls_through_a_faulty_line(calls: usize) {
    let kernel = Booted::boot(Board::Raspi4b, "").unwrap();
    let rates = FaultRates { flip: 0.004, drop: 0.003, duplicate: 0.003 };
    let proxy = FaultProxy::new(kernel.stream().unwrap(), rates, 0xfa17).unwrap();
    let mut client = Client::handshake(Box::new(proxy.client_end.try_clone().unwrap()), Duration::from_secs(60)).unwrap();
    client.request_timeout = Duration::from_secs(60);
    for i in 0..calls {
        let data = format!("call-{i}-{}", "x".repeat(i % 40));
        let reply = json_of(&client.call_tool("ping", &serde_json::json!({"data": data}).to_string(), None).unwrap());
        assert_eq!(reply["data"], data.as_str(), "call {i} answered wrongly");
    }
    let c = &proxy.counts;
    eprintln!(
        "fault proxy: {calls} calls, {} bytes, {} flipped, {} dropped, {} duplicated; client {:?}",
        c.bytes.load(Relaxed),
        c.flipped.load(Relaxed),
        c.dropped.load(Relaxed),
        c.duplicated.load(Relaxed),
        client.stats()
    );
    assert!(c.flipped.load(Relaxed) + c.dropped.load(Relaxed) + c.duplicated.load(Relaxed) > 0);
}

#[test]
fn calls_survive_one_percent_byte_corruption() {
    // CI variant; the long variant (10^4 calls) runs with KINGLY_FAULT_CALLS=10000.
    let calls = std::env::var("KINGLY_FAULT_CALLS").ok().and_then(|v| v.parse().ok()).unwrap_or(1000);
    calls_through_a_faulty_line(calls);
}
