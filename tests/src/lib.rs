//! Helpers for Kingly's integration tests: build the kernel once per board, boot it under
//! QEMU with its UART on a Unix socket, and talk to it like a serial client would.

#![forbid(unsafe_code)]

use anyhow::{bail, Context, Result};
use kingly::board::Board;
use kingly::kernel_build::{self, KernelArtifacts};
use kingly::qemu::{self, RunConfig, Serial};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Builds (once per test process) the kernel for `board`.
pub fn kernel(board: Board) -> KernelArtifacts {
    static BUILT: OnceLock<Mutex<HashMap<Board, KernelArtifacts>>> = OnceLock::new();
    let mut built = BUILT.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    built
        .entry(board)
        .or_insert_with(|| {
            qemu::check().expect("QEMU >= 9.0 is required (run .ci/setup)");
            kernel_build::build(board, kernel_build::Variant::Suites, true).expect("building the kernel")
        })
        .clone()
}

/// A kernel running under QEMU with its UART on a Unix socket and, on `virt`, its message
/// port on a virtio console socket too.
pub struct Booted {
    child: Child,
    /// Kills QEMU if the test outlives [`qemu_time_limit`]; stopped on drop.
    _watchdog: Watchdog,
    stream: UnixStream,
    /// `virt`: the virtio console socket and a connection to it.
    port: Option<(PathBuf, UnixStream)>,
    /// Everything received so far, as text (lossy).
    pub output: String,
    consumed: usize,
    socket: PathBuf,
    _socket_dir: TempDir,
    _image: PathBuf,
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Booted {
    /// Boots `board` with boot arguments `args` (semihosting is always on) and waits for the
    /// ready line.
    pub fn boot(board: Board, args: &str) -> Result<Self> {
        let mut booted = Self::start(board, args)?;
        booted.wait_for_line(|l| l.starts_with("kingly ready:"), Duration::from_secs(60))?;
        Ok(booted)
    }

    /// Starts QEMU and connects, without waiting for anything.
    pub fn start(board: Board, args: &str) -> Result<Self> {
        Self::start_file(board, &kernel(board).image, args)
    }

    /// Starts QEMU on `file` (the raw image, or the ELF for QEMU's ELF entry path) with boot
    /// arguments patched in.
    pub fn start_file(board: Board, file: &std::path::Path, args: &str) -> Result<Self> {
        Self::start_with(board, file, args, None)
    }

    /// Starts QEMU on `board`'s raw image with `dtb` passed to the kernel (QEMU `-dtb`).
    pub fn start_with_dtb(board: Board, dtb: &std::path::Path, args: &str) -> Result<Self> {
        Self::start_with(board, &kernel(board).image, args, Some(dtb))
    }

    /// [`Booted::start`] under QEMU `-icount shift=0`: one guest instruction per tick, so the
    /// PMU's instruction counts (the benches' figures) are deterministic.
    pub fn start_counting(board: Board, args: &str) -> Result<Self> {
        Self::start_full(board, &kernel(board).image, args, None, Some(0))
    }

    fn start_with(board: Board, file: &std::path::Path, args: &str, dtb: Option<&std::path::Path>) -> Result<Self> {
        Self::start_full(board, file, args, dtb, None)
    }

    fn start_full(
        board: Board,
        file: &std::path::Path,
        args: &str,
        dtb: Option<&std::path::Path>,
        icount_shift: Option<u32>,
    ) -> Result<Self> {
        let image = qemu::patched_image(file, &format!("semihosting=1 {args}"))?;
        Self::start_prepared(board, image, dtb, icount_shift, Vec::new())
    }

    /// Starts QEMU on a raw image as it is, with no boot arguments patched in (the
    /// chainloader, which has none).
    pub fn start_unpatched(board: Board, file: &std::path::Path) -> Result<Self> {
        let copy = file.with_file_name(format!("unpatched-{}-{}.img", std::process::id(), unique()));
        std::fs::copy(file, &copy).with_context(|| format!("copying {}", file.display()))?;
        Self::start_prepared(board, copy, None, None, Vec::new())
    }

    /// [`Booted::start_unpatched`] with the device tree `dtb` in x0 and `bootargs` as its
    /// `/chosen/bootargs` (QEMU `-dtb FILE -append TEXT`), as the Pi firmware hands over
    /// `cmdline.txt`.
    pub fn start_unpatched_with_bootargs(
        board: Board,
        file: &std::path::Path,
        dtb: &std::path::Path,
        bootargs: &str,
    ) -> Result<Self> {
        let copy = file.with_file_name(format!("unpatched-{}-{}.img", std::process::id(), unique()));
        std::fs::copy(file, &copy).with_context(|| format!("copying {}", file.display()))?;
        Self::start_prepared(board, copy, Some(dtb), None, vec!["-append".into(), bootargs.into()])
    }

    fn start_prepared(
        board: Board,
        image: PathBuf,
        dtb: Option<&std::path::Path>,
        icount_shift: Option<u32>,
        extra_args: Vec<String>,
    ) -> Result<Self> {
        let dir = std::env::temp_dir().join(format!("kingly-test-{}-{}", std::process::id(), unique()));
        std::fs::create_dir_all(&dir)?;
        let socket = dir.join("uart.sock");
        let mut config = RunConfig::new(board, image.clone());
        config.serial = Serial::Unix(socket.clone());
        if board == Board::Virt {
            config.port = Some(dir.join("port.sock"));
        }
        config.dtb = dtb.map(std::path::Path::to_path_buf);
        config.icount_shift = icount_shift;
        config.extra_args = extra_args;
        let child = config.command().stdout(Stdio::null()).stderr(Stdio::null()).spawn().context("starting QEMU")?;
        let watchdog = Watchdog::start(child.id(), qemu_time_limit());
        // The UART first: QEMU waits for it before it opens anything else.
        let stream = connect(&socket)?;
        let port = match config.port {
            Some(path) => {
                let stream = connect(&path)?;
                Some((path, stream))
            }
            None => None,
        };
        Ok(Self {
            child,
            _watchdog: watchdog,
            stream,
            port,
            output: String::new(),
            consumed: 0,
            socket,
            _socket_dir: TempDir(dir),
            _image: image,
        })
    }

    /// Closes the connection to the message-port socket and opens a new one, as a second
    /// client process would; the kernel keeps running.
    pub fn reconnect(&mut self) -> Result<()> {
        match &mut self.port {
            Some((path, stream)) => {
                stream.shutdown(std::net::Shutdown::Both)?;
                *stream = connect(path)?;
            }
            None => {
                self.stream.shutdown(std::net::Shutdown::Both)?;
                self.stream = connect(&self.socket)?;
            }
        }
        Ok(())
    }

    /// Opens a message-port session: over the virtio console on `virt`, the UART elsewhere.
    pub fn client(&self) -> Result<kingly::client::Client> {
        kingly::client::Client::handshake(Box::new(self.stream()?), Duration::from_secs(30))
    }

    /// Opens a message-port session over the UART (on `virt` too).
    pub fn uart_client(&self) -> Result<kingly::client::Client> {
        kingly::client::Client::handshake(Box::new(self.stream.try_clone()?), Duration::from_secs(30))
    }

    /// A second handle on the message-port socket (virtio console on `virt`, else the UART),
    /// e.g. for a proxy.
    pub fn stream(&self) -> Result<UnixStream> {
        match &self.port {
            Some((_, stream)) => Ok(stream.try_clone()?),
            None => Ok(self.stream.try_clone()?),
        }
    }

    /// The message port's socket path (for `--connect unix:PATH`).
    pub fn port_socket(&self) -> &std::path::Path {
        self.port.as_ref().map_or(&self.socket, |(path, _)| path)
    }

    /// Sends many raw bytes to the message port: on the UART as [`Self::send_draining`], on
    /// the virtio console (which answers garbage with nothing) straight.
    pub fn send_to_port(&mut self, bytes: &[u8]) -> Result<()> {
        // The UART is drained meanwhile either way: on virt the kernel still logs there, and
        // an unread UART stalls QEMU (see `send_draining`).
        let writer = match &self.port {
            Some((_, stream)) => stream.try_clone()?,
            None => self.stream.try_clone()?,
        };
        self.send_pumping(writer, bytes)
    }

    /// Sends raw bytes to the UART.
    pub fn send(&mut self, bytes: &[u8]) -> Result<()> {
        self.stream.write_all(bytes).context("writing to the UART socket")
    }

    /// Sends a large amount of bytes from a second thread while this one keeps reading the
    /// kernel's output. Reading between blocking writes is not enough: QEMU writes the PL011's
    /// output one byte per syscall, so a few hundred unread bytes fill its socket send buffer
    /// (each byte costs a whole socket buffer); its vCPU then waits for us with the big lock
    /// held, stops reading our bytes, and our write blocks for good.
    pub fn send_draining(&mut self, bytes: &[u8]) -> Result<()> {
        let writer = self.stream.try_clone()?;
        self.send_pumping(writer, bytes)
    }

    /// Writes `bytes` to `writer` from a second thread while this one reads the UART and the
    /// message port (a kernel answering on an unread socket would stall QEMU just the same).
    /// Gives up after [`SEND_LIMIT`]: QEMU is killed, which ends the blocked write, and the
    /// error carries the kernel's output so far.
    fn send_pumping(&mut self, mut writer: UnixStream, bytes: &[u8]) -> Result<()> {
        let bytes = bytes.to_vec();
        let total = bytes.len();
        let sender = std::thread::spawn(move || writer.write_all(&bytes));
        let deadline = Instant::now() + SEND_LIMIT;
        let mut discarded = 0usize;
        while !sender.is_finished() {
            self.pump()?;
            if let Some((_, port)) = &mut self.port {
                discarded += drain(port);
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = sender.join();
                bail!(
                    "sending {total} bytes to the message port took over {SEND_LIMIT:?}: QEMU stopped reading \
                     (the kernel no longer drains its receive side); {discarded} bytes came back on the port; \
                     UART output so far:\n{}",
                    self.output
                );
            }
        }
        match sender.join() {
            Ok(result) => result.context("writing to the UART socket"),
            Err(_) => bail!("the writer thread panicked"),
        }
    }

    /// Sends a command line.
    pub fn send_line(&mut self, line: &str) -> Result<()> {
        self.send(format!("{line}\n").as_bytes())
    }

    fn pump(&mut self) -> Result<bool> {
        let mut buffer = [0u8; 4096];
        match self.stream.read(&mut buffer) {
            Ok(0) => Ok(false),
            Ok(n) => {
                self.output.push_str(&String::from_utf8_lossy(&buffer[..n]).replace('\r', ""));
                Ok(true)
            }
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => Ok(true),
            Err(e) => Err(e.into()),
        }
    }

    /// Waits for a complete output line (after the ones already consumed) matching `wanted`.
    pub fn wait_for_line(&mut self, wanted: impl Fn(&str) -> bool, timeout: Duration) -> Result<String> {
        let deadline = Instant::now() + timeout;
        loop {
            while let Some(end) = self.output[self.consumed..].find('\n') {
                let line = self.output[self.consumed..self.consumed + end].to_string();
                self.consumed += end + 1;
                if wanted(&line) {
                    return Ok(line);
                }
            }
            if Instant::now() > deadline {
                bail!("timed out waiting for a line; output so far:\n{}", self.output);
            }
            if !self.pump()? {
                bail!("the UART closed (QEMU exited); output so far:\n{}", self.output);
            }
        }
    }

    /// Sends `command` and returns the first following line that starts with `prefix`.
    pub fn ask(&mut self, command: &str, prefix: &str) -> Result<String> {
        self.send_line(command)?;
        self.wait_for_line(|l| l.starts_with(prefix), Duration::from_secs(30))
    }

    /// Waits for QEMU to exit (the kernel exits through semihosting); returns its status.
    pub fn wait_exit(&mut self, timeout: Duration) -> Result<i32> {
        let deadline = Instant::now() + timeout;
        loop {
            let _ = self.pump();
            if let Some(status) = self.child.try_wait()? {
                // Collect what QEMU wrote before it exited.
                let drain_until = Instant::now() + Duration::from_millis(200);
                while Instant::now() < drain_until && matches!(self.pump(), Ok(true)) {}
                return Ok(status.code().unwrap_or(128));
            }
            if Instant::now() > deadline {
                bail!("QEMU did not exit in time; output so far:\n{}", self.output);
            }
        }
    }
}

impl Drop for Booted {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self._image);
    }
}

/// Longest a bulk send may take (1 MiB to the PL011 takes ~30 s under load).
const SEND_LIMIT: Duration = Duration::from_secs(300);

/// Reads whatever is waiting on `stream` (up to its read timeout) and returns the count.
fn drain(stream: &mut UnixStream) -> usize {
    let mut buffer = [0u8; 4096];
    stream.read(&mut buffer).unwrap_or(0)
}

/// Longest a QEMU instance of a test may live: `KINGLY_TEST_QEMU_LIMIT` seconds, 20 minutes
/// by default. A hung test then fails with the kernel's output instead of stalling CI.
pub fn qemu_time_limit() -> Duration {
    let seconds = std::env::var("KINGLY_TEST_QEMU_LIMIT").ok().and_then(|v| v.parse().ok()).unwrap_or(1200);
    Duration::from_secs(seconds)
}

/// Kills a process when a time limit passes unless dropped first.
struct Watchdog {
    stop: Option<std::sync::mpsc::Sender<()>>,
}

impl Watchdog {
    fn start(pid: u32, limit: Duration) -> Self {
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        std::thread::spawn(move || {
            if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(limit) {
                eprintln!("QEMU (pid {pid}) ran past the test limit of {limit:?} (KINGLY_TEST_QEMU_LIMIT); killing it");
                let _ = std::process::Command::new("kill").args(["-KILL", &pid.to_string()]).status();
            }
        });
        Self { stop: Some(stop) }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        // Dropping the sender wakes the thread with `Disconnected`: nothing is killed.
        self.stop.take();
    }
}

/// Connects to QEMU's listening socket, waiting for QEMU to create it.
fn connect(socket: &std::path::Path) -> Result<UnixStream> {
    let deadline = Instant::now() + Duration::from_secs(20);
    let stream = loop {
        match UnixStream::connect(socket) {
            Ok(stream) => break stream,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => bail!("QEMU never opened {}: {e}", socket.display()),
        }
    };
    stream.set_read_timeout(Some(Duration::from_millis(50)))?;
    Ok(stream)
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Parses `key=value` fields of a status line into numbers.
pub fn fields(line: &str) -> HashMap<String, u64> {
    line.split_whitespace()
        .filter_map(|w| w.split_once('='))
        .filter_map(|(k, v)| v.parse().ok().map(|v| (k.to_string(), v)))
        .collect()
}

/// Faults a [`FaultProxy`] injects, each with probability `rate` per byte.
#[derive(Debug, Clone, Copy)]
pub struct FaultRates {
    pub flip: f64,
    pub drop: f64,
    pub duplicate: f64,
}

/// Counts of what the proxy did.
#[derive(Debug, Default)]
pub struct FaultCounts {
    pub bytes: std::sync::atomic::AtomicU64,
    /// Bytes the client wrote toward the kernel, as the client wrote them (before any fault).
    pub to_kernel: std::sync::atomic::AtomicU64,
    pub flipped: std::sync::atomic::AtomicU64,
    pub dropped: std::sync::atomic::AtomicU64,
    pub duplicated: std::sync::atomic::AtomicU64,
}

/// A man in the middle between a host client and the kernel's UART socket that flips, drops
/// and duplicates bytes in both directions.
pub struct FaultProxy {
    /// Give this end to the client.
    pub client_end: UnixStream,
    pub counts: std::sync::Arc<FaultCounts>,
    /// Set it to stop the faults (the line is clean from then on).
    pub calm: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl FaultProxy {
    pub fn new(kernel: UnixStream, rates: FaultRates, seed: u64) -> Result<Self> {
        use rand::Rng;
        let (client_end, proxy_end) = UnixStream::pair()?;
        let counts = std::sync::Arc::new(FaultCounts::default());
        let calm = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let pipes = [(proxy_end.try_clone()?, kernel.try_clone()?, seed), (kernel, proxy_end, seed ^ 0x5555)];
        for (direction, (mut from, mut to, seed)) in pipes.into_iter().enumerate() {
            let (counts, calm) = (counts.clone(), calm.clone());
            let to_kernel = direction == 0;
            from.set_read_timeout(None)?;
            std::thread::spawn(move || {
                use std::sync::atomic::Ordering::Relaxed;
                let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(seed);
                let mut buffer = [0u8; 4096];
                loop {
                    let n = match from.read(&mut buffer) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    if to_kernel {
                        counts.to_kernel.fetch_add(n as u64, Relaxed);
                    }
                    let mut out = Vec::with_capacity(n + 8);
                    for &byte in &buffer[..n] {
                        counts.bytes.fetch_add(1, Relaxed);
                        let roll: f64 = if calm.load(Relaxed) { 1.0 } else { rng.gen() };
                        if roll < rates.drop {
                            counts.dropped.fetch_add(1, Relaxed);
                        } else if roll < rates.drop + rates.flip {
                            counts.flipped.fetch_add(1, Relaxed);
                            out.push(byte ^ (1 << rng.gen_range(0..8)));
                        } else if roll < rates.drop + rates.flip + rates.duplicate {
                            counts.duplicated.fetch_add(1, Relaxed);
                            out.extend_from_slice(&[byte, byte]);
                        } else {
                            out.push(byte);
                        }
                    }
                    if to.write_all(&out).is_err() {
                        return;
                    }
                }
            });
        }
        Ok(Self { client_end, counts, calm })
    }
}

/// Offers `line` (a UART socket, or a proxy's end of one) to one client on a new Unix
/// socket at `path`, as QEMU's own socket would: for `kingly boot --serial unix:PATH` while
/// the test keeps QEMU's single connection. Bytes are relayed until that client leaves;
/// after that the test may read `line` again.
pub fn relay_once(line: &UnixStream, path: &std::path::Path) -> Result<std::thread::JoinHandle<()>> {
    let listener =
        std::os::unix::net::UnixListener::bind(path).with_context(|| format!("binding {}", path.display()))?;
    let line = line.try_clone()?;
    Ok(std::thread::spawn(move || {
        let Ok((client, _)) = listener.accept() else { return };
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (mut from_client, mut to_line) =
            (client.try_clone().expect("a second client handle"), line.try_clone().expect("a second line handle"));
        let client_done = done.clone();
        let upstream = std::thread::spawn(move || {
            let _ = std::io::copy(&mut from_client, &mut to_line);
            client_done.store(true, std::sync::atomic::Ordering::Relaxed);
        });
        // Downstream polls, so that it stops reading the line once the client has gone.
        let (mut from_line, mut to_client) = (line, client);
        let _ = from_line.set_read_timeout(Some(Duration::from_millis(20)));
        let mut buffer = [0u8; 4096];
        while !done.load(std::sync::atomic::Ordering::Relaxed) {
            match from_line.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => {
                    if to_client.write_all(&buffer[..n]).is_err() {
                        break;
                    }
                }
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
                Err(_) => break,
            }
        }
        let _ = from_line.set_read_timeout(None);
        let _ = upstream.join();
    }))
}
