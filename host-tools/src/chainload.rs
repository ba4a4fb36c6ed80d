//! The host side of the serial chainloader: build the loader, find it on the line, upload a
//! kernel to it with progress, then hand the line over to the console.
//!
//! The protocol itself (frames, the window of chunks, the image CRC) is `kingly_proto::chainload`;
//! this module only moves its bytes over a [`Transport`] and keeps time.

use crate::board::Board;
use crate::client::Transport;
use crate::raw_image;
use crate::workspace;
use anyhow::{bail, Context, Result};
use kingly_proto::chainload::{
    Announcement, LoaderBoard, Refusal, Reply, UploadStats, UploadStep, Uploader, MAX_REQUEST_WIRE_BYTES,
};
use kingly_proto::FrameAccumulator;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

/// Where the loader's raw image is linked (must match `linker/loader.ld`).
pub const LOADER_LINK_ADDRESS: u64 = 0x200_0000;

/// The loader board a kernel board boots through, if it has one.
pub fn loader_board(board: Board) -> Result<LoaderBoard> {
    match board {
        Board::Raspi4b => Ok(LoaderBoard::Pi4),
        Board::Pi5 => Ok(LoaderBoard::Pi5),
        Board::Virt => bail!("the chainloader runs on a Raspberry Pi 4 or 5 (--board pi4|pi5), not on virt"),
    }
}

/// Builds `kingly-loader` for `board` and writes its raw image
/// (`<target>/kingly/<board>/loader8.img`); returns its path.
pub fn build_loader(board: Board, quiet: bool) -> Result<PathBuf> {
    let loader = loader_board(board)?;
    let root = workspace::root()?;
    let target_dir = root.join("target").join(format!("loader-{}", loader.name()));
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(&root)
        .args(["build", "--release", "-p", "kingly-loader", "--bin", "kingly-loader"])
        .args(["--target", "aarch64-unknown-none", "--no-default-features", "--features"])
        .arg(format!("board-{}", loader.name()))
        .arg("--target-dir")
        .arg(&target_dir)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_TARGET_DIR");
    if quiet {
        command.arg("--quiet");
    }
    let status = command.status().context("running cargo to build the loader")?;
    if !status.success() {
        bail!("building the loader for {board} failed (see cargo's output above)");
    }
    let elf = target_dir.join("aarch64-unknown-none/release/kingly-loader");
    let bytes = std::fs::read(&elf).with_context(|| format!("reading {}", elf.display()))?;
    let image = raw_image::from_elf(&bytes).with_context(|| format!("converting {} to a raw image", elf.display()))?;
    if image.load_address != LOADER_LINK_ADDRESS {
        bail!("the loader is linked at {:#x}, not {LOADER_LINK_ADDRESS:#x}", image.load_address);
    }
    let dir = workspace::output_dir(&root).join(board.name());
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join("loader8.img");
    crate::kernel_build::write_atomically(&path, &image.bytes)?;
    Ok(path)
}

/// Reads the line until the loader announces itself; text before it goes to `echo`.
pub fn wait_for_loader(
    transport: &mut dyn Transport,
    deadline: Instant,
    mut echo: impl FnMut(&[u8]),
) -> Result<Announcement> {
    let mut line = Vec::new();
    let mut buffer = [0u8; 512];
    loop {
        let now = Instant::now();
        if now >= deadline {
            bail!(
                "no KINGLY-LOADER announcement on the line: is the loader on the card (kingly image \
                 --chainload), the board powered, TX/RX crossed, and --baud the card's rate (kingly.baud= in \
                 its cmdline.txt, 115200 if absent)? Press the board's reset or power-cycle it"
            );
        }
        let n = transport.receive(&mut buffer, (deadline - now).min(Duration::from_millis(200)))?;
        for &byte in &buffer[..n] {
            if byte != b'\n' {
                line.push(byte);
                continue;
            }
            let text = String::from_utf8_lossy(&line).into_owned();
            if let Some(announcement) = Announcement::parse(&text) {
                return Ok(announcement);
            }
            line.push(b'\n');
            echo(&line);
            line.clear();
        }
    }
}

/// What to tell the user when the loader's rate and the line's differ: `announced` is the
/// loader's `baud=` (`None` from a loader that predates it, which listens at 115200), `line`
/// the rate of a serial device (`None` for a socket, whose rate is nominal), `requested` the
/// `--baud` given.
pub fn rate_mismatch(announced: Option<u32>, line: Option<u32>, requested: u32) -> Option<String> {
    let loader = announced.unwrap_or(kingly_proto::line_rate::DEFAULT_BAUD);
    match line {
        Some(line) if line != loader => Some(format!(
            "warning: the loader listens at {loader} baud but this line runs at {line}: expect damaged              frames; pass --baud {loader}, or write the card again with `kingly image --chainload --baud {line}`"
        )),
        None if requested != loader => Some(format!(
            "note: the loader listens at {loader} baud; --baud {requested} changes nothing on a socket              (unix:/tcp: lines have no rate of their own)"
        )),
        _ => None,
    }
}

/// How an upload went.
#[derive(Debug, Clone)]
pub struct UploadReport {
    /// Image bytes delivered.
    pub image_bytes: usize,
    /// Counters of the protocol (frames, resends, bytes on the wire).
    pub stats: UploadStats,
    /// Wall time from `BEGIN` to the loader's last acknowledgement.
    pub elapsed: Duration,
    /// Bytes that followed the last acknowledgement: the kernel's first output.
    pub after: Vec<u8>,
}

/// The loader refused the upload (a wrong-board kernel, an image too large, …).
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the loader refused the kernel: {0}")]
pub struct Refused(pub Refusal);

/// Uploads `image` to the loader and waits until it has jumped to it, with up to `window`
/// chunks in flight (the loader's announced `window=`, 1 for a loader that announces none:
/// stop-and-wait). `frame_timeout` is how
/// long one request may go unanswered at least; on a line slower than its rate (QEMU's UART on
/// a busy machine moves a few KB/s) it grows to four times the measured round trip, so a slow
/// line is not taken for a lossy one and clogged with resends. `progress` is told of each
/// acknowledged byte count.
pub fn upload(
    transport: &mut dyn Transport,
    board: LoaderBoard,
    load_address: u64,
    image: &[u8],
    window: u16,
    frame_timeout: Duration,
    mut progress: impl FnMut(usize),
) -> Result<UploadReport> {
    // Whatever the line still holds (an announcement, a duplicate answer to an earlier upload
    // that was resent) must not be taken for an answer to this one.
    drain(transport, Duration::from_millis(100), Duration::from_secs(2))?;
    let started = Instant::now();
    let clock = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let nonce = clock.subsec_nanos() ^ std::process::id().rotate_left(16) ^ image.len() as u32;
    let mut uploader = Uploader::new(board, load_address, image, nonce).with_window(window);
    let mut accumulator = FrameAccumulator::new();
    let mut wire = [0u8; MAX_REQUEST_WIRE_BYTES];
    let mut buffer = [0u8; 4096];
    let mut step = UploadStep::Send;
    let mut sent_at = Instant::now();
    // Smoothed round trip of requests answered at the first try (TCP's SRTT, RFC 6298 §2).
    let mut round_trip: Option<Duration> = None;
    let mut first_try = false;
    let mut timeout = frame_timeout;
    // Everything read since the last request: once the loader has jumped, the kernel's first
    // words, should the loader's last acknowledgement be lost on a noisy line.
    let mut since_request = Vec::new();
    let done = |uploader: &Uploader<'_>, after: Vec<u8>| UploadReport {
        image_bytes: image.len(),
        stats: uploader.stats(),
        elapsed: started.elapsed(),
        after,
    };
    loop {
        match step {
            UploadStep::Send => {
                let resends = uploader.stats().resends;
                let n = uploader.request(&mut wire);
                first_try = uploader.stats().resends == resends;
                transport.send(&wire[..n]).context("writing to the loader's line")?;
                // With a window, fill it: the loader answers each chunk as it arrives.
                while uploader.window_open() {
                    let n = uploader.request(&mut wire);
                    transport.send(&wire[..n]).context("writing to the loader's line")?;
                }
                sent_at = Instant::now();
                since_request.clear();
            }
            UploadStep::Wait => {}
            UploadStep::Done => unreachable!("handled below"),
            UploadStep::Refused(refusal) => {
                // A resent request may be refused twice: let the second answer arrive and go.
                drain(transport, Duration::from_millis(300), Duration::from_secs(2))?;
                return Err(Refused(refusal).into());
            }
            UploadStep::GaveUp => bail!(
                "the loader stopped answering after {} of {} bytes ({} resends): is the line still there?",
                uploader.acknowledged_bytes(),
                image.len(),
                uploader.stats().resends
            ),
        }
        // After the last chunk the outstanding request is the jump: a resend of it would reach
        // the kernel if only the acknowledgement was lost.
        let jumping = uploader.acknowledged_bytes() == image.len();
        let wait = timeout.saturating_sub(sent_at.elapsed());
        let n = transport.receive(&mut buffer, wait).context("reading from the loader's line")?;
        if n == 0 {
            if sent_at.elapsed() < timeout {
                step = UploadStep::Wait;
            } else if jumping && kernel_is_talking(&since_request) {
                progress(image.len());
                return Ok(done(&uploader, std::mem::take(&mut since_request)));
            } else {
                step = uploader.on_timeout();
            }
            continue;
        }
        since_request.extend_from_slice(&buffer[..n]);
        let mut input = &buffer[..n];
        let mut next = UploadStep::Wait;
        while let Some(result) = accumulator.push(&mut input) {
            let this = match result.ok().and_then(|frame| Reply::decode_echoed(&frame)) {
                Some((reply, echo)) => {
                    let step = uploader.on_answer(reply, echo);
                    if first_try && matches!(step, UploadStep::Send | UploadStep::Done) {
                        let sample = sent_at.elapsed();
                        let smoothed = round_trip.map_or(sample, |rtt| (rtt * 7 + sample) / 8);
                        round_trip = Some(smoothed);
                        timeout = frame_timeout.max(smoothed * 4);
                        first_try = false;
                    }
                    step
                }
                // Wait for the timeout: either the kernel speaks by then, or the jump is resent.
                None if jumping => UploadStep::Wait,
                None => uploader.on_damaged_reply(),
            };
            if this == UploadStep::Done {
                progress(image.len());
                return Ok(done(&uploader, input.to_vec()));
            }
            if this != UploadStep::Wait {
                next = this;
            }
        }
        progress(uploader.acknowledged_bytes());
        step = next;
    }
}

/// Reads and drops what arrives until the line has been quiet for `quiet`, at most `longest`.
fn drain(transport: &mut dyn Transport, quiet: Duration, longest: Duration) -> Result<()> {
    let until = Instant::now() + longest;
    let mut buffer = [0u8; 1024];
    while Instant::now() < until {
        if transport.receive(&mut buffer, quiet).context("reading from the loader's line")? == 0 {
            break;
        }
    }
    Ok(())
}

/// Whether `bytes`, read after the jump was requested, hold a line of the kernel's: text that
/// is not the loader announcing itself again (which it does after refusing the image).
fn kernel_is_talking(bytes: &[u8]) -> bool {
    let text = String::from_utf8_lossy(bytes);
    let mut lines = text.split('\n').filter(|line| line.trim().len() >= 6);
    let spoke = lines.clone().any(|line| line.bytes().all(|b| b == b'\r' || b == b'\t' || (0x20..0x7f).contains(&b)));
    spoke && !lines.any(|line| line.contains(kingly_proto::chainload::ANNOUNCE_MAGIC))
}

/// How long one request may go unanswered at `baud` (`None`: a socket, no line rate).
pub fn frame_timeout(baud: Option<u32>) -> Duration {
    let wire_time = match baud {
        // 10 bits a byte (8N1), the largest request and its reply.
        Some(baud) => Duration::from_secs_f64((MAX_REQUEST_WIRE_BYTES + 32) as f64 * 10.0 / f64::from(baud.max(1))),
        // A socket to QEMU: its PL011 moves some 30 KB/s on a busy machine.
        None => Duration::from_millis(400),
    };
    wire_time * 2 + Duration::from_millis(250)
}

/// The physical limit of an upload: wire bytes at 10 bits a byte.
pub fn line_seconds(wire_bytes: u64, baud: u32) -> f64 {
    wire_bytes as f64 * 10.0 / f64::from(baud.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_grow_with_the_frame_time() {
        assert_eq!(frame_timeout(None), Duration::from_millis(1050));
        let slow = frame_timeout(Some(115_200));
        assert!(slow > Duration::from_millis(400) && slow < Duration::from_millis(500), "{slow:?}");
        assert!(frame_timeout(Some(921_600)) < slow);
    }

    #[test]
    fn the_kernel_speaking_is_told_from_the_loader_and_from_noise() {
        assert!(kernel_is_talking(b"\x12\x00\x7fkingly: boot on raspi4b\r\nkingly: el2"));
        assert!(!kernel_is_talking(b"\x12\x00\x7f\x03"));
        assert!(!kernel_is_talking(b"\nKINGLY-LOADER v1 board=pi4 load=0x80000 max=1\n"));
    }

    #[test]
    fn a_rate_mismatch_is_named_on_a_device_and_nominal_on_a_socket() {
        assert_eq!(rate_mismatch(Some(921_600), Some(921_600), 921_600), None);
        assert_eq!(rate_mismatch(None, Some(115_200), 115_200), None, "an old loader listens at 115200");
        let device = rate_mismatch(Some(921_600), Some(115_200), 115_200).expect("a warning");
        assert!(device.contains("listens at 921600") && device.contains("--baud 921600"), "{device}");
        assert!(rate_mismatch(None, Some(921_600), 921_600).expect("a warning").contains("listens at 115200"));
        assert_eq!(rate_mismatch(Some(921_600), None, 921_600), None);
        let socket = rate_mismatch(Some(921_600), None, 115_200).expect("a note");
        assert!(socket.contains("changes nothing on a socket"), "{socket}");
    }

    #[test]
    fn only_pi_boards_have_a_loader() {
        assert_eq!(loader_board(Board::Raspi4b).unwrap(), LoaderBoard::Pi4);
        assert_eq!(loader_board(Board::Pi5).unwrap(), LoaderBoard::Pi5);
        assert!(loader_board(Board::Virt).is_err());
    }
}
