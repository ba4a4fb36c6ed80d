//! `kingly boot`: build the kernel, convert it, run QEMU, stream the UART.

use crate::board::Board;
use crate::kernel_build;
use crate::qemu::{self, Event, ParentWatch, RunConfig, Running, Serial};
use anyhow::{bail, Context, Result};
use kingly_proto::bootargs::TEST_SUITES;
use std::path::PathBuf;
use std::time::{Duration, Instant};

mod chainload_boot;

/// Options of `kingly boot`.
#[derive(clap::Args, Debug, Clone)]
#[command(after_help = "Examples:\n  \
    kingly boot                                  # raspi4b, UART on this terminal (Ctrl-C quits)\n  \
    kingly boot --board virt --until-ready       # exit 0 once all cores are up\n  \
    kingly boot --test smoke                     # run an in-kernel suite; exit with its status\n  \
    kingly boot --serial unix:/tmp/kingly.sock   # UART on a socket for `kingly call`/`kingly mcp`\n  \
    kingly boot --board virt --port unix:/tmp/port.sock  # message port on a virtio console\n  \
    kingly boot --board pi4 --serial /dev/ttyUSB0  # a real Pi 4 through the chainloader on its card\n\n\
    In-kernel suites: smoke, fault (deliberate fault: exits 3), panic (exits 101), dcache-torture,\n\
    hotswap-torture, bpf-jit-conformance, bpf-jit-diff, bpf-jit-bench (needs --icount 0).")]
pub struct BootArgs {
    /// Board to build for and emulate.
    #[arg(long, value_enum, default_value_t = Board::Raspi4b)]
    pub board: Board,
    /// Exit 0 as soon as the kernel prints its ready line (non-zero on a panic, fault or timeout).
    #[arg(long)]
    pub until_ready: bool,
    /// Where the UART goes: stdio, unix:PATH (QEMU listens; the kernel waits for a client), pty.
    /// With --chainload, the line to a board's loader: /dev/ttyXXX (implies --chainload),
    /// unix:PATH or tcp:HOST:PORT (a serial server, or QEMU running the loader).
    #[arg(long, default_value = "stdio", value_parser = parse_serial)]
    pub serial: Serial,
    /// virt only: a virtio console on unix:PATH carrying the message port (`kingly call
    /// --connect unix:PATH`); the UART keeps the log and the text console.
    #[arg(long, value_name = "unix:PATH", value_parser = parse_port)]
    pub port: Option<PathBuf>,
    /// Run the named in-kernel test suite (e.g. smoke; an unknown name lists them all) and exit
    /// with its status. Builds the kernel with its `suites` feature, in
    /// target/kernel-<board>-suites; without --test the kernel carries no test code.
    #[arg(long, value_name = "NAME")]
    pub test: Option<String>,
    /// Give up after this many seconds (exit 124). Default: 60 with --until-ready or --test, none otherwise.
    /// With --chainload the wait for the loader and the wait after the upload get S each.
    #[arg(long, value_name = "S")]
    pub timeout: Option<f64>,
    /// Boot this kernel ELF instead of building one.
    #[arg(long, value_name = "ELF")]
    pub kernel: Option<PathBuf>,
    /// Pass this device tree blob to the kernel (raspi4b: the real bcm2711-rpi-4-b.dtb).
    #[arg(long, value_name = "FILE")]
    pub dtb: Option<PathBuf>,
    /// Count instructions deterministically (QEMU -icount shift=N).
    #[arg(long, value_name = "N")]
    pub icount: Option<u32>,
    /// Extra QEMU arguments (repeatable), e.g. --qemu-arg=-d --qemu-arg=int.
    #[arg(long = "qemu-arg", value_name = "ARG", allow_hyphen_values = true)]
    pub qemu_args: Vec<String>,
    /// Boot a real board through the chainloader on its SD card (`kingly image --chainload`):
    /// --serial names the line to the loader (/dev/ttyXXX implies this; unix:PATH and
    /// tcp:HOST:PORT need it). The kernel is sent, then the line stays open as the console.
    #[arg(long)]
    pub chainload: bool,
    /// Line speed of a --serial /dev/ttyXXX device: the card's rate (`kingly image --chainload
    /// --baud N`, 115200 by default); the loader announces it and kingly warns when they differ.
    #[arg(long, value_name = "N", default_value_t = 115_200)]
    pub baud: u32,
}

fn parse_serial(s: &str) -> Result<Serial, String> {
    s.parse()
}

fn parse_port(s: &str) -> Result<PathBuf, String> {
    match s.strip_prefix("unix:") {
        Some(path) if !path.is_empty() => Ok(PathBuf::from(path)),
        _ => Err(format!("--port takes unix:PATH (a socket for the virtio console), not {s:?}")),
    }
}

/// Exit code when the timeout passes (as `timeout(1)`).
pub const EXIT_TIMEOUT: i32 = 124;

/// Runs `kingly boot`; returns the process exit code.
pub fn run(args: &BootArgs) -> Result<i32> {
    if args.until_ready && args.test.is_some() {
        bail!("--until-ready and --test exclude each other: a test suite runs after the ready line");
    }
    let chainload = args.chainload || matches!(args.serial, Serial::Device(_) | Serial::Tcp(_));
    if (args.until_ready || args.test.is_some()) && args.serial != Serial::Stdio && !chainload {
        bail!("--until-ready and --test watch the UART, so they need --serial stdio");
    }
    if let Some(t) = args.timeout {
        if !(t.is_finite() && t > 0.0) {
            bail!("--timeout must be a positive number of seconds, not {t}");
        }
    }
    if args.board.qemu_machine().is_none() && !chainload {
        bail!(
            "QEMU cannot emulate the {} board; make an SD card with `kingly image --board {0}`, or one with \
             `--chainload` and then boot it with `kingly boot --board {0} --serial /dev/ttyXXX`",
            args.board
        );
    }
    if args.port.is_some() && args.board != Board::Virt {
        bail!("--port needs --board virt: the virtio console sits on virt's virtio-mmio bus ({} has none)", args.board);
    }
    // Everything a user typed is checked before the build and the boot it would waste.
    if let Some(test) = &args.test {
        check_suite_name(test)?;
        if !TEST_SUITES.contains(&test.as_str()) {
            eprintln!("kingly: error: no test suite named '{test}'; suites: {}", TEST_SUITES.join(", "));
            return Ok(EXIT_NO_SUCH_SUITE);
        }
    }
    if let Some(dtb) = &args.dtb {
        check_dtb(dtb)?;
    }
    if let Some(elf) = &args.kernel {
        std::fs::metadata(elf).with_context(|| format!("--kernel {}", elf.display()))?;
    }
    if chainload {
        return chainload_boot::run(args);
    }
    qemu::ensure()?;
    let artifacts = match &args.kernel {
        Some(elf) => kernel_build::image_from_given_elf(args.board, elf)?,
        None => {
            eprintln!("kingly: building the kernel for {}", args.board);
            kernel_build::build(args.board, kernel_build::Variant::for_test(args.test.as_deref()), true)?
        }
    };
    let mut boot_args = String::from("semihosting=1");
    if let Some(test) = &args.test {
        boot_args.push_str(" test=");
        boot_args.push_str(test);
    }
    let image = qemu::patched_run_image(&artifacts.image, &boot_args)?;
    let mut config = RunConfig::new(args.board, image.path().to_path_buf());
    config.parent_watch = ParentWatch::detect();
    config.serial = args.serial.clone();
    config.dtb = args.dtb.clone();
    config.icount_shift = args.icount;
    config.extra_args = args.qemu_args.clone();
    config.port = args.port.clone();
    if let Some(port) = &args.port {
        eprintln!("kingly: message port on unix:{} (virtio console)", port.display());
    }

    let default_timeout = if args.until_ready || args.test.is_some() { Some(60.0) } else { None };
    let deadline = args.timeout.or(default_timeout).map(|s| Instant::now() + Duration::from_secs_f64(s));
    let far = Instant::now() + Duration::from_secs(100 * 365 * 24 * 3600);

    if args.serial != Serial::Stdio {
        if let Serial::Unix(path) = &args.serial {
            eprintln!("kingly: UART on unix:{} — the kernel starts when a client connects", path.display());
        }
        let mut running = Running::spawn(&config)?;
        return match running.wait(deadline.unwrap_or(far)) {
            Ok(code) => Ok(code),
            Err(qemu::Timeout) => {
                running.kill();
                eprintln!("kingly: timeout, QEMU stopped");
                Ok(EXIT_TIMEOUT)
            }
        };
    }

    let interactive = !args.until_ready && args.test.is_none();
    let mut running = Running::spawn_stdio(&config, interactive)?;
    let limit = deadline.unwrap_or(far);
    let mut failure: Option<Event> = None;
    loop {
        match running.next_line(limit) {
            Ok(Some(line)) => {
                if !interactive {
                    qemu::echo(&line); // interactive runs show the bytes as they come
                }
                match qemu::classify(&line) {
                    Some(Event::Ready) if args.until_ready && failure.is_none() => {
                        running.kill();
                        return Ok(0);
                    }
                    Some(event @ (Event::Panic | Event::Fault)) => failure = Some(event),
                    _ => {}
                }
            }
            Ok(None) => break,
            Err(qemu::Timeout) => {
                running.kill();
                let waiting_for = if args.until_ready { "the ready line" } else { "the kernel to exit" };
                eprintln!(
                    "kingly: timeout after {:.0} s waiting for {waiting_for}",
                    args.timeout.or(default_timeout).unwrap_or(0.0)
                );
                return Ok(EXIT_TIMEOUT);
            }
        }
    }
    let code = running.wait(Instant::now() + Duration::from_secs(5)).unwrap_or(128);
    if args.until_ready {
        eprintln!("kingly: the kernel stopped before the ready line ({})", describe(failure, code));
        return Ok(if code == 0 { 1 } else { code });
    }
    if code != 0 {
        eprintln!("kingly: QEMU exited with status {code} ({})", describe(failure, code));
    }
    Ok(code)
}

/// Exit status for a `--test` name no kernel suite answers to (the kernel's own status for it).
pub const EXIT_NO_SUCH_SUITE: i32 = 2;

/// A `--test` name is a word of letters, digits, `-` and `_` (it goes into the boot arguments).
fn check_suite_name(test: &str) -> Result<()> {
    if test.is_empty() || !test.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        bail!("--test takes a suite name (letters, digits, - and _), not {test:?}");
    }
    Ok(())
}

/// A `--dtb` file must be readable and start with the flattened device tree magic.
fn check_dtb(path: &std::path::Path) -> Result<()> {
    let mut magic = [0u8; 4];
    let mut file = std::fs::File::open(path).with_context(|| format!("--dtb {}", path.display()))?;
    std::io::Read::read_exact(&mut file, &mut magic)
        .with_context(|| format!("--dtb {}: too short to be a device tree blob", path.display()))?;
    if magic != [0xd0, 0x0d, 0xfe, 0xed] {
        bail!(
            "--dtb {} is not a device tree blob (it does not start with 0xd00dfeed); \
             use a compiled .dtb such as tests/fixtures/dtb/bcm2711-rpi-4-b.dtb",
            path.display()
        );
    }
    Ok(())
}

fn describe(failure: Option<Event>, code: i32) -> &'static str {
    match (failure, code) {
        (Some(Event::Fault), _) => "fault",
        (Some(Event::Panic), _) => "panic",
        (_, 0) => "clean exit",
        _ => "failure",
    }
}
