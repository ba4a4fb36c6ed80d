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
        if board == Board::Virt {
            // That session ran over the virtio console QEMU put in the last transport slot...
            let found = "virtio console: slot 31 at 0xa003e00, INTID 79; message port on it";
            assert!(kernel.output.contains(found), "{}", kernel.output);
            // ...and the PL011 keeps a port of its own.
            let mut uart = kernel.uart_client().unwrap();
            assert_eq!(json_of(&uart.call_tool("kernel_info", "{}", None).unwrap())["board"], "virt");
        }
    }
}

#[test]
fn a_new_hello_resets_the_session_without_a_reboot() {
    let kernel = Booted::boot(Board::Raspi4b, "").unwrap();
    // Each client opens a fresh session on the same, still running kernel.
    let seen: Vec<(u64, u64)> = (0..3).map(|_| session_and_uptime(&mut kernel.client().unwrap())).collect();
    assert_one_kernel_new_sessions(Board::Raspi4b, &seen);
}

/// The port's session number (counted since boot) and the kernel's uptime, from one client.
fn session_and_uptime(client: &mut Client) -> (u64, u64) {
    let stats = json_of(&client.call_tool("uart_stats", "{}", None).unwrap());
    let info = json_of(&client.call_tool("kernel_info", "{}", None).unwrap());
    (stats["session"].as_u64().unwrap(), info["uptime_ms"].as_u64().unwrap())
}

/// Every connection opened the next session of one kernel: the session number goes up by
/// one each time (a rebooted kernel starts again at 1) and the uptime never goes back
/// (it can stay put: on virtio a whole session fits inside a millisecond).
fn assert_one_kernel_new_sessions(board: Board, seen: &[(u64, u64)]) {
    assert!(
        seen.windows(2).all(|w| w[1].0 == w[0].0 + 1 && w[0].1 <= w[1].1),
        "{board}: (session, uptime_ms) per connection shows a reboot or a reused session: {seen:?}"
    );
}

#[test]
fn a_mebibyte_of_garbage_then_a_valid_call_succeeds() {
    for board in [Board::Raspi4b, Board::Virt] {
        let mut kernel = Booted::boot(board, "").unwrap();
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut garbage = vec![0u8; 1 << 20];
        rng.fill(&mut garbage[..]);
        let started = std::time::Instant::now();
        kernel.send_to_port(&garbage).unwrap();
        let mut client = kernel.client().unwrap();
        client.request_timeout = Duration::from_secs(240);
        let stats = json_of(&client.call_tool("uart_stats", "{}", None).unwrap());
        eprintln!("{board}: 1 MiB of garbage, then a call, in {:?}: {stats}", started.elapsed());
        assert!(stats["link_bytes"].as_u64().unwrap() >= 1 << 20, "{board}: not every byte was counted: {stats}");
        if board == Board::Raspi4b {
            assert!(stats["bytes"].as_u64().unwrap() >= 1 << 20, "the UART missed bytes: {stats}");
            // QEMU's UART is as fast as the socket: the receiver is held while the ring is
            // full rather than dropping bytes.
            assert_eq!(stats["ring_drops"], 0, "bytes were dropped between the FIFO and the ring: {stats}");
        }
        let rejected: u64 = ["crc_errors", "cobs_errors", "oversize_frames", "header_errors"]
            .iter()
            .map(|key| stats[key].as_u64().unwrap())
            .sum();
        // Random bytes hold a 0x00 delimiter every 256 bytes on average: ~4000 bogus frames.
        assert!(rejected > 1000, "{board}: garbage not counted as rejected frames: {stats}");
        assert!(stats["resyncs"].as_u64().unwrap() > 0, "{board}: {stats}");
    }
}

/// Calls `ping` `calls` times through a proxy corrupting 1% of the bytes both ways; every
/// answer must be right, and every corrupted frame must have been caught by the CRC or COBS.
fn calls_through_a_faulty_line(board: Board, calls: usize) {
    let kernel = Booted::boot(board, "").unwrap();
    // 1% of the bytes by default (`KINGLY_FAULT_RATE` to try others): 40% flipped, 30%
    // dropped, 30% duplicated.
    let rate: f64 = std::env::var("KINGLY_FAULT_RATE").ok().and_then(|v| v.parse().ok()).unwrap_or(0.01);
    let rates = FaultRates { flip: 0.4 * rate, drop: 0.3 * rate, duplicate: 0.3 * rate };
    let proxy = FaultProxy::new(kernel.stream().unwrap(), rates, 0xfa17).unwrap();
    let mut client =
        Client::handshake(Box::new(proxy.client_end.try_clone().unwrap()), Duration::from_secs(60)).unwrap();
    // Long: a run of losses backs the retransmission timeout off to 8 s.
    client.request_timeout = Duration::from_secs(300);
    let started = std::time::Instant::now();
    let mut latencies = Vec::with_capacity(calls);
    for i in 0..calls {
        let data = format!("call-{i}-{}", "x".repeat(i % 40));
        let call = std::time::Instant::now();
        let reply = json_of(&client.call_tool("ping", &serde_json::json!({"data": data}).to_string(), None).unwrap());
        latencies.push(call.elapsed());
        assert_eq!(reply["data"], data.as_str(), "call {i} answered wrongly: {reply}");
        if (i + 1) % 1000 == 0 {
            eprintln!("{board}: {} calls in {:?}", i + 1, started.elapsed());
        }
    }
    let elapsed = started.elapsed();
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
    eprintln!("{board}: call latency p50 {:?} p90 {:?} p99 {:?} max {:?}", at(0.5), at(0.9), at(0.99), at(1.0));
    let kernel_link = json_of(&client.call_tool("uart_stats", "{}", None).unwrap());
    let c = &proxy.counts;
    let host = client.stats();
    eprintln!(
        "fault proxy on {board}: {calls} calls in {elapsed:?}; {} bytes, {} flipped, {} dropped, {} duplicated; \
         host link {host:?}; kernel link {kernel_link}",
        c.bytes.load(Relaxed),
        c.flipped.load(Relaxed),
        c.dropped.load(Relaxed),
        c.duplicated.load(Relaxed),
    );
    let faults = c.flipped.load(Relaxed) + c.dropped.load(Relaxed) + c.duplicated.load(Relaxed);
    assert!(faults > calls as u64 / 10, "the proxy injected too few faults to mean anything: {faults}");
    // Rejected frames on both ends: each fault that hit a frame shows up as a CRC, COBS,
    // header or size error and a resync at the next delimiter, never as a wrong answer.
    let kernel_rejected: u64 =
        ["crc_errors", "cobs_errors", "oversize_frames"].iter().map(|key| kernel_link[key].as_u64().unwrap()).sum();
    let host_rejected = host.rx.crc_errors + host.rx.cobs_errors + host.rx.oversize_frames;
    assert!(
        kernel_rejected > 0 && host_rejected > 0,
        "no corrupt frame was caught: kernel {kernel_link}, host {host:?}"
    );
    // A frame that passed the CRC but is not what was sent would show up here (or as a wrong
    // answer above): zero undetected corrupt frames.
    let undetected = kernel_link["header_errors"].as_u64().unwrap()
        + kernel_link["bad_messages"].as_u64().unwrap()
        + host.rx.header_errors
        + host.session.bad_messages;
    assert_eq!(undetected, 0, "corrupt frames got past the CRC: kernel {kernel_link}, host {host:?}");
    // Resync within one frame: a fault costs at most the frame it hit (two chunks when it
    // forges a delimiter), never the frames after it.
    assert!(
        kernel_rejected + host_rejected <= 2 * faults,
        "corruption spread beyond the frames it hit: {kernel_rejected} + {host_rejected} rejected for {faults} faults"
    );
    assert!(host.session.retransmits > 0, "losses were never repaired by retransmission: {host:?}");
}

/// Calls through the fault proxy: 100 in CI; `KINGLY_FAULT_CALLS=10000` runs the long variant
/// (with `KINGLY_TEST_QEMU_LIMIT=3600`). At 1% byte faults about half the frames are lost;
/// each loss costs one retransmission timeout (the measured round trip, at least 20 ms), so
/// a call takes ~0.1 s on average under QEMU.
fn fault_calls() -> usize {
    std::env::var("KINGLY_FAULT_CALLS").ok().and_then(|v| v.parse().ok()).unwrap_or(100)
}

#[test]
fn calls_survive_one_percent_byte_corruption_on_the_pl011() {
    calls_through_a_faulty_line(Board::Raspi4b, fault_calls());
}

#[test]
fn calls_survive_one_percent_byte_corruption_on_the_virtio_console() {
    calls_through_a_faulty_line(Board::Virt, fault_calls());
}

#[test]
fn a_client_reconnects_to_the_same_socket_without_a_reboot() {
    for board in [Board::Raspi4b, Board::Virt] {
        reconnects(board);
    }
}

fn reconnects(board: Board) {
    let mut kernel = Booted::boot(board, "").unwrap();
    let mut seen = Vec::new();
    for _ in 0..3 {
        // A brand-new connection to QEMU's socket each time, as a second `kingly call` would open.
        kernel.reconnect().unwrap();
        let mut client = kernel.client().unwrap();
        seen.push(session_and_uptime(&mut client));
        assert_eq!(json_of(&client.call_tool("ping", r#"{"data":"again"}"#, None).unwrap())["data"], "again");
    }
    assert_one_kernel_new_sessions(board, &seen);
}
