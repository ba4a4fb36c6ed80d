//! Wire overhead of a 64 KiB upload: wire bytes / payload bytes must stay ≤ 1.05, because
//! at 115200 baud the payload alone needs 5.7 s.

mod common;

use common::{test_config, Pair};
use kingly_proto::{CallTool, Event, Message, ToolArgs, MAX_ENCODED_FRAME_BYTES, MAX_PAYLOAD_BYTES};

#[test]
fn a_64_kib_upload_costs_at_most_five_percent_on_the_wire() {
    let mut pair = Pair::new(test_config(), 0, 1);
    pair.connect(1);

    // Worst case for COBS: no zero bytes at all, so every 254 bytes cost one more.
    let payload = vec![0xa5u8; MAX_PAYLOAD_BYTES];
    let upload = Message::CallTool(CallTool {
        id: 1,
        name: "bpf_load".into(),
        args: ToolArgs { request: vec![], attachment: payload },
    });
    let token = pair.host.send(&upload).expect("queued");
    // Serial pacing: frames reach the kernel one at a time, so it acknowledges each one
    // (the most acks the session ever sends).
    let (mut upstream, mut downstream) = (0u64, 0u64);
    let mut delivered = false;
    for now_ms in pair.now_ms..pair.now_ms + 10_000 {
        if let Some(frame) = pair.host.poll_transmit(now_ms) {
            assert!(frame.len() <= MAX_ENCODED_FRAME_BYTES, "a frame takes at most 1 KiB on the wire");
            upstream += frame.len() as u64;
            let frame = frame.to_vec();
            pair.kernel.handle_bytes(&frame, now_ms);
        }
        while pair.kernel.poll_event().is_some() {}
        while let Some(frame) = pair.kernel.poll_transmit(now_ms) {
            downstream += frame.len() as u64;
            let frame = frame.to_vec();
            pair.host.handle_bytes(&frame, now_ms);
        }
        while let Some(event) = pair.host.poll_event() {
            delivered |= event == Event::Delivered { token };
        }
        if delivered {
            break;
        }
    }
    assert!(delivered);
    let payload_bytes = MAX_PAYLOAD_BYTES as f64;
    let upstream_ratio = upstream as f64 / payload_bytes;
    let total_ratio = (upstream + downstream) as f64 / payload_bytes;
    println!(
        "64 KiB upload: {upstream} bytes host→kernel (ratio {upstream_ratio:.4}), {downstream} bytes of acks \
         kernel→host; both directions {total_ratio:.4}; {} frames",
        pair.host.stats().session.frames_sent
    );
    assert!(upstream_ratio <= 1.05, "upstream overhead {upstream_ratio:.4}");
    assert!(total_ratio <= 1.05, "overhead with acks {total_ratio:.4}");
    assert_eq!(pair.host.stats().session.retransmits, 0, "a clean line needs no retransmission");
}
