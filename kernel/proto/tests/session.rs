//! Session scenarios over a simulated line: handshake, reliability, chunking, resets, logs.

mod common;

use common::{hello, test_config, Pair};
use kingly_proto::{
    CallTool, Channel, Config, Endpoint, Event, LogLevel, Message, ProtoError, ToolArgs, MAX_FRAME_PAYLOAD_BYTES,
    MAX_PAYLOAD_BYTES,
};

fn call(id: u32, bytes: Vec<u8>) -> Message {
    Message::CallTool(CallTool { id, name: "echo".into(), args: ToolArgs::bytes(bytes) })
}

fn got_response(pair: &Pair, id: u32) -> bool {
    pair.host_messages().iter().any(|message| message.request_id() == Some(id) && message.mcp_method().is_none())
}

#[test]
fn handshake_connects_both_sides() {
    let mut pair = Pair::new(test_config(), 0, 1);
    pair.connect(0xfff0);
    assert!(pair.host_events.contains(&Event::Connected));
    assert_eq!(pair.kernel_events.first(), Some(&Event::SessionReset));
    assert_eq!(pair.kernel_received, [Message::Hello(hello("kingly-host"))]);
    assert!(pair.host.is_open() && pair.kernel.is_open());
}

#[test]
fn sequence_numbers_wrap_and_pipelined_pings_are_answered_in_order() {
    let mut pair = Pair::new(test_config(), 0, 2);
    pair.connect(u16::MAX - 3);
    for id in 0..40 {
        pair.host.send(&Message::Ping { id }).expect("queued");
    }
    assert!(pair.run_until(1000, |pair| got_response(pair, 39)));
    let pongs: Vec<u32> = pair
        .host_messages()
        .iter()
        .filter_map(|message| match message {
            Message::Pong { id } => Some(*id),
            _ => None,
        })
        .collect();
    assert_eq!(pongs, (0..40).collect::<Vec<_>>());
    assert_eq!(pair.host.stats().session.retransmits, 0);
}

#[test]
fn a_64_kib_upload_is_chunked_with_progress_on_both_sides() {
    let mut pair = Pair::new(test_config(), 0, 3);
    pair.connect(100);
    let payload: Vec<u8> = (0..MAX_PAYLOAD_BYTES).map(|i| (i * 7 % 251) as u8).collect();
    let token = pair.host.send(&call(1, payload.clone())).expect("queued");
    assert!(pair.run_until(10_000, |pair| got_response(pair, 1)));
    assert_eq!(pair.kernel_received.last(), Some(&call(1, payload)));

    let sent: Vec<(u32, u32)> = pair
        .host_events
        .iter()
        .filter_map(|event| match event {
            Event::SendProgress { token: t, acked_bytes, total_bytes } if *t == token => {
                Some((*acked_bytes, *total_bytes))
            }
            _ => None,
        })
        .collect();
    assert!(sent.len() >= 60, "one progress event per fragment, got {}", sent.len());
    assert!(sent.windows(2).all(|pair| pair[0].0 < pair[1].0));
    let (last_acked, total) = *sent.last().expect("progress");
    assert_eq!(last_acked, total);
    assert!(pair.host_events.contains(&Event::Delivered { token }));

    let received = pair
        .kernel_events
        .iter()
        .filter(|event| matches!(event, Event::ReceiveProgress { channel: Channel::Data, .. }))
        .count();
    assert!(received >= 60, "kernel saw {received} progress events");
}

#[test]
fn control_messages_overtake_a_bulk_transfer() {
    let mut pair = Pair::new(test_config(), 0, 4);
    pair.connect(7);
    pair.host.send(&call(1, vec![0x55; MAX_PAYLOAD_BYTES])).expect("queued");
    pair.step();
    pair.host.send(&Message::Ping { id: 2 }).expect("queued");
    assert!(pair.run_until(10_000, |pair| got_response(pair, 1)));
    let order: Vec<u32> = pair.host_messages().iter().filter_map(|message| message.request_id()).collect();
    assert_eq!(order, [2, 1], "the Pong must arrive before the upload completes");
}

#[test]
fn duplicate_frames_are_delivered_once() {
    let mut host = Endpoint::new(test_config());
    let mut kernel = Endpoint::new(test_config());
    host.connect(hello("h"), 5).expect("queued");
    let frame = host.poll_transmit(0).expect("Hello frame").to_vec();
    kernel.handle_bytes(&frame, 0);
    kernel.handle_bytes(&frame, 1);
    kernel.handle_bytes(&[frame.clone(), frame].concat(), 2);
    let hellos = std::iter::from_fn(|| kernel.poll_event())
        .filter(|event| matches!(event, Event::Message { message: Message::Hello(_), .. }))
        .count();
    assert_eq!(hellos, 1);
    assert_eq!(kernel.stats().session.duplicates, 3);
}

#[test]
fn a_lost_frame_is_retransmitted_after_the_timeout() {
    let config = test_config();
    let mut host = Endpoint::new(config);
    let mut kernel = Endpoint::new(config);
    host.connect(hello("h"), 5).expect("queued");
    let lost = host.poll_transmit(0).expect("Hello frame").to_vec();
    assert!(host.poll_transmit(1).is_none(), "nothing more before the timeout");
    let deadline = host.poll_timeout().expect("timer armed");
    assert_eq!(deadline, config.retransmit_timeout_ms);
    assert!(host.poll_transmit(deadline - 1).is_none());
    let again = host.poll_transmit(deadline).expect("retransmission").to_vec();
    assert_eq!(again, lost, "same frame, same seq");
    assert_eq!(host.stats().session.timeouts, 1);
    // Three timeouts in a row keep the timeout (a noisy line loses many frames)...
    let rto = config.retransmit_timeout_ms;
    let mut at = deadline;
    for _ in 0..2 {
        assert_eq!(host.poll_timeout(), Some(at + rto), "steady timeout");
        at += rto;
        assert_eq!(host.poll_transmit(at).map(<[u8]>::to_vec), Some(lost.clone()));
    }
    assert_eq!(host.poll_timeout(), Some(at + rto));
    at += rto;
    assert!(host.poll_transmit(at).is_some());
    // ...then it backs off, doubling, for a peer that is busy or gone.
    assert_eq!(host.poll_timeout(), Some(at + 2 * rto), "backoff doubles");
    assert!(host.poll_transmit(at + 2 * rto).is_some());
    assert_eq!(host.poll_timeout(), Some(at + 6 * rto), "and doubles again");
    kernel.handle_bytes(&again, deadline);
    assert!(matches!(kernel.poll_event(), Some(Event::SessionReset)));
}

#[test]
fn a_repeated_request_brings_the_lost_answer_back_at_once() {
    let config = test_config();
    let mut host = Endpoint::new(config);
    let mut kernel = Endpoint::new(config);
    host.connect(hello("h"), 5).expect("queued");
    deliver(&mut host, &mut kernel, 0);
    answer(&mut kernel);
    deliver(&mut kernel, &mut host, 0);
    host.send(&Message::Ping { id: 1 }).expect("queued");
    deliver(&mut host, &mut kernel, 1);
    answer(&mut kernel);
    // The Pong leaves 5 ms later (a slow tool) and is lost on the way to the host.
    assert!(kernel.poll_transmit(6).is_some());
    assert!(kernel.poll_transmit(6).is_none());
    // The host times out and repeats the Ping; the kernel has it already, so its Pong (and
    // the ack on it) must have been lost: it answers again now, not at its own timeout.
    let deadline = host.poll_timeout().expect("armed");
    deliver(&mut host, &mut kernel, deadline);
    assert!(kernel.poll_timeout().expect("armed") > deadline, "the kernel's own timer has not fired");
    assert_eq!(deliver(&mut kernel, &mut host, deadline), 1, "the Pong again");
    assert!(matches!(host.poll_event(), Some(Event::Connected)));
    let pongs = std::iter::from_fn(|| host.poll_event())
        .filter(|event| matches!(event, Event::Message { message: Message::Pong { id: 1 }, .. }))
        .count();
    assert_eq!(pongs, 1);
    assert_eq!(kernel.stats().session.fast_retransmits, 1);
}

#[test]
fn a_new_hello_resets_the_kernel_session() {
    let mut pair = Pair::new(test_config(), 0, 5);
    pair.connect(1000);
    // The host exits with a call in flight; the kernel never hears about it.
    pair.host.send(&Message::Ping { id: 1 }).expect("queued");
    pair.host.poll_transmit(pair.now_ms);
    let kernel = std::mem::replace(&mut pair.kernel, Endpoint::new(test_config()));
    let mut pair2 = Pair::new(test_config(), 0, 6);
    pair2.kernel = kernel;
    pair2.connect(2000);
    assert!(pair2.kernel_events.contains(&Event::SessionReset));
    pair2.host.send(&Message::Ping { id: 9 }).expect("queued");
    assert!(pair2.run_until(1000, |pair| got_response(pair, 9)));
    assert!(pair2.host_messages().iter().all(|message| message.request_id() != Some(1)));
}

#[test]
fn a_rebooted_kernel_answers_with_a_reset_and_the_host_reconnects() {
    let mut pair = Pair::new(test_config(), 0, 7);
    pair.connect(1);
    pair.kernel = Endpoint::new(test_config());
    pair.host.send(&Message::Ping { id: 3 }).expect("queued");
    assert!(
        pair.run_until(1000, |pair| pair.host_events.contains(&Event::SessionLost { error: ProtoError::PeerReset }))
    );
    assert!(!pair.host.is_open());
    assert_eq!(pair.host.send(&Message::Ping { id: 4 }), Err(ProtoError::NotConnected));
    pair.connect(4242);
    pair.host.send(&Message::Ping { id: 5 }).expect("queued");
    assert!(pair.run_until(1000, |pair| got_response(pair, 5)));
}

#[test]
fn a_silent_peer_ends_the_session_after_the_retransmit_limit() {
    let config = Config { max_retransmits: 3, ..test_config() };
    let mut host = Endpoint::new(config);
    host.connect(hello("h"), 0).expect("queued");
    let mut now_ms = 0;
    let mut lost = None;
    while now_ms < 100_000 && lost.is_none() {
        while host.poll_transmit(now_ms).is_some() {}
        lost = host.poll_event().filter(|event| matches!(event, Event::SessionLost { .. }));
        now_ms += 1;
    }
    assert_eq!(lost, Some(Event::SessionLost { error: ProtoError::RetransmitLimit }));
    assert_eq!(host.stats().session.timeouts, 4);
}

#[test]
fn a_long_log_line_travels_in_one_frame_truncated() {
    let mut kernel = Endpoint::new(test_config());
    let mut host = Endpoint::new(test_config());
    let text = "é".repeat(3000);
    kernel.send_log(LogLevel::Warning, &text).expect("queued");
    let frame = kernel.poll_transmit(0).expect("log frame").to_vec();
    assert!(kernel.poll_transmit(0).is_none(), "one frame only");
    host.handle_bytes(&frame, 0);
    match host.poll_event() {
        Some(Event::Message { channel: Channel::Log, message: Message::Log { level, text: received } }) => {
            assert_eq!(level, LogLevel::Warning);
            assert!(received.ends_with("...") && received.len() <= MAX_FRAME_PAYLOAD_BYTES);
            assert!(text.starts_with(received.trim_end_matches("...")));
        }
        other => panic!("expected a log message, got {other:?}"),
    }
}

#[test]
fn logs_need_no_session_and_requests_do() {
    let mut kernel = Endpoint::new(test_config());
    assert_eq!(kernel.send(&Message::Ping { id: 1 }), Err(ProtoError::NotConnected));
    assert!(kernel.send(&Message::Log { level: LogLevel::Info, text: "boot".into() }).is_ok());
    assert!(kernel.poll_transmit(0).is_some());
}

#[test]
fn oversize_messages_are_refused_at_send() {
    let mut pair = Pair::new(test_config(), 0, 8);
    pair.connect(1);
    let too_big = call(1, vec![0; pair.host.config().max_message_bytes]);
    assert_eq!(pair.host.send(&too_big), Err(ProtoError::MessageTooLarge));
}

#[test]
fn a_busy_kernel_pushes_back_and_nothing_is_lost() {
    let mut pair = Pair::new(test_config(), 0, 9);
    pair.connect(1);
    pair.kernel_serving = false;
    for id in 0..100 {
        pair.host.send(&Message::Ping { id }).expect("queued");
    }
    pair.run_until(300, |_| false);
    assert!(pair.kernel.stats().session.refused_busy > 0);
    pair.kernel_serving = true;
    assert!(pair.run_until(30_000, |pair| got_response(pair, 99)));
    let pongs = pair.host_messages().iter().filter(|message| matches!(message, Message::Pong { .. })).count();
    assert_eq!(pongs, 100);
}

#[test]
fn an_undecodable_message_is_reported_not_dropped() {
    let mut pair = Pair::new(test_config(), 0, 10);
    pair.connect(1);
    // A valid frame whose payload is not a message (a newer peer, or a bug).
    let mut frame = [0u8; 1100];
    let header =
        kingly_proto::Header::new(Channel::Control, kingly_proto::Flags::SEQ.with(kingly_proto::Flags::START), 2, 0);
    let n = kingly_proto::encode_frame(&header, &[0xff, 0xff], &mut frame).expect("fits");
    pair.kernel.handle_bytes(&frame[..n], pair.now_ms);
    pair.kernel_serving = false;
    let bad = std::iter::from_fn(|| pair.kernel.poll_event()).find(|event| matches!(event, Event::BadMessage { .. }));
    assert_eq!(bad, Some(Event::BadMessage { channel: Channel::Control, error: ProtoError::Decode }));
}

#[test]
fn a_cancelled_upload_is_discarded_by_the_kernel() {
    let mut pair = Pair::new(test_config(), 0, 11);
    pair.connect(1);
    let token = pair.host.send(&call(1, vec![0x11; MAX_PAYLOAD_BYTES])).expect("queued");
    let unsent = pair.host.send(&call(2, vec![0x22; MAX_PAYLOAD_BYTES])).expect("queued");
    for _ in 0..5 {
        pair.step();
    }
    assert!(pair.host.cancel(token) && pair.host.cancel(unsent));
    assert!(!pair.host.cancel(token), "cancelling twice finds nothing");
    pair.host.send(&Message::Ping { id: 3 }).expect("queued");
    assert!(pair.run_until(10_000, |pair| got_response(pair, 3) && pair.host.is_idle()));
    // A new upload after the cancelled one reassembles cleanly.
    pair.host.send(&call(4, vec![0x44; 5000])).expect("queued");
    assert!(pair.run_until(10_000, |pair| got_response(pair, 4)));
    let ids: Vec<u32> = pair.kernel_received.iter().filter_map(Message::request_id).collect();
    assert_eq!(ids, [3, 4]);
    assert!(!pair.host_events.contains(&Event::Delivered { token }));
    assert_eq!(pair.kernel.stats().session.protocol_errors, 0);
}

#[test]
fn a_mebibyte_of_noise_then_a_call_succeeds_and_the_counters_show_it() {
    let mut pair = Pair::new(test_config(), 0, 12);
    let mut rng = common::Rng::new(99);
    let noise: Vec<u8> = (0..1 << 20).map(|_| rng.next_u64() as u8).collect();
    for chunk in noise.chunks(4096) {
        pair.kernel.handle_bytes(chunk, 0);
    }
    pair.connect(31);
    pair.host.send(&Message::Ping { id: 1 }).expect("queued");
    assert!(pair.run_until(1000, |pair| got_response(pair, 1)));
    let rx = pair.kernel.stats().rx;
    assert!(rx.bytes > 1 << 20);
    assert!(rx.resyncs > 1000 && rx.cobs_errors + rx.crc_errors + rx.oversize_frames > 1000, "{rx:?}");
    assert_eq!(pair.kernel.stats().session.refused_busy, 0);
}

/// Carries everything `from` has to send to `to` at `now_ms`; returns the frame count.
fn deliver(from: &mut Endpoint, to: &mut Endpoint, now_ms: u64) -> usize {
    let mut frames = 0;
    while let Some(frame) = from.poll_transmit(now_ms) {
        let frame = frame.to_vec();
        to.handle_bytes(&frame, now_ms);
        frames += 1;
    }
    frames
}

/// Answers Hello and Ping like a server, sending nothing yet.
fn answer(kernel: &mut Endpoint) {
    while let Some(event) = kernel.poll_event() {
        match event {
            Event::Message { message: Message::Hello(_), .. } => {
                kernel.send(&Message::HelloAck(hello("k"))).expect("queued");
            }
            Event::Message { message: Message::Ping { id }, .. } => {
                kernel.send(&Message::Pong { id }).expect("queued");
            }
            _ => {}
        }
    }
}

#[test]
fn the_retransmission_timeout_follows_the_measured_round_trip() {
    let config = Config { retransmit_timeout_ms: 1000, min_retransmit_timeout_ms: 1, ..test_config() };
    let mut host = Endpoint::new(config);
    let mut kernel = Endpoint::new(config);
    assert_eq!(host.round_trip_ms(), None);
    host.connect(hello("h"), 7).expect("queued");
    let mut now = 0;
    for id in 0..20 {
        if id > 0 {
            host.send(&Message::Ping { id }).expect("queued");
        }
        // Every exchange takes 10 ms there and back.
        deliver(&mut host, &mut kernel, now);
        answer(&mut kernel);
        deliver(&mut kernel, &mut host, now + 10);
        now += 100;
    }
    let (smoothed, variation) = host.round_trip_ms().expect("measured");
    assert_eq!(smoothed, 10, "a steady 10 ms round trip");
    assert!(variation <= 3, "steady samples shrink the variation: {variation}");
    // The next frame's timeout is SRTT + 4 RTTVAR, far below the initial second.
    host.send(&Message::Ping { id: 99 }).expect("queued");
    assert!(host.poll_transmit(now).is_some());
    let timeout = host.poll_timeout().expect("armed") - now;
    assert!((11..=22).contains(&timeout), "timeout {timeout} ms for a 10 ms round trip");
    assert!(host.poll_transmit(now + timeout).is_some(), "retransmitted at the adaptive timeout");
    assert_eq!(host.poll_timeout(), Some(now + 2 * timeout), "the same timeout again");
}

#[test]
fn a_retransmitted_frame_gives_no_round_trip_sample() {
    let config = Config { retransmit_timeout_ms: 100, min_retransmit_timeout_ms: 1, ..test_config() };
    let mut host = Endpoint::new(config);
    let mut kernel = Endpoint::new(config);
    host.connect(hello("h"), 7).expect("queued");
    // The Hello is lost; its retransmission at 100 ms is answered at once. The ack cannot
    // tell which copy it answers (Karn), so it is no sample: not 1 ms, not 101 ms.
    assert!(host.poll_transmit(0).is_some());
    deliver(&mut host, &mut kernel, 100);
    answer(&mut kernel);
    deliver(&mut kernel, &mut host, 101);
    assert!(matches!(host.poll_event(), Some(Event::Connected)));
    assert_eq!(host.round_trip_ms(), None);
    // The next clean exchange is measured.
    host.send(&Message::Ping { id: 1 }).expect("queued");
    deliver(&mut host, &mut kernel, 200);
    answer(&mut kernel);
    deliver(&mut kernel, &mut host, 204);
    assert_eq!(host.round_trip_ms(), Some((4, 2)));
}
