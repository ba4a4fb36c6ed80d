//! Message-port figures against a real kernel under QEMU, on every link in one run: the PL011
//! on raspi4b, and on virt both the virtio console and the PL011 (the baseline it replaces).
//!
//! - `ping` round trip (protocol Ping → Pong) over the QEMU socket: median and p99;
//! - the `ping` tool (CallTool → CallToolResult, JSON both ways): median and p99;
//! - a 64 KiB upload (a CallTool carrying 64 KiB of bytes): wire bytes per payload byte, host
//!   to kernel and with the kernel's acks and reply, and the time it took.
//!
//! Run with `cargo bench -p kingly-tests --bench message_port`; `KINGLY_BENCH_PINGS` sets the
//! number of round trips (default 500). Under plain `cargo test` it does nothing.

use kingly::board::Board;
use kingly::client::Client;
use kingly_tests::Booted;
use std::time::{Duration, Instant};

const UPLOAD_BYTES: usize = 64 * 1024;

fn percentile(sorted: &[Duration], fraction: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * fraction).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn summarize(mut samples: Vec<Duration>) -> String {
    samples.sort();
    format!(
        "median {:>7.3} ms  p99 {:>7.3} ms  (n={})",
        percentile(&samples, 0.5).as_secs_f64() * 1e3,
        percentile(&samples, 0.99).as_secs_f64() * 1e3,
        samples.len()
    )
}

fn measure(link: &str, client: &mut Client, pings: usize) {
    client.request_timeout = Duration::from_secs(120);
    for _ in 0..20 {
        client.ping().expect("warm-up ping");
    }
    let protocol: Vec<Duration> = (0..pings).map(|_| client.ping().expect("ping")).collect();
    let tool: Vec<Duration> = (0..pings)
        .map(|_| {
            let start = Instant::now();
            client.call_tool("ping", "{}", None).expect("ping tool");
            start.elapsed()
        })
        .collect();
    println!("{link:<22} Ping round trip       {}", summarize(protocol));
    println!("{link:<22} `ping` tool call      {}", summarize(tool));

    let payload: Vec<u8> = (0..UPLOAD_BYTES as u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    let before = client.stats();
    let start = Instant::now();
    let reply = client.call_tool("ping", "{}", Some(payload)).expect("64 KiB upload");
    let elapsed = start.elapsed();
    assert!(!reply.is_error, "the upload was refused: {reply:?}");
    let after = client.stats();
    let sent = after.session.bytes_sent - before.session.bytes_sent;
    let received = after.rx.bytes - before.rx.bytes;
    println!(
        "{link:<22} 64 KiB upload         wire/payload {:.4} (host→kernel {sent} B), {:.4} with acks and reply \
         ({received} B back), {:.2} s, {:.0} KiB/s",
        sent as f64 / UPLOAD_BYTES as f64,
        (sent + received) as f64 / UPLOAD_BYTES as f64,
        elapsed.as_secs_f64(),
        UPLOAD_BYTES as f64 / 1024.0 / elapsed.as_secs_f64()
    );
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let pings = std::env::var("KINGLY_BENCH_PINGS").ok().and_then(|v| v.parse().ok()).unwrap_or(500);
    for board in [Board::Raspi4b, Board::Virt] {
        let kernel = Booted::boot(board, "").expect("booting");
        match board {
            Board::Raspi4b => measure("raspi4b PL011", &mut kernel.client().expect("session"), pings),
            Board::Pi5 => {} // not emulated; never in the list above
            Board::Virt => {
                measure("virt virtio-console", &mut kernel.client().expect("session"), pings);
                measure("virt PL011", &mut kernel.uart_client().expect("session"), pings);
            }
        }
    }
}
