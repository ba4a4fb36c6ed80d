//! Writes a seed corpus for the `wire` fuzz target from real session transcripts. In the normal
//! test run it writes to a temporary directory and checks the seeds; before fuzzing, point it at
//! the corpus (relative to `kernel/proto`): `KINGLY_FUZZ_CORPUS=fuzz/corpus/wire cargo test -p kingly-proto --test fuzz_seeds`
//! (the corpus is not committed).

mod common;

use common::{test_config, Pair};
use kingly_proto::{CallTool, FrameAccumulator, Message, ToolArgs};

#[test]
fn write_fuzz_seeds() {
    let directory = std::env::var("KINGLY_FUZZ_CORPUS").unwrap_or_else(|_| {
        std::env::temp_dir().join(format!("kingly-proto-seeds-{}", std::process::id())).display().to_string()
    });
    std::fs::create_dir_all(&directory).expect("corpus directory");

    // Capture what each side puts on the line during a short session.
    let mut pair = Pair::new(test_config(), 0, 1);
    let mut transcripts = [Vec::new(), Vec::new()];
    pair.host.connect(common::hello("seed"), 40).expect("queued");
    pair.host.send(&Message::Ping { id: 1 }).expect("queued");
    let upload = CallTool { id: 2, name: "echo".into(), args: ToolArgs { request: vec![], attachment: vec![7; 3000] } };
    pair.host.send(&Message::CallTool(upload)).expect("queued");
    pair.kernel.send_log(kingly_proto::LogLevel::Info, "kingly ready").expect("queued");
    for now_ms in 0..200 {
        while let Some(frame) = pair.host.poll_transmit(now_ms) {
            transcripts[0].extend_from_slice(frame);
            pair.kernel.handle_bytes(frame, now_ms);
        }
        while let Some(event) = pair.kernel.poll_event() {
            if let kingly_proto::Event::Message { message, .. } = event {
                if let Some(reply) = common::expected_reply(&message) {
                    pair.kernel.send(&reply).expect("queued");
                }
            }
        }
        while let Some(frame) = pair.kernel.poll_transmit(now_ms) {
            transcripts[1].extend_from_slice(frame);
            pair.host.handle_bytes(frame, now_ms);
        }
        while pair.host.poll_event().is_some() {}
    }

    for (index, transcript) in transcripts.iter().enumerate() {
        // Raw mode (even first byte), fed in 33-byte chunks.
        let mut raw = vec![64u8];
        raw.extend_from_slice(transcript);
        std::fs::write(format!("{directory}/raw-{index}"), raw).expect("seed written");

        // Structured mode (odd first byte): the same frames as header fields + payload.
        let mut structured = vec![1u8];
        let mut accumulator = FrameAccumulator::new();
        let mut input = &transcript[..];
        while let Some(result) = accumulator.push(&mut input) {
            let Ok(frame) = result else { continue };
            let header = frame.header;
            structured.extend_from_slice(&[header.channel as u8, header.flags.0]);
            structured.extend_from_slice(&header.seq.to_le_bytes());
            structured.extend_from_slice(&header.ack.to_le_bytes());
            structured.extend_from_slice(&(frame.payload.len() as u16).to_le_bytes());
            structured.extend_from_slice(frame.payload);
        }
        assert!(structured.len() > 1, "transcript {index} held no whole frame");
        std::fs::write(format!("{directory}/structured-{index}"), structured).expect("seed written");
    }
    if std::env::var_os("KINGLY_FUZZ_CORPUS").is_none() {
        let _ = std::fs::remove_dir_all(&directory);
    }
}
