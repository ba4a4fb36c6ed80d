//! The chainloader protocol over a simulated serial line that flips, drops and duplicates
//! bytes in both directions (and, for the window, delivers stale frames again after newer
//! ones): the upload finishes, stop-and-wait or with chunks in flight, and the loader never
//! jumps into an image that differs from the host's by a single byte.

mod common;

use common::Rng;
use kingly_proto::chainload::{
    Loader, LoaderBoard, LoaderOutput, Reply, UploadStats, UploadStep, Uploader, LOADER_WINDOW_FRAMES,
    MAX_REQUEST_WIRE_BYTES, MAX_WINDOW_FRAMES,
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
    /// Times the host waited for the loader's answers (stop-and-wait: once a frame).
    turnarounds: u64,
}

/// What the simulated line does to frames besides damaging bytes.
#[derive(Clone, Copy, Debug)]
struct Faults {
    /// Bytes flipped, dropped or duplicated, per million (both ways).
    parts_per_million: u64,
    /// Per million frames: an earlier frame (one of the last 32 sent) arrives again after this
    /// one, as a stale retransmission overtaken by newer frames would.
    replays_per_million: u64,
}

fn upload(image: &[u8], seed: u64, parts_per_million: u64) -> Outcome {
    upload_with(image, seed, 1, Faults { parts_per_million, replays_per_million: 0 })
}

/// One upload in lockstep: the host sends what its window allows, the line delivers it, the
/// loader answers, the host reads every answer; with nothing to send and nothing to read,
/// its timeout fires.
fn upload_with(image: &[u8], seed: u64, window: u16, faults: Faults) -> Outcome {
    let mut rng = Rng::new(seed);
    let mut memory = vec![0u8; image.len() + 64];
    let mut loader = Loader::new(LoaderBoard::Pi4, 0x80000, &mut memory);
    let mut uploader = Uploader::new(LoaderBoard::Pi4, 0x80000, image, seed as u32).with_window(window);
    let mut host_rx = FrameAccumulator::new();
    let mut wire = [0u8; MAX_REQUEST_WIRE_BYTES];
    let mut recent: Vec<Vec<u8>> = Vec::new();
    let mut jumped = false;
    let mut jumped_with = None;
    let mut send = true;
    for turnarounds in 1..=2_000_000u64 {
        let mut arriving = Vec::new();
        while send {
            let n = uploader.request(&mut wire);
            arriving.extend(line(&mut rng, &wire[..n], faults.parts_per_million));
            if !recent.is_empty() && rng.chance(faults.replays_per_million) {
                let earlier = &recent[rng.below(recent.len() as u64) as usize];
                arriving.extend_from_slice(earlier);
            }
            recent.push(wire[..n].to_vec());
            if recent.len() > 32 {
                recent.remove(0);
            }
            send = uploader.window_open();
        }
        let mut to_host = Vec::new();
        if !jumped {
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
        let arriving = line(&mut rng, &to_host, faults.parts_per_million);
        let mut input = &arriving[..];
        let mut steps = Vec::new();
        while let Some(result) = host_rx.push(&mut input) {
            steps.push(match result.ok().and_then(|frame| Reply::decode_echoed(&frame)) {
                Some((reply, echo)) => uploader.on_answer(reply, echo),
                None => uploader.on_damaged_reply(),
            });
        }
        if !steps.contains(&UploadStep::Send) && !uploader.window_open() {
            steps.push(uploader.on_timeout());
        }
        for step in steps {
            let end = |host_done| Outcome {
                jumped_with: jumped_with.clone(),
                host_done,
                stats: uploader.stats(),
                turnarounds,
            };
            match step {
                UploadStep::Send => send = true,
                UploadStep::Wait => {}
                UploadStep::Done => return end(true),
                UploadStep::GaveUp => return end(false),
                UploadStep::Refused(refusal) => panic!("refused on a lossy line: {refusal}"),
            }
        }
        send |= uploader.window_open();
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

/// The same image over the same clean line, stop-and-wait and with the loader's window: the
/// window costs no extra bytes and needs a quarter of the waits for answers (each a USB
/// adapter's 1–16 ms turnaround on a board).
#[test]
fn a_window_of_four_needs_a_quarter_of_the_turnarounds_for_the_same_bytes() {
    let image: Vec<u8> = (0..200_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let clean = Faults { parts_per_million: 0, replays_per_million: 0 };
    let stop_and_wait = upload_with(&image, 1, 1, clean);
    let windowed = upload_with(&image, 1, LOADER_WINDOW_FRAMES, clean);
    for outcome in [&stop_and_wait, &windowed] {
        assert_eq!(outcome.jumped_with.as_deref(), Some(&image[..]));
        assert_eq!(outcome.stats.resends, 0, "{outcome:?}");
    }
    println!(
        "clean line, {} bytes: stop-and-wait {} wire bytes ({:.4}), {} turnarounds; window {} {} wire bytes ({:.4}), {} turnarounds",
        image.len(),
        stop_and_wait.stats.wire_bytes,
        stop_and_wait.stats.wire_bytes as f64 / image.len() as f64,
        stop_and_wait.turnarounds,
        LOADER_WINDOW_FRAMES,
        windowed.stats.wire_bytes,
        windowed.stats.wire_bytes as f64 / image.len() as f64,
        windowed.turnarounds,
    );
    assert_eq!(windowed.stats.wire_bytes, stop_and_wait.stats.wire_bytes);
    assert!(windowed.turnarounds * 3 < stop_and_wait.turnarounds, "{windowed:?} vs {stop_and_wait:?}");
}

#[test]
fn a_window_over_a_one_percent_line_uploads_the_exact_image() {
    let image: Vec<u8> = (0..100_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    for replays_per_million in [0, 20_000] {
        let faults = Faults { parts_per_million: 10_000, replays_per_million };
        let outcome = upload_with(&image, 0x5eed, LOADER_WINDOW_FRAMES, faults);
        assert_eq!(outcome.jumped_with.as_deref(), Some(&image[..]), "jumped into the image, unchanged");
        assert!(outcome.stats.resends > 100, "the line really was noisy: {:?}", outcome.stats);
        let baseline = upload_with(&image, 0x5eed, 1, faults);
        assert_eq!(baseline.jumped_with.as_deref(), Some(&image[..]));
        println!(
            "1% line, {replays_per_million} replays per million frames: window {:?}, {} turnarounds; \
             stop-and-wait {:?}, {} turnarounds",
            outcome.stats, outcome.turnarounds, baseline.stats, baseline.turnarounds
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Loss, duplication and damage of bytes, and stale frames arriving again after newer
    /// ones, with any window: the loader jumps only into the exact image, and the host says
    /// done only when it did.
    #[test]
    fn a_window_never_jumps_into_a_wrong_image(
        image in prop::collection::vec(any::<u8>(), 1..6000),
        seed in any::<u64>(),
        window in 1u16..=MAX_WINDOW_FRAMES,
        parts_per_million in 0u64..30_000,
        replays_per_million in 0u64..100_000,
    ) {
        let outcome = upload_with(&image, seed, window, Faults { parts_per_million, replays_per_million });
        if let Some(jumped_with) = &outcome.jumped_with {
            prop_assert_eq!(jumped_with, &image);
        }
        prop_assert!(!outcome.host_done || outcome.jumped_with.is_some());
        prop_assert!(outcome.jumped_with.is_some(), "gave up: {:?}", outcome.stats);
    }

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
