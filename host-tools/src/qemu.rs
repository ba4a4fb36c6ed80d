//! Running the kernel under QEMU: finding a new-enough QEMU, the command line per board, and
//! watching the UART for the ready line, a panic or a fault.

use crate::board::Board;
use crate::cleanup::{ChildRegistration, TempPath};
use anyhow::{bail, Context, Result};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Oldest QEMU with the `raspi4b` machine.
pub const MIN_VERSION: (u32, u32) = (9, 0);

/// How to get a suitable QEMU, for error messages.
pub const INSTALL_HINT: &str = "install QEMU >= 9.0: from the Kingly tree run `sudo bash .ci/setup --qemu` \
    (on Debian 12 it enables bookworm-backports and installs qemu-system-arm from it); \
    set KINGLY_QEMU to use a QEMU elsewhere";

/// The QEMU binary: `$KINGLY_QEMU` or `qemu-system-aarch64` on the PATH.
pub fn binary() -> PathBuf {
    std::env::var_os("KINGLY_QEMU").map(PathBuf::from).unwrap_or_else(|| "qemu-system-aarch64".into())
}

/// Parses "QEMU emulator version 10.0.2 (...)" into (10, 0).
pub fn parse_version(text: &str) -> Option<(u32, u32)> {
    let rest = &text[text.find("version ")? + "version ".len()..];
    let mut parts = rest.split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

/// Checks that QEMU exists and is at least [`MIN_VERSION`]; returns its version.
pub fn check() -> Result<(u32, u32)> {
    let qemu = binary();
    let output = match Command::new(&qemu).arg("--version").output() {
        Ok(output) => output,
        Err(error) => bail!("cannot run {}: {error}; {INSTALL_HINT}", qemu.display()),
    };
    let text = String::from_utf8_lossy(&output.stdout);
    let Some(version) = parse_version(&text) else {
        bail!("cannot read the version of {} from {:?}; {INSTALL_HINT}", qemu.display(), text.trim());
    };
    if version < MIN_VERSION {
        bail!(
            "{} is version {}.{}, older than 9.0 (no raspi4b machine); {INSTALL_HINT}",
            qemu.display(),
            version.0,
            version.1
        );
    }
    Ok(version)
}

/// As [`check`], but when QEMU is missing or too old and can be installed here (Debian's apt,
/// the Kingly tree's `.ci/setup`, root or password-less sudo), installs it first and says so;
/// otherwise the error names the one command that installs it. `$KINGLY_QEMU` is never replaced.
pub fn ensure() -> Result<(u32, u32)> {
    let missing = match check() {
        Ok(version) => return Ok(version),
        Err(missing) => missing,
    };
    let setup = match crate::workspace::root() {
        Ok(root) => root.join(".ci").join("setup"),
        Err(_) => return Err(missing),
    };
    if std::env::var_os("KINGLY_QEMU").is_some() || !setup.is_file() || !on_path("apt-get") {
        return Err(missing);
    }
    let command = format!("sudo bash {} --qemu", setup.display());
    // The cause without the install hint: installing is what happens next.
    let cause = format!("{missing:#}");
    let cause = cause.split("; install QEMU").next().unwrap_or(&cause);
    eprintln!("kingly: QEMU >= 9.0 is needed ({cause})");
    eprintln!("kingly: installing it (qemu-system-arm from bookworm-backports) with `{} --qemu`", setup.display());
    // Its output goes to stderr: under `kingly mcp` stdout carries the protocol.
    let status = Command::new("bash").arg(&setup).arg("--qemu").stdout(std::io::stderr()).status();
    match status {
        Ok(status) if status.success() => check().with_context(|| format!("after `{command}`")),
        Ok(_) => bail!("QEMU >= 9.0 is missing and could not be installed here; run `{command}` once, then retry"),
        Err(error) => bail!("cannot run {}: {error}; run `{command}` once, then retry", setup.display()),
    }
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

/// How QEMU learns that kingly died even by SIGKILL, which no handler sees: either way the
/// kernel sends QEMU a signal when the thread that started it ends (`PR_SET_PDEATHSIG`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParentWatch {
    /// Nothing: QEMU outlives a killed kingly.
    None,
    /// QEMU's own `-run-with exit-with-parent=on` (newer than 10.0).
    QemuOption,
    /// `setpriv --pdeathsig KILL` (util-linux) sets the signal, then runs QEMU in its place.
    Setpriv,
}

impl ParentWatch {
    /// The watch this machine offers. `setpriv` first: it works with every QEMU on Linux. Else
    /// QEMU's own option, when this QEMU parses it (`-run-with … -version` exits 1 on an unknown
    /// parameter; 10.0 has none). Start QEMU from a thread that lives as long as the run (the
    /// main thread): the signal comes when that thread ends.
    pub fn detect() -> Self {
        let quiet = |command: &mut Command| {
            command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::null()).output().ok()
        };
        let setpriv = quiet(Command::new("setpriv").arg("--help"));
        if setpriv.is_some_and(|out| String::from_utf8_lossy(&out.stdout).contains("--pdeathsig")) {
            return ParentWatch::Setpriv;
        }
        let probe = quiet(Command::new(binary()).args(["-run-with", "exit-with-parent=on", "-version"]));
        if probe.is_some_and(|out| out.status.success()) {
            return ParentWatch::QemuOption;
        }
        ParentWatch::None
    }
}

/// Where the kernel's UART goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Serial {
    /// Through `kingly` to its stdout (and stdin to the UART).
    Stdio,
    /// A Unix socket QEMU listens on; the guest waits until a client connects, so no early
    /// output is lost.
    Unix(PathBuf),
    /// A pseudo-terminal; QEMU prints its path.
    Pty,
    /// Appended to a file (when the message port runs elsewhere and nobody reads the UART).
    File(PathBuf),
    /// A serial device (`/dev/ttyUSB0`): a real board's UART, for `kingly boot` through the
    /// chainloader.
    Device(PathBuf),
    /// `tcp:HOST:PORT`: a UART reachable over TCP (a serial server, or QEMU listening).
    Tcp(String),
}

impl std::str::FromStr for Serial {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "stdio" => Ok(Serial::Stdio),
            "pty" => Ok(Serial::Pty),
            _ if s.starts_with("/dev/") => Ok(Serial::Device(PathBuf::from(s))),
            _ if s
                .strip_prefix("tcp:")
                .and_then(|a| a.rsplit_once(':'))
                .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok()) =>
            {
                Ok(Serial::Tcp(s["tcp:".len()..].to_string()))
            }
            _ => match (s.strip_prefix("unix:"), s.strip_prefix("file:")) {
                (Some(path), _) if !path.is_empty() => Ok(Serial::Unix(PathBuf::from(path))),
                (_, Some(path)) if !path.is_empty() => Ok(Serial::File(PathBuf::from(path))),
                _ => Err(format!(
                    "unknown serial '{s}': expected stdio, pty, unix:PATH, file:PATH, tcp:HOST:PORT or /dev/ttyXXX"
                )),
            },
        }
    }
}

/// One QEMU run.
#[derive(Debug, Clone)]
pub struct RunConfig {
    pub board: Board,
    pub image: PathBuf,
    pub serial: Serial,
    /// A device tree to pass in x0 (raspi4b: exercises the DTB path).
    pub dtb: Option<PathBuf>,
    /// Deterministic instruction counting (`-icount shift=N`).
    pub icount_shift: Option<u32>,
    /// `virt` only: a Unix socket for a virtio console (the kernel serves its message port
    /// on it). QEMU does not wait for a client; nothing is lost, the kernel only answers.
    pub port: Option<PathBuf>,
    /// Extra arguments appended as given.
    pub extra_args: Vec<String>,
    /// How QEMU dies with kingly (none by default: tests start QEMU on threads that end early).
    pub parent_watch: ParentWatch,
}

impl RunConfig {
    pub fn new(board: Board, image: PathBuf) -> Self {
        Self {
            board,
            image,
            serial: Serial::Stdio,
            dtb: None,
            icount_shift: None,
            port: None,
            extra_args: Vec::new(),
            parent_watch: ParentWatch::None,
        }
    }

    /// The full QEMU command line.
    pub fn command(&self) -> Command {
        let mut c = match self.parent_watch {
            ParentWatch::Setpriv => {
                let mut c = Command::new("setpriv");
                c.args(["--pdeathsig", "KILL", "--"]).arg(binary());
                c
            }
            ParentWatch::None | ParentWatch::QemuOption => Command::new(binary()),
        };
        if self.parent_watch == ParentWatch::QemuOption {
            c.args(["-run-with", "exit-with-parent=on"]);
        }
        // A board without a machine (pi5) gets none: QEMU then refuses to start, and says so.
        c.args(self.board.qemu_machine().unwrap_or_default());
        c.arg("-kernel").arg(&self.image);
        c.args(["-nodefaults", "-display", "none", "-monitor", "none", "-semihosting"]);
        if let Some(dtb) = &self.dtb {
            c.arg("-dtb").arg(dtb);
        }
        if let Some(shift) = self.icount_shift {
            c.args(["-icount", &format!("shift={shift}")]);
        }
        match &self.serial {
            Serial::Stdio => c.args(["-serial", "stdio"]),
            Serial::Pty => c.args(["-serial", "pty"]),
            Serial::Unix(path) => c.args(["-serial", &format!("unix:{},server=on,wait=on", path.display())]),
            Serial::File(path) => c.args(["-serial", &format!("file:{}", path.display())]),
            Serial::Device(path) => c.args(["-serial", &format!("{}", path.display())]),
            Serial::Tcp(address) => c.args(["-serial", &format!("tcp:{address},server=on,wait=on")]),
        };
        if let Some(path) = &self.port {
            c.args(virtio_console_args(path));
        }
        c.args(&self.extra_args);
        c
    }
}

/// QEMU arguments for a virtio console on a Unix socket: a modern (version 2) virtio-mmio
/// transport, QEMU's virtio-serial device and a console port on it. `virt` only (raspi4b has
/// no virtio-mmio bus).
pub fn virtio_console_args(socket: &Path) -> Vec<String> {
    [
        "-global",
        "virtio-mmio.force-legacy=false",
        "-chardev",
        &format!("socket,id=kingly-port,path={},server=on,wait=off", socket.display()),
        "-device",
        "virtio-serial-device",
        "-device",
        "virtconsole,chardev=kingly-port",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// Where the message port of a QEMU run is: the virtio console socket when there is one,
/// else the UART socket.
pub fn port_socket(config: &RunConfig) -> Option<&Path> {
    match (&config.port, &config.serial) {
        (Some(port), _) => Some(port),
        (None, Serial::Unix(uart)) => Some(uart),
        _ => None,
    }
}

/// What the UART showed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    Ready,
    Panic,
    Fault,
}

/// Classifies a line of kernel output.
pub fn classify(line: &str) -> Option<Event> {
    let line = line.trim_start();
    if line.starts_with("kingly ready: ") {
        Some(Event::Ready)
    } else if line.starts_with("PANIC on core") {
        Some(Event::Panic)
    } else if line.starts_with("FAULT on core") {
        Some(Event::Fault)
    } else {
        None
    }
}

/// A QEMU process whose UART output is read line by line on a thread.
pub struct Running {
    child: Child,
    registration: Option<ChildRegistration>,
    lines: mpsc::Receiver<String>,
}

impl Running {
    /// Starts QEMU with the UART on a pipe (stdio serial). `forward_stdin` connects our stdin
    /// to the UART for interactive use.
    pub fn spawn_stdio(config: &RunConfig, forward_stdin: bool) -> Result<Self> {
        let mut command = config.command();
        command.stdout(Stdio::piped()).stderr(Stdio::inherit());
        command.stdin(if forward_stdin { Stdio::inherit() } else { Stdio::null() });
        let mut child = command.spawn().with_context(|| format!("starting {}; {INSTALL_HINT}", binary().display()))?;
        let registration = Some(ChildRegistration::new(&child));
        let stdout = child.stdout.take().context("QEMU's stdout")?;
        let (tx, lines) = mpsc::channel();
        if forward_stdin {
            // A person types: show every byte the moment it comes (the kernel echoes keys one
            // by one), and still hand whole lines to the caller for the ready line or a panic.
            std::thread::spawn(move || pump_lines_showing_bytes(stdout, tx, std::io::stdout()));
        } else {
            std::thread::spawn(move || pump_lines(stdout, tx));
        }
        Ok(Self { child, registration, lines })
    }

    /// Starts QEMU with the UART elsewhere (a socket, a pty, a file); QEMU's own output goes
    /// to ours.
    pub fn spawn(config: &RunConfig) -> Result<Self> {
        Self::spawn_command(config.command())
    }

    /// As [`Running::spawn`], with QEMU's stdin and stdout on nothing (its stderr stays ours):
    /// for a server whose stdout carries a protocol.
    pub fn spawn_quiet(config: &RunConfig) -> Result<Self> {
        let mut command = config.command();
        command.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::inherit());
        Self::spawn_command(command)
    }

    fn spawn_command(mut command: Command) -> Result<Self> {
        let child = command.spawn().with_context(|| format!("starting {}; {INSTALL_HINT}", binary().display()))?;
        let registration = Some(ChildRegistration::new(&child));
        let (_, lines) = mpsc::channel();
        Ok(Self { child, registration, lines })
    }

    /// The next line, waiting at most until `deadline`. `Ok(None)` when QEMU closed the UART.
    pub fn next_line(&mut self, deadline: Instant) -> Result<Option<String>, Timeout> {
        let wait = deadline.saturating_duration_since(Instant::now());
        match self.lines.recv_timeout(wait) {
            Ok(line) => Ok(Some(line)),
            Err(mpsc::RecvTimeoutError::Disconnected) => Ok(None),
            Err(mpsc::RecvTimeoutError::Timeout) => Err(Timeout),
        }
    }

    /// QEMU's exit code if it has exited (128 for a signal), without waiting.
    pub fn exit_status(&mut self) -> Option<i32> {
        let status = self.child.try_wait().ok()??;
        self.registration = None;
        Some(status.code().unwrap_or(128))
    }

    /// Waits for QEMU to exit, at most until `deadline`; returns its exit code.
    pub fn wait(&mut self, deadline: Instant) -> Result<i32, Timeout> {
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                self.registration = None;
                return Ok(status.code().unwrap_or(128));
            }
            if Instant::now() >= deadline {
                return Err(Timeout);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops QEMU.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        self.registration = None;
        let _ = self.child.wait();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The deadline passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeout;

fn pump_lines(stdout: impl Read, tx: mpsc::Sender<String>) {
    let mut reader = BufReader::new(stdout);
    let mut buffer = Vec::new();
    loop {
        buffer.clear();
        match reader.read_until(b'\n', &mut buffer) {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                let line = String::from_utf8_lossy(&buffer).trim_end_matches(['\r', '\n']).to_string();
                if tx.send(line).is_err() {
                    return;
                }
            }
        }
    }
}

/// As [`pump_lines`], writing every byte to `show` as soon as it is read.
fn pump_lines_showing_bytes(mut stdout: impl Read, tx: mpsc::Sender<String>, mut show: impl Write) {
    let mut chunk = [0u8; 4096];
    let mut line = Vec::new();
    loop {
        let n = match stdout.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let _ = show.write_all(&chunk[..n]);
        let _ = show.flush();
        for &byte in &chunk[..n] {
            if byte == b'\n' {
                let text = String::from_utf8_lossy(&line).trim_end_matches('\r').to_string();
                line.clear();
                if tx.send(text).is_err() {
                    return;
                }
            } else if line.len() < 64 * 1024 {
                line.push(byte);
            }
        }
    }
}

/// Writes `image` with boot arguments `args` patched in to a fresh file next to it, which the
/// caller removes (the kingly-tests harness).
pub fn patched_image(image: &Path, args: &str) -> Result<PathBuf> {
    Ok(patched_run_image(image, args)?.keep())
}

/// As [`patched_image`], the file removed when the guard drops or a signal ends kingly. The
/// guard exists before the file does, so no signal can leave the file behind.
pub fn patched_run_image(image: &Path, args: &str) -> Result<TempPath> {
    let mut bytes = std::fs::read(image).with_context(|| format!("reading {}", image.display()))?;
    kingly_proto::bootargs::patch_image(&mut bytes, args).map_err(|e| anyhow::anyhow!("{}: {e}", image.display()))?;
    if let Some(dir) = image.parent() {
        crate::cleanup::remove_stale(dir, "run-");
    }
    let path = TempPath::new(image.with_file_name(format!("run-{}-{}.img", std::process::id(), unique())));
    std::fs::write(path.path(), &bytes).with_context(|| format!("writing {}", path.path().display()))?;
    Ok(path)
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Prints a line of kernel output to stdout at once.
pub fn echo(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interactive_output_shows_each_byte_and_still_yields_lines() {
        let (tx, lines) = mpsc::channel();
        let mut shown = Vec::new();
        pump_lines_showing_bytes(&b"kingly ready: x\r\npin\x08 \x08g\r\npong\r\npartial"[..], tx, &mut shown);
        assert_eq!(shown, b"kingly ready: x\r\npin\x08 \x08g\r\npong\r\npartial");
        let lines: Vec<String> = lines.try_iter().collect();
        assert_eq!(lines, ["kingly ready: x", "pin\x08 \x08g", "pong"]);
    }

    #[test]
    fn reads_qemu_versions() {
        assert_eq!(parse_version("QEMU emulator version 10.0.2 (Debian 1:10.0.2+ds-2)"), Some((10, 0)));
        assert_eq!(parse_version("QEMU emulator version 7.2.15"), Some((7, 2)));
        assert_eq!(parse_version("garbage"), None);
    }

    #[test]
    fn classifies_kernel_lines() {
        assert_eq!(classify("kingly ready: board=virt cpus=4 el=1 mmu=on heap=1"), Some(Event::Ready));
        assert_eq!(classify("PANIC on core 1 at x.rs:3: boom"), Some(Event::Panic));
        assert_eq!(classify("FAULT on core 0: data abort"), Some(Event::Fault));
        assert_eq!(classify("kingly readyish"), None);
    }

    #[test]
    fn parses_serial_options() {
        assert_eq!("stdio".parse(), Ok(Serial::Stdio));
        assert_eq!("unix:/tmp/k.sock".parse(), Ok(Serial::Unix("/tmp/k.sock".into())));
        assert!("unix:".parse::<Serial>().is_err());
        assert!("tcp:1".parse::<Serial>().is_err());
    }

    #[test]
    fn command_lines_follow_the_boot_facts() {
        let c = RunConfig::new(Board::Raspi4b, "k.img".into()).command();
        let args: Vec<_> = c.get_args().map(|a| a.to_string_lossy().into_owned()).collect();
        assert!(args.windows(2).any(|w| w == ["-m", "2G"]), "raspi4b needs -m 2G: {args:?}");
        assert!(args.contains(&"-semihosting".to_string()));
        let c = RunConfig::new(Board::Virt, "k.img".into()).command();
        let args: Vec<_> = c.get_args().map(|a| a.to_string_lossy().into_owned()).collect();
        assert!(args.windows(2).any(|w| w == ["-smp", "4"]));
        assert!(!args.iter().any(|a| a.contains("virtconsole")));
        let mut config = RunConfig::new(Board::Virt, "k.img".into());
        config.port = Some("/tmp/p.sock".into());
        let args: Vec<_> = config.command().get_args().map(|a| a.to_string_lossy().into_owned()).collect();
        assert!(args.windows(2).any(|w| w == ["-global", "virtio-mmio.force-legacy=false"]), "{args:?}");
        assert!(args.iter().any(|a| a == "socket,id=kingly-port,path=/tmp/p.sock,server=on,wait=off"), "{args:?}");
        assert!(args.windows(2).any(|w| w == ["-device", "virtconsole,chardev=kingly-port"]), "{args:?}");
        assert!(!args.iter().any(|a| a == "-run-with"), "{args:?}");
    }

    #[test]
    fn a_parent_watch_shows_on_the_command_line() {
        let mut config = RunConfig::new(Board::Virt, "k.img".into());
        config.parent_watch = ParentWatch::QemuOption;
        let args: Vec<_> = config.command().get_args().map(|a| a.to_string_lossy().into_owned()).collect();
        assert!(args.windows(2).any(|w| w == ["-run-with", "exit-with-parent=on"]), "{args:?}");
        config.parent_watch = ParentWatch::Setpriv;
        let command = config.command();
        assert_eq!(command.get_program(), "setpriv");
        let args: Vec<_> = command.get_args().map(|a| a.to_string_lossy().into_owned()).collect();
        assert_eq!(args[..4], ["--pdeathsig", "KILL", "--", &binary().to_string_lossy()]);
    }
}
