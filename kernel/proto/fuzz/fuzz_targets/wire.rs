//! Fuzzes everything that reads bytes from the line: the frame accumulator, the frame and
//! message decoders, and the session state machine behind them.
//!
//! The first input byte picks a mode. Even: the rest is raw line bytes (noise, partial and
//! corrupt frames). Odd: the rest is cut into frames that get valid CRCs, so the fuzzer
//! reaches the session logic and the message decoder past the checksum.
#![no_main]

use kingly_proto::{
    encode_frame, Channel, Config, Endpoint, Flags, FrameAccumulator, Header, Message, PeerInfo,
    MAX_ENCODED_FRAME_BYTES, MAX_FRAME_PAYLOAD_BYTES,
};
use libfuzzer_sys::fuzz_target;

fn endpoints() -> [Endpoint; 2] {
    let config =
        Config { retransmit_timeout_ms: 5, max_retransmit_timeout_ms: 20, max_retransmits: 2, ..Config::SERIAL };
    let server = Endpoint::new(config);
    let mut client = Endpoint::new(config);
    let _ = client.connect(PeerInfo::default(), 7);
    [server, client]
}

fn drive(endpoints: &mut [Endpoint; 2], bytes: &[u8], now_ms: u64) {
    for endpoint in endpoints.iter_mut() {
        endpoint.handle_bytes(bytes, now_ms);
        while let Some(event) = endpoint.poll_event() {
            if let kingly_proto::Event::Message { message: Message::Ping { id }, .. } = event {
                let _ = endpoint.send(&Message::Pong { id });
            }
        }
        let mut frames = 0;
        while let Some(frame) = endpoint.poll_transmit(now_ms) {
            assert!(frame.len() <= MAX_ENCODED_FRAME_BYTES);
            frames += 1;
            assert!(frames < 1000, "poll_transmit must run dry");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let _ = Message::decode(rest);
    let mut endpoints = endpoints();

    if mode % 2 == 0 {
        let mut accumulator = FrameAccumulator::new();
        let mut input = rest;
        while let Some(result) = accumulator.push(&mut input) {
            if let Ok(frame) = result {
                assert!(frame.payload.len() <= MAX_FRAME_PAYLOAD_BYTES);
                let _ = Message::decode(frame.payload);
            }
        }
        assert_eq!(accumulator.stats().bytes, rest.len() as u64);
        // Feed the same bytes in chunks whose size the mode byte picks.
        let chunk = usize::from(mode / 2) + 1;
        for (index, piece) in rest.chunks(chunk).enumerate() {
            drive(&mut endpoints, piece, index as u64 * 3);
        }
        return;
    }

    // Structured: [channel, flags, seq_lo, seq_hi, ack_lo, ack_hi, length_lo, length_hi, payload...]*
    let mut input = rest;
    let mut now_ms = 0;
    let mut wire = [0u8; MAX_ENCODED_FRAME_BYTES];
    while let [channel, flags, seq_lo, seq_hi, ack_lo, ack_hi, length_lo, length_hi, tail @ ..] = input {
        let Ok(channel) = Channel::from_byte(channel % 3) else {
            return;
        };
        let header = Header::new(
            channel,
            Flags(flags & Flags::KNOWN.0),
            u16::from_le_bytes([*seq_lo, *seq_hi]),
            u16::from_le_bytes([*ack_lo, *ack_hi]),
        );
        let length = usize::from(u16::from_le_bytes([*length_lo, *length_hi]));
        let length = length.min(tail.len()).min(MAX_FRAME_PAYLOAD_BYTES);
        let (payload, next) = tail.split_at(length);
        input = next;
        if let Ok(written) = encode_frame(&header, payload, &mut wire) {
            drive(&mut endpoints, &wire[..written], now_ms);
        }
        now_ms += 4;
    }
});
