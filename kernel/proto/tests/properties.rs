//! Property tests: no input panics, every message round-trips, and a session over a line
//! that flips, drops and duplicates 1% of its bytes completes with no corrupt delivery.

mod common;

use common::{expected_reply, test_config, Pair, Rng};
use kingly_proto::{
    encode_frame, CallTool, CallToolResult, Capabilities, Channel, Content, Endpoint, Event, Flags, FrameAccumulator,
    Header, LogLevel, Message, PeerInfo, ResourceContents, ResourceDescriptor, ToolArgs, ToolDescriptor,
    MAX_ENCODED_FRAME_BYTES, MAX_FRAME_PAYLOAD_BYTES, MAX_PAYLOAD_BYTES,
};
use proptest::prelude::*;

fn text() -> impl Strategy<Value = String> {
    prop_oneof![Just(String::new()), "[a-z_]{1,12}", "\\PC{0,40}"]
}

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..max)
}

fn content() -> impl Strategy<Value = Content> {
    prop_oneof![
        text().prop_map(Content::Text),
        text().prop_map(Content::Json),
        (text(), bytes(64)).prop_map(|(mime_type, data)| Content::Bytes { mime_type, data }),
        bytes(64).prop_map(Content::Reply),
    ]
}

fn peer_info() -> impl Strategy<Value = PeerInfo> {
    (any::<u16>(), any::<u32>(), text(), text(), text(), any::<u32>()).prop_map(
        |(protocol_version, capabilities, name, version, build_hash, max_message_bytes)| PeerInfo {
            protocol_version,
            capabilities: Capabilities(capabilities),
            name,
            version,
            build_hash,
            max_message_bytes,
        },
    )
}

fn log_level() -> impl Strategy<Value = LogLevel> {
    prop::sample::select(vec![
        LogLevel::Debug,
        LogLevel::Info,
        LogLevel::Notice,
        LogLevel::Warning,
        LogLevel::Error,
        LogLevel::Critical,
        LogLevel::Alert,
        LogLevel::Emergency,
    ])
}

/// Every variant of [`Message`], with arbitrary contents.
fn message() -> impl Strategy<Value = Message> {
    let args = (bytes(64), bytes(256)).prop_map(|(request, attachment)| ToolArgs { request, attachment });
    let tool = (text(), text()).prop_map(|(name, description)| ToolDescriptor { name, description });
    let resource = (text(), text(), text(), text())
        .prop_map(|(uri, name, description, mime_type)| ResourceDescriptor { uri, name, description, mime_type });
    let contents = (text(), content()).prop_map(|(uri, content)| ResourceContents { uri, content });
    prop_oneof![
        peer_info().prop_map(Message::Hello),
        peer_info().prop_map(Message::HelloAck),
        any::<u32>().prop_map(|id| Message::ListTools { id }),
        (any::<u32>(), prop::collection::vec(tool, 0..4))
            .prop_map(|(id, tools)| Message::ListToolsResult { id, tools }),
        (any::<u32>(), text(), args).prop_map(|(id, name, args)| Message::CallTool(CallTool { id, name, args })),
        (any::<u32>(), prop::collection::vec(content(), 0..4), any::<bool>())
            .prop_map(|(id, content, is_error)| Message::CallToolResult(CallToolResult { id, content, is_error })),
        any::<u32>().prop_map(|id| Message::ListResources { id }),
        (any::<u32>(), prop::collection::vec(resource, 0..4))
            .prop_map(|(id, resources)| Message::ListResourcesResult { id, resources }),
        (any::<u32>(), text()).prop_map(|(id, uri)| Message::ReadResource { id, uri }),
        (any::<u32>(), prop::collection::vec(contents, 0..3))
            .prop_map(|(id, contents)| Message::ReadResourceResult { id, contents }),
        (any::<u32>(), any::<u64>(), any::<Option<u64>>()).prop_map(|(id, done, total)| Message::Progress {
            id,
            done,
            total
        }),
        any::<u32>().prop_map(|id| Message::Cancel { id }),
        (log_level(), text()).prop_map(|(level, text)| Message::Log { level, text }),
        any::<u32>().prop_map(|id| Message::Ping { id }),
        any::<u32>().prop_map(|id| Message::Pong { id }),
        (any::<Option<u32>>(), any::<i32>(), text()).prop_map(|(id, code, message)| Message::Error {
            id,
            code,
            message
        }),
    ]
}

/// Failing cases are kept beside this file (proptest's default looks for `src/lib.rs`).
fn persistence() -> Option<Box<dyn proptest::test_runner::FailurePersistence>> {
    Some(Box::new(proptest::test_runner::FileFailurePersistence::Direct("tests/properties.proptest-regressions")))
}

fn encode(header: &Header, payload: &[u8]) -> Vec<u8> {
    let mut out = [0u8; MAX_ENCODED_FRAME_BYTES];
    let length = encode_frame(header, payload, &mut out).expect("payload fits");
    out[..length].to_vec()
}

/// A header with arbitrary fields, most of them valid.
fn header() -> impl Strategy<Value = Header> {
    (0u8..3, any::<u8>(), any::<u16>(), any::<u16>()).prop_map(|(channel, flags, seq, ack)| {
        let channel = Channel::from_byte(channel).expect("0..3 are channels");
        Header::new(channel, Flags(flags & Flags::KNOWN.0), seq, ack)
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: persistence(), ..ProptestConfig::default() })]

    #[test]
    fn every_message_round_trips(message in message()) {
        let bytes = message.encode().expect("encodes");
        prop_assert_eq!(Message::decode(&bytes), Ok(message));
    }

    #[test]
    fn every_message_round_trips_through_a_session(message in message()) {
        let mut pair = Pair::new(test_config(), 0, 11);
        pair.connect(3);
        pair.kernel_serving = false;
        pair.host.send(&message).expect("queued");
        pair.run_until(1000, |pair| !pair.host.is_idle() || pair.kernel.stats().rx.frames > 2);
        pair.run_until(1000, |pair| pair.host.is_idle());
        let received: Vec<Message> = std::iter::from_fn(|| pair.kernel.poll_event())
            .filter_map(|event| match event { Event::Message { message, .. } => Some(message), _ => None })
            .collect();
        prop_assert_eq!(received, vec![message]);
    }

    #[test]
    fn truncated_or_garbled_messages_never_panic(bytes in bytes(512)) {
        let _ = Message::decode(&bytes);
    }

    #[test]
    fn random_bytes_never_panic_the_accumulator(chunks in prop::collection::vec(bytes(3000), 0..4)) {
        let mut accumulator = FrameAccumulator::new();
        let mut fed = 0u64;
        for chunk in &chunks {
            let mut input = &chunk[..];
            while let Some(result) = accumulator.push(&mut input) {
                if let Ok(frame) = result {
                    prop_assert!(frame.payload.len() <= MAX_FRAME_PAYLOAD_BYTES);
                }
            }
            fed += chunk.len() as u64;
        }
        prop_assert_eq!(accumulator.stats().bytes, fed);
    }

    #[test]
    fn random_bytes_never_panic_an_endpoint(chunks in prop::collection::vec(bytes(2000), 0..6), open in any::<bool>()) {
        let mut endpoint = Endpoint::new(test_config());
        if open {
            endpoint.connect(common::hello("h"), 0).expect("queued");
        }
        for (now_ms, chunk) in chunks.iter().enumerate() {
            endpoint.handle_bytes(chunk, now_ms as u64 * 50);
            while endpoint.poll_transmit(now_ms as u64 * 50).is_some() {}
            while endpoint.poll_event().is_some() {}
        }
    }

    /// Frames with good CRCs but arbitrary headers and payloads reach the session logic.
    #[test]
    fn arbitrary_valid_frames_never_panic_an_endpoint(
        frames in prop::collection::vec((header(), bytes(MAX_FRAME_PAYLOAD_BYTES + 1)), 0..24),
        open in any::<bool>(),
    ) {
        let mut endpoint = Endpoint::new(test_config());
        if open {
            endpoint.connect(common::hello("h"), 0).expect("queued");
        }
        for (now_ms, (header, payload)) in frames.iter().enumerate() {
            let payload = &payload[..payload.len().min(MAX_FRAME_PAYLOAD_BYTES)];
            endpoint.handle_bytes(&encode(header, payload), now_ms as u64);
            while endpoint.poll_transmit(now_ms as u64).is_some() {}
            while endpoint.poll_event().is_some() {}
        }
    }

    /// Garbage before a delimiter never hides the frame after it: resync within one frame.
    #[test]
    fn a_frame_after_garbage_and_a_delimiter_is_found(garbage in bytes(2000), header in header(), payload in bytes(64)) {
        let mut wire = garbage;
        wire.push(0);
        wire.extend(encode(&header, &payload));
        let mut accumulator = FrameAccumulator::new();
        let mut input = &wire[..];
        let mut last = None;
        while let Some(result) = accumulator.push(&mut input) {
            last = Some(result.map(|frame| (frame.header, frame.payload.to_vec())));
        }
        let decoded = last.expect("the frame ends the input");
        // The frame is found unless the header itself is one the receiver rejects.
        if let Ok((decoded_header, decoded_payload)) = decoded {
            prop_assert_eq!(decoded_header, header);
            prop_assert_eq!(decoded_payload, payload);
        } else {
            let rejected_flags = matches!(decoded, Err(kingly_proto::ProtoError::Flags { .. }));
            prop_assert!(rejected_flags, "{:?}", decoded);
        }
    }
}

/// Runs `calls` requests (pings and small echo calls, up to four outstanding) over a line
/// with `fault_ppm` byte faults; checks every delivery against what was sent.
fn faulty_session(fault_ppm: u64, seed: u64, calls: u32, max_bytes: u64) -> Pair {
    let mut pair = Pair::new(test_config(), fault_ppm, seed);
    pair.connect(seed as u16);
    let mut rng = Rng::new(seed ^ 0xabcdef);
    let mut sent = vec![Message::Hello(common::hello("kingly-host"))];
    let mut next_id = 0;
    let answered = |pair: &Pair| pair.host_message_count as u32 - 1; // minus HelloAck
    while next_id < calls {
        while next_id < calls && next_id - answered(&pair) < 4 {
            let request = if rng.below(3) == 0 {
                Message::Ping { id: next_id }
            } else {
                let data = (0..rng.below(max_bytes)).map(|_| rng.next_u64() as u8).collect();
                Message::CallTool(CallTool { id: next_id, name: "echo".into(), args: ToolArgs::bytes(data) })
            };
            pair.host.send(&request).expect("queued");
            sent.push(request);
            next_id += 1;
        }
        let target = answered(&pair) + 1;
        assert!(
            pair.run_until(600_000, |pair| answered(pair) >= target),
            "stalled at {} of {calls} calls",
            answered(&pair)
        );
    }
    assert!(pair.run_until(600_000, |pair| answered(pair) == calls));

    // Zero undetected corrupt frames: both sides received exactly what was sent, in order.
    assert_eq!(pair.kernel_received, sent);
    let expected: Vec<Message> = sent.iter().filter_map(expected_reply).collect();
    let received: Vec<Message> = pair.host_messages().into_iter().cloned().collect();
    assert_eq!(received, expected);
    for event in pair.host_events.iter().chain(&pair.kernel_events) {
        assert!(!matches!(event, Event::BadMessage { .. } | Event::SessionLost { .. }), "unexpected {event:?}");
    }
    pair
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 8, failure_persistence: persistence(), ..ProptestConfig::default() })]

    #[test]
    fn a_session_completes_at_one_percent_byte_faults(seed in any::<u64>()) {
        let pair = faulty_session(10_000, seed, 150, 100);
        prop_assert!(pair.to_kernel.faults + pair.to_host.faults > 0);
    }
}

/// The figure: 10^4 calls at 1% byte faults, all correct.
#[test]
fn ten_thousand_calls_at_one_percent_byte_faults() {
    let pair = faulty_session(10_000, 42, 10_000, 100);
    let (host, kernel) = (pair.host.stats(), pair.kernel.stats());
    println!(
        "10^4 calls, {} byte faults; kernel rx: {:?}; host retransmits {}, kernel retransmits {}",
        pair.to_kernel.faults + pair.to_host.faults,
        kernel.rx,
        host.session.retransmits,
        kernel.session.retransmits,
    );
    assert!(kernel.rx.crc_errors + kernel.rx.cobs_errors > 0);
}

#[test]
fn a_64_kib_upload_completes_over_a_noisy_line() {
    let mut pair = Pair::new(test_config(), 100, 77);
    pair.connect(9);
    let payload: Vec<u8> = (0..MAX_PAYLOAD_BYTES as u64).map(|i| (i * 31 % 256) as u8).collect();
    let upload = Message::CallTool(CallTool { id: 1, name: "echo".into(), args: ToolArgs::bytes(payload) });
    pair.host.send(&upload).expect("queued");
    assert!(pair.run_until(600_000, |pair| pair.host_messages().len() == 2));
    assert_eq!(pair.kernel_received.last(), Some(&upload));
    assert_eq!(pair.host_messages()[1], &expected_reply(&upload).expect("a reply"));
}

/// With adaptive fragments even a 64 KiB upload gets through 1% byte faults, where a full
/// 1 KiB frame arrives intact only once in ~30 000 tries.
#[test]
fn a_64_kib_upload_completes_at_one_percent_byte_faults() {
    let mut pair = Pair::new(test_config(), 10_000, 78);
    pair.connect(9);
    let payload: Vec<u8> = (0..MAX_PAYLOAD_BYTES as u64).map(|i| (i * 13 % 256) as u8).collect();
    let upload = Message::CallTool(CallTool { id: 1, name: "echo".into(), args: ToolArgs::bytes(payload) });
    pair.host.send(&upload).expect("queued");
    assert!(pair.run_until(3_600_000, |pair| pair.host_message_count == 2), "no result within an hour");
    assert_eq!(pair.kernel_received.last(), Some(&upload));
    assert_eq!(pair.host_messages()[1], &expected_reply(&upload).expect("a reply"));
    println!(
        "64 KiB at 1% byte faults: {} ms simulated, {} bytes sent for {} payload bytes, {} timeouts",
        pair.now_ms,
        pair.host_wire_bytes,
        MAX_PAYLOAD_BYTES,
        pair.host.stats().session.timeouts
    );
}
