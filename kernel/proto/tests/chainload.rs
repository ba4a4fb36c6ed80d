//! The chainloader protocol over a simulated serial line that flips, drops and duplicates
//! bytes in both directions: the upload finishes, and the loader never jumps into an image
//! that differs from the host's by a single byte.

mod common;

use common::Rng;
use kingly_proto::chainload::{
    Loader, LoaderBoard, LoaderOutput, Reply, UploadStats, UploadStep, Uploader, MAX_REQUEST_WIRE_BYTES,
};
use kingly_proto::FrameAccumulator;
use proptest::prelude::*;

/// Passes `bytes` through a line that damages each byte with `parts_per_million` / 10^6
/// (a third each: flip one bit, drop, duplicate).
fn line(rng: &mut Rng, bytes: &[u8], parts_per_million: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + 8);
    for &byte in bytes {
        if !rng.chance(parts_per_million) {
            out.push(byte);
            continue;
        }
        match rng.below(3) {
            0 => out.push(byte ^ (1 << rng.below(8))),
            1 => {}
            _ => out.extend_from_slice(&[byte, byte]),
        }
    }
    out
}

#[derive(Debug)]
struct Outcome {
    /// The image in memory when the loader jumped, if it did.
    jumped_with: Option<Vec<u8>>,
    host_done: bool,
    stats: UploadStats,
}

fn upload(image: &[u8], seed: u64, parts_per_million: u64) -> Outcome {
    let mut rng = Rng::new(seed);
    let mut memory = vec![0u8; image.len() + 64];
    let mut loader = Loader::new(LoaderBoard::Pi4, 0x80000, &mut memory);
    let mut uploader = Uploader::new(LoaderBoard::Pi4, 0x80000, image, seed as u32);
    let mut host_rx = FrameAccumulator::new();
    let mut wire = [0u8; MAX_REQUEST_WIRE_BYTES];
    let mut jumped = false;
    let mut jumped_with = None;
    for _ in 0..2_000_000 {
        let n = uploader.request(&mut wire);
        let mut to_host = Vec::new();
        if !jumped {
            let arriving = line(&mut rng, &wire[..n], parts_per_million);
            let mut input = &arriving[..];
            while let Some(output) = loader.push(&mut input) {
                match output {
                    LoaderOutput::Send { bytes, len } => to_host.extend_from_slice(&bytes[..len]),
                    LoaderOutput::Jump { reply, len, entry } => {
                        assert_eq!(entry, 0x80000);
                        to_host.extend_from_slice(&reply[..len]);
                        jumped = true;
                        break; // the CPU is in the kernel now: nothing more is read
                    }
                }
            }
        }
        if jumped && jumped_with.is_none() {
            jumped_with = Some(loader.memory()[..image.len()].to_vec());
        }
        let arriving = line(&mut rng, &to_host, parts_per_million);
        let mut input = &arriving[..];
        let mut step = None;
        while let Some(result) = host_rx.push(&mut input) {
            let next = match result.ok().and_then(|frame| Reply::decode(&frame)) {
                Some(reply) => uploader.on_reply(reply),
                None => uploader.on_damaged_reply(),
            };
            if next != UploadStep::Wait {
                step = Some(next);
            }
        }
        match step.unwrap_or_else(|| uploader.on_timeout()) {
            UploadStep::Send | UploadStep::Wait => {}
            UploadStep::Done => return Outcome { jumped_with, host_done: true, stats: uploader.stats() },
            UploadStep::GaveUp => return Outcome { jumped_with, host_done: false, stats: uploader.stats() },
            UploadStep::Refused(refusal) => panic!("refused on a lossy line: {refusal}"),
        }
    }
    panic!("no end after two million round trips");
}

#[test]
fn one_percent_of_bytes_damaged_still_uploads_the_exact_image() {
    let image: Vec<u8> = (0..100_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let outcome = upload(&image, 0x5eed, 10_000);
    assert_eq!(outcome.jumped_with.as_deref(), Some(&image[..]), "jumped into the image, unchanged");
    assert!(outcome.stats.resends > 100, "the line really was noisy: {:?}", outcome.stats);
    println!("{:?}", outcome.stats);
}

#[test]
fn a_clean_line_costs_under_three_percent_overhead() {
    let image = vec![0xa5u8; 200_000];
    let outcome = upload(&image, 1, 0);
    assert!(outcome.host_done);
    assert_eq!(outcome.stats.resends, 0);
    let overhead = outcome.stats.wire_bytes as f64 / image.len() as f64;
    println!("clean line: {overhead:.4} wire bytes per image byte");
    assert!(overhead < 1.03, "wire bytes / image bytes = {overhead}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn never_jumps_into_a_wrong_image(
        image in prop::collection::vec(any::<u8>(), 1..6000),
        seed in any::<u64>(),
        parts_per_million in 0u64..30_000,
    ) {
        let outcome = upload(&image, seed, parts_per_million);
        if let Some(jumped_with) = &outcome.jumped_with {
            prop_assert_eq!(jumped_with, &image);
        }
        // The host reports success only when the loader really jumped.
        prop_assert!(!outcome.host_done || outcome.jumped_with.is_some());
        prop_assert!(outcome.jumped_with.is_some(), "gave up: {:?}", outcome.stats);
    }
}
