//! `kingly boot --serial /dev/ttyXXX` (or `--chainload --serial unix:PATH|tcp:HOST:PORT`):
//! send the kernel to the chainloader on a board's SD card, then stay on the line as its
//! console.

use super::{BootArgs, EXIT_TIMEOUT};
use crate::chainload;
use crate::client::{self, ConnectTarget, Transport};
use crate::kernel_build;
use crate::qemu::{self, Event, Serial};
use anyhow::{bail, Context, Result};
use std::io::Write;
use std::time::{Duration, Instant};

/// The line the kernel prints when it ends without semihosting.
const EXIT_PREFIX: &str = "kingly exit: status=";

/// Runs the chainload boot; returns the process exit code.
pub fn run(args: &BootArgs) -> Result<i32> {
    let loader_board = chainload::loader_board(args.board)?;
    let (target, baud) = match &args.serial {
        Serial::Device(path) => (ConnectTarget::Serial { path: path.clone(), baud: args.baud }, Some(args.baud)),
        Serial::Unix(path) => (ConnectTarget::Unix(path.clone()), None),
        Serial::Tcp(address) => (ConnectTarget::Tcp(address.clone()), None),
        other => bail!("--chainload needs --serial /dev/ttyXXX, unix:PATH or tcp:HOST:PORT, not {other:?}"),
    };
    let artifacts = match &args.kernel {
        Some(elf) => kernel_build::image_from_given_elf(args.board, elf)?,
        None => {
            eprintln!("kingly: building the kernel for {}", args.board);
            kernel_build::build(args.board, kernel_build::Variant::for_test(args.test.as_deref()), true)?
        }
    };
    let mut image =
        std::fs::read(&artifacts.image).with_context(|| format!("reading {}", artifacts.image.display()))?;
    // No semihosting on a real board: the kernel reports its end as a line.
    let boot_args = args.test.as_ref().map(|t| format!("test={t}")).unwrap_or_default();
    kingly_proto::bootargs::patch_image(&mut image, &boot_args).map_err(|e| anyhow::anyhow!("boot arguments: {e}"))?;

    let default_timeout = if args.until_ready || args.test.is_some() { Some(60.0) } else { None };
    let timeout = args.timeout.or(default_timeout);
    let deadline = timeout.map(|s| Instant::now() + Duration::from_secs_f64(s));
    let far = Instant::now() + Duration::from_secs(100 * 365 * 24 * 3600);

    let mut transport = client::open(&target)?;
    eprintln!("kingly: waiting for the loader on {} (reset the board if it already runs a kernel)", describe(&target));
    let announcement = chainload::wait_for_loader(transport.as_mut(), deadline.unwrap_or(far), |text| {
        show(text);
    })?;
    if announcement.board != loader_board {
        bail!(
            "the loader on the line runs on {} but --board is {}: build for --board {}",
            announcement.board.name(),
            args.board,
            announcement.board.name()
        );
    }
    if let Some(message) = chainload::rate_mismatch(announcement.baud, baud, args.baud) {
        eprintln!("kingly: {message}");
    }
    eprintln!("kingly: {announcement}; sending {} bytes", image.len());
    let bar = progress_bar(image.len() as u64);
    let report = chainload::upload(
        transport.as_mut(),
        loader_board,
        args.board.load_address(),
        &image,
        announcement.window.unwrap_or(1),
        chainload::frame_timeout(baud),
        |bytes| bar.set_position(bytes as u64),
    );
    bar.finish_and_clear();
    let report = report?;
    let seconds = report.elapsed.as_secs_f64();
    let mut summary = format!(
        "kingly: kernel sent in {seconds:.1} s ({:.0} KiB/s, {} wire bytes for {} image bytes, {} resends)",
        report.image_bytes as f64 / 1024.0 / seconds.max(1e-9),
        report.stats.wire_bytes,
        report.image_bytes,
        report.stats.resends
    );
    if let Some(baud) = baud {
        summary.push_str(&format!(
            "; the line's limit is {:.1} s",
            chainload::line_seconds(report.stats.wire_bytes, baud)
        ));
    }
    eprintln!("{summary}");
    // The upload's own length depends on the baud rate: the kernel gets the whole timeout
    // from here, as it would under QEMU.
    let deadline = timeout.map(|s| Instant::now() + Duration::from_secs_f64(s));
    console(transport, report.after, args, deadline.unwrap_or(far), timeout)
}

fn describe(target: &ConnectTarget) -> String {
    match target {
        ConnectTarget::Unix(path) => format!("unix:{}", path.display()),
        ConnectTarget::Tcp(address) => format!("tcp:{address}"),
        ConnectTarget::Serial { path, baud } => format!("{} at {baud} baud", path.display()),
    }
}

fn progress_bar(total: u64) -> indicatif::ProgressBar {
    if !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(total);
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("kingly: {bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
    {
        bar.set_style(style);
    }
    bar
}

fn show(bytes: &[u8]) {
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(bytes);
    let _ = stdout.flush();
}

/// The line is the kernel's console now: its output to stdout, stdin to it (interactive
/// runs). `--until-ready` ends on the ready line, `--test` on the kernel's exit line.
fn console(
    mut transport: Box<dyn Transport>,
    first: Vec<u8>,
    args: &BootArgs,
    deadline: Instant,
    timeout: Option<f64>,
) -> Result<i32> {
    let interactive = !args.until_ready && args.test.is_none();
    let raw_terminal = if interactive && std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        eprintln!("kingly: attached to the console; Ctrl-C leaves");
        RawTerminal::enter()
    } else {
        None
    };
    let keys = interactive.then(forward_stdin);
    let mut line = Vec::new();
    let mut failure = None;
    let mut pending = first;
    let mut buffer = [0u8; 4096];
    loop {
        show(&pending);
        for &byte in &pending {
            if byte != b'\n' {
                line.push(byte);
                continue;
            }
            let text = String::from_utf8_lossy(&line).into_owned();
            line.clear();
            match qemu::classify(&text) {
                Some(Event::Ready) if args.until_ready && failure.is_none() => return Ok(0),
                Some(event @ (Event::Panic | Event::Fault)) => failure = Some(event),
                _ => {}
            }
            if let Some(status) = text.trim().strip_prefix(EXIT_PREFIX) {
                let status: i32 = status.trim().parse().unwrap_or(1);
                if args.until_ready {
                    eprintln!("kingly: the kernel stopped before the ready line (status {status})");
                    return Ok(if status == 0 { 1 } else { status });
                }
                return Ok(status);
            }
        }
        if let Some(keys) = &keys {
            while let Ok(typed) = keys.try_recv() {
                match typed {
                    Keys::Typed(bytes) => transport.send(&bytes).context("writing to the board")?,
                    Keys::Leave => {
                        drop(raw_terminal);
                        eprintln!("\nkingly: left the console; the board runs on");
                        return Ok(0);
                    }
                }
            }
        }
        let now = Instant::now();
        if now >= deadline {
            let waiting_for = if args.until_ready { "the ready line" } else { "the kernel to exit" };
            eprintln!("kingly: timeout after {:.0} s waiting for {waiting_for}", timeout.unwrap_or(0.0));
            return Ok(EXIT_TIMEOUT);
        }
        let n = transport.receive(&mut buffer, (deadline - now).min(Duration::from_millis(20)))?;
        pending = buffer[..n].to_vec();
    }
}

/// Ctrl-C, which leaves the console (the kernel keeps running).
const CTRL_C: u8 = 0x03;

/// What the keyboard thread hands over.
enum Keys {
    /// Bytes to send to the board.
    Typed(Vec<u8>),
    /// Ctrl-C, or stdin closed: leave.
    Leave,
}

/// The terminal in raw mode while the console runs: keys go to the board one by one (the
/// kernel echoes them), Ctrl-C comes as a byte rather than a signal. Restored on drop.
struct RawTerminal(rustix::termios::Termios);

impl RawTerminal {
    fn enter() -> Option<Self> {
        let stdin = std::io::stdin();
        let saved = rustix::termios::tcgetattr(&stdin).ok()?;
        let mut raw = saved.clone();
        raw.make_raw();
        // Keep output processing: the kernel's "\n" still starts a new line on the screen.
        raw.output_modes |= rustix::termios::OutputModes::OPOST | rustix::termios::OutputModes::ONLCR;
        rustix::termios::tcsetattr(&stdin, rustix::termios::OptionalActions::Now, &raw).ok()?;
        Some(Self(saved))
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        let _ = rustix::termios::tcsetattr(std::io::stdin(), rustix::termios::OptionalActions::Now, &self.0);
    }
}

/// Reads stdin on a thread and hands its bytes over, up to a Ctrl-C.
fn forward_stdin() -> std::sync::mpsc::Receiver<Keys> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin();
        let mut buffer = [0u8; 256];
        loop {
            let keys = match std::io::Read::read(&mut stdin, &mut buffer) {
                Ok(0) | Err(_) => Keys::Leave,
                Ok(n) => match buffer[..n].iter().position(|&b| b == CTRL_C) {
                    Some(at) => {
                        let _ = tx.send(Keys::Typed(buffer[..at].to_vec()));
                        Keys::Leave
                    }
                    None => Keys::Typed(buffer[..n].to_vec()),
                },
            };
            let leave = matches!(keys, Keys::Leave);
            if tx.send(keys).is_err() || leave {
                return;
            }
        }
    });
    rx
}
