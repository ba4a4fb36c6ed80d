//! The serial chainloader under QEMU raspi4b: the loader boots from the "card", a kernel
//! arrives over its UART socket (stop-and-wait and with the loader's window, through a clean
//! line and through one that damages 1% of the bytes) and reaches the ready line on four
//! cores; noise and kernels it must not run are refused and the loader waits on for a good
//! one; `reboot` brings it back; the card's line rate reaches the loader's announcement.

use kingly::board::Board;
use kingly::boot::BootArgs;
use kingly::chainload::{self, Refused, UploadReport};
use kingly::client::Transport;
use kingly::qemu::Serial;
use kingly_proto::chainload::{LoaderBoard, Refusal};
use kingly_tests::{Booted, FaultProxy, FaultRates};
use std::os::unix::net::UnixStream;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

const LOAD_ADDRESS: u64 = 0x80000;

/// One upload at a time: each takes minutes through QEMU's UART, and two QEMUs busy-polling
/// their UARTs side by side on a small CI machine slowed both past their time limits.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// QEMU running the loader, and a line to it.
fn loader() -> (Booted, UnixStream) {
    let image = chainload::build_loader(Board::Raspi4b, true).expect("building the loader");
    let booted = Booted::start_unpatched(Board::Raspi4b, &image).expect("starting QEMU on the loader");
    let line = booted.stream().expect("a handle on the UART socket");
    (booted, line)
}

fn kernel_image() -> Vec<u8> {
    std::fs::read(kingly_tests::kernel(Board::Raspi4b).image).expect("the kernel's raw image")
}

fn wait_for_announcement(line: &mut dyn Transport) -> kingly_proto::chainload::Announcement {
    chainload::wait_for_loader(line, Instant::now() + Duration::from_secs(60), |_| {}).expect("the announcement")
}

/// Uploads stop-and-wait, as to a loader that announces no window.
fn send(line: &mut dyn Transport, board: LoaderBoard, address: u64, image: &[u8]) -> anyhow::Result<UploadReport> {
    send_windowed(line, board, address, image, 1)
}

fn send_windowed(
    line: &mut dyn Transport,
    board: LoaderBoard,
    address: u64,
    image: &[u8],
    window: u16,
) -> anyhow::Result<UploadReport> {
    chainload::upload(line, board, address, image, window, chainload::frame_timeout(None), |_| {})
}

/// Reads the console until the ready line; returns it.
fn ready_line(line: &mut dyn Transport, first: &[u8]) -> String {
    let mut text = String::from_utf8_lossy(first).into_owned();
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut buffer = [0u8; 4096];
    loop {
        // Whole lines only: the last piece may still be arriving.
        let complete = text.rsplit_once('\n').map_or("", |(lines, _)| lines);
        if let Some(ready) = complete.lines().find(|l| l.starts_with("kingly ready:")) {
            return ready.trim_end().to_string();
        }
        assert!(Instant::now() < deadline, "no ready line; the console showed:\n{text}");
        let n = line.receive(&mut buffer, Duration::from_millis(200)).expect("reading the console");
        text.push_str(&String::from_utf8_lossy(&buffer[..n]));
    }
}

/// Bytes of line noise with zeros among them (frame delimiters), so the loader's frame
/// reader sees many would-be frames, all damaged.
fn noise(len: usize) -> Vec<u8> {
    (0..len as u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8 & if i % 97 == 0 { 0 } else { 0xff }).collect()
}

fn refusal(result: anyhow::Result<UploadReport>) -> Refused {
    match result {
        Err(error) => *error.downcast_ref::<Refused>().unwrap_or_else(|| panic!("not a refusal: {error:#}")),
        Ok(_) => panic!("the loader took it"),
    }
}

/// One QEMU for the whole story, as a person at a board would see it: noise and kernels the
/// loader must not run are refused (it waits on), a good kernel reaches the ready line on four
/// cores, and `reboot` on its console brings the loader back for more uploads without
/// restarting QEMU: the same kernel stop-and-wait, then with the loader's window (measured
/// side by side), then through `kingly boot`. The line goes through a proxy that only counts,
/// to measure the uploads' bytes on the wire.
#[test]
fn the_loader_refuses_bad_kernels_boots_a_good_one_and_comes_back_on_reboot() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let (_qemu, line) = loader();
    let proxy = FaultProxy::new(line, FaultRates { flip: 0.0, drop: 0.0, duplicate: 0.0 }, 1).expect("the proxy");
    let mut line = proxy.client_end.try_clone().expect("the proxy's end");
    let announcement = wait_for_announcement(&mut line);
    assert_eq!((announcement.board, announcement.load_address), (LoaderBoard::Pi4, LOAD_ADDRESS));
    let image = kernel_image();
    assert!((image.len() as u64) < u64::from(announcement.max_bytes), "{announcement}");

    // Noise is not an upload: no answer, and the loader announces itself again.
    line.send(&noise(8192)).expect("sending noise");
    wait_for_announcement(&mut line);
    let pi5 = refusal(send(&mut line, LoaderBoard::Pi5, LOAD_ADDRESS, &image[..4096]));
    assert_eq!(pi5.0, Refusal::WrongBoard { loader: 1, kernel: 2 });
    assert!(pi5.to_string().contains("the loader runs on pi4 but the kernel was built for pi5"), "{pi5}");
    let virt = refusal(send(&mut line, LoaderBoard::Pi4, 0x4008_0000, &image[..4096]));
    assert!(matches!(virt.0, Refusal::LoadAddress { requested: 0x4008_0000, expected: 0x80000 }), "{virt}");
    let too_big = refusal(send(&mut line, LoaderBoard::Pi4, LOAD_ADDRESS, &vec![0u8; 40 << 20]));
    assert!(matches!(too_big.0, Refusal::Size { .. }), "{too_big}");
    assert!(too_big.to_string().contains("does not fit the loader's"), "{too_big}");

    let window = announcement.window.expect("the loader announces its window");
    for (attempt, window) in [1, window].into_iter().enumerate() {
        if attempt > 0 {
            line.send(b"reboot\n").expect("typing reboot");
            wait_for_announcement(&mut line);
        }
        let before = proxy.counts.to_kernel.load(Ordering::Relaxed);
        let report = send_windowed(&mut line, LoaderBoard::Pi4, LOAD_ADDRESS, &image, window).expect("the upload");
        let wire_bytes = proxy.counts.to_kernel.load(Ordering::Relaxed) - before;
        let ready = ready_line(&mut line, &report.after);
        assert!(ready.starts_with("kingly ready: board=raspi4b cpus=4 el=1 mmu=on"), "{ready}");
        let ratio = wire_bytes as f64 / image.len() as f64;
        println!(
            "clean line, window {window}: {} image bytes in {:.2} s ({:.1} KB/s under QEMU), {wire_bytes} bytes on \
             the wire ({ratio:.4} per image byte; the protocol counted {}), {} resends; at 115200 baud {:.1} s, \
             at 921600 {:.1} s",
            image.len(),
            report.elapsed.as_secs_f64(),
            image.len() as f64 / 1000.0 / report.elapsed.as_secs_f64(),
            report.stats.wire_bytes,
            report.stats.resends,
            chainload::line_seconds(wire_bytes, 115_200),
            chainload::line_seconds(wire_bytes, 921_600),
        );
        assert_eq!(wire_bytes, report.stats.wire_bytes, "the uploader's count of wire bytes is wrong");
        // A clean line carries the image plus framing: within 5% of the payload (about 2.3% is
        // the framing of full 1000-byte chunks). Resends are bounded on their own below: QEMU on
        // an overloaded machine times a frame out now and then (48 of 1,000 once, at a load
        // average of 11 on two cores), which is not framing overhead.
        let first_sends = report.stats.frames_sent.saturating_sub(report.stats.resends);
        let framed = wire_bytes as f64 * first_sends as f64 / report.stats.frames_sent.max(1) as f64;
        assert!(
            framed / (image.len() as f64) < 1.05,
            "window {window}: {framed:.0} wire bytes without resends for {} image bytes",
            image.len()
        );
        // QEMU on a busy machine can be slow enough for a timeout now and then (23 resends of
        // 943 frames once, on a machine building two other things); not for one frame in 20.
        assert!(report.stats.resends * 20 < report.stats.frames_sent, "window {window}: {:?}", report.stats);
    }

    // `reboot` on the console resets the board through the PM watchdog, which QEMU models:
    // QEMU reloads the card's image, the loader is back and takes a second kernel, this time
    // from `kingly boot --chainload --serial unix:PATH --test smoke` as a user runs it.
    line.send(b"reboot\n").expect("typing reboot");
    let again = wait_for_announcement(&mut line);
    assert_eq!(again.board, LoaderBoard::Pi4);
    let dir = std::env::temp_dir().join(format!("kingly-chainload-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    let socket = dir.join("relay.sock");
    let relay = kingly_tests::relay_once(&line, &socket).expect("the relay");
    let status = kingly::boot::run(&boot_args(&socket, "smoke"));
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(status.expect("kingly boot --chainload --test smoke"), 0, "the smoke suite failed on the second kernel");
    relay.join().expect("the relay thread");
}

/// `kingly boot --board raspi4b --chainload --serial unix:SOCKET --test NAME`.
fn boot_args(socket: &std::path::Path, test: &str) -> BootArgs {
    BootArgs {
        board: Board::Raspi4b,
        until_ready: false,
        serial: Serial::Unix(socket.to_path_buf()),
        port: None,
        test: Some(test.to_string()),
        timeout: Some(120.0),
        kernel: None,
        dtb: None,
        icount: None,
        qemu_args: Vec::new(),
        chainload: true,
        baud: 115_200,
    }
}

/// A line that flips, drops or duplicates 1% of its bytes, both ways, for the first
/// [`NOISY_BYTES`] of the image: the loader NACKs what arrives damaged, the host resends and
/// shrinks its chunks and window, and the kernel that runs is whole (it reaches the ready line on four
/// cores). QEMU's UART moves only a few KB/s on a busy machine, so the noise stops there to
/// keep the test short; the property tests in `kernel/proto/tests/chainload.rs` run whole
/// uploads, the jump included, over such a line.
#[test]
fn a_line_that_damages_one_percent_of_bytes_still_boots_the_kernel() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let (_qemu, line) = loader();
    let rates = FaultRates { flip: 0.004, drop: 0.003, duplicate: 0.003 };
    let proxy = FaultProxy::new(line, rates, 0xc4a1).expect("the proxy");
    let mut line = proxy.client_end.try_clone().expect("the proxy's end");
    let announcement = wait_for_announcement(&mut line);
    let image = kernel_image();
    let started = Instant::now();
    let mut noisy_stats = None;
    let calm = proxy.calm.clone();
    let report = chainload::upload(
        &mut line,
        LoaderBoard::Pi4,
        LOAD_ADDRESS,
        &image,
        announcement.window.unwrap_or(1),
        chainload::frame_timeout(None),
        |acknowledged| {
            if acknowledged >= NOISY_BYTES && noisy_stats.is_none() {
                calm.store(true, Ordering::Relaxed);
                noisy_stats = Some(started.elapsed());
            }
        },
    )
    .expect("the upload through the noise");
    let ready = ready_line(&mut line, &report.after);
    assert!(ready.starts_with("kingly ready: board=raspi4b cpus=4 el=1 mmu=on"), "{ready}");
    let damaged = proxy.counts.flipped.load(Ordering::Relaxed)
        + proxy.counts.dropped.load(Ordering::Relaxed)
        + proxy.counts.duplicated.load(Ordering::Relaxed);
    println!(
        "1% line for the first {NOISY_BYTES} bytes ({:.1} s), clean after: {} bytes in {:.1} s, {} wire bytes, {} resends, {damaged} bytes damaged",
        noisy_stats.map_or(0.0, |d| d.as_secs_f64()),
        image.len(),
        report.elapsed.as_secs_f64(),
        report.stats.wire_bytes,
        report.stats.resends
    );
    assert!(
        damaged > 200 && report.stats.resends > 30,
        "the line was not noisy: {damaged} damaged, {:?}",
        report.stats
    );
}

fn pi4_dtb() -> std::path::PathBuf {
    let dir = std::env::var_os("KINGLY_DTB_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/dtb"));
    let path = dir.join("bcm2711-rpi-4-b.dtb");
    assert!(path.is_file(), "{} is missing: run scripts/fetch-dtbs.sh or set KINGLY_DTB_DIR", path.display());
    path
}

/// QEMU running the loader with the real Pi 4 device tree in x0 and `cmdline` as its
/// `/chosen/bootargs`, as the firmware hands over the card's `cmdline.txt`.
fn loader_with_cmdline(cmdline: &str) -> (Booted, UnixStream) {
    let image = chainload::build_loader(Board::Raspi4b, true).expect("building the loader");
    let booted = Booted::start_unpatched_with_bootargs(Board::Raspi4b, &image, &pi4_dtb(), cmdline.trim_end())
        .expect("starting QEMU on the loader");
    let line = booted.stream().expect("a handle on the UART socket");
    (booted, line)
}

/// The line rate travels from `kingly image --chainload --baud N` to the loader: the card's
/// `cmdline.txt` reaches the loader as `/chosen/bootargs` of the device tree in x0 (QEMU
/// `-dtb` + `-append` here, the firmware on a board), and the loader announces the rate it
/// set. A rate it does not offer is refused with its reason, and it listens at 115200; 921600
/// is taken and a kernel still uploads and boots on four cores. QEMU's PL011 ignores the
/// divisor, so this checks the plumbing (card → tree → parser → UART set-up → announcement),
/// not the electrical rate; `kingly_proto::line_rate`'s tests check the divisor arithmetic.
#[test]
fn a_card_asking_for_921600_baud_gets_it_announced_and_still_boots_a_kernel() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    {
        let (_qemu, mut line) = loader_with_cmdline("console=serial0,115200 kingly.baud=12345");
        let mut refusal = Vec::new();
        let announcement = chainload::wait_for_loader(&mut line, Instant::now() + Duration::from_secs(60), |text| {
            refusal.extend_from_slice(text)
        })
        .expect("the announcement");
        let refusal = String::from_utf8_lossy(&refusal);
        assert_eq!(announcement.baud, Some(115_200), "{announcement}");
        assert!(
            refusal.contains("KINGLY-LOADER: kingly.baud=12345 in cmdline.txt is not a rate the loader offers")
                && refusal.contains("listening at 115200 baud"),
            "the loader should say why it ignores the card's rate: {refusal:?}"
        );
    }

    let cmdline = kingly::image::config_txt::render_cmdline(921_600);
    let (_qemu, line) = loader_with_cmdline(&format!("coherent_pool=1M 8250.nr_uarts=1 {cmdline}"));
    let mut line: UnixStream = line;
    let announcement = wait_for_announcement(&mut line);
    assert_eq!(announcement.baud, Some(921_600), "{announcement}");
    assert!(announcement.to_string().contains(" baud=921600"), "{announcement}");
    let image = kernel_image();
    let report = send_windowed(&mut line, LoaderBoard::Pi4, LOAD_ADDRESS, &image, announcement.window.unwrap_or(1))
        .expect("the upload");
    let ready = ready_line(&mut line, &report.after);
    assert!(ready.starts_with("kingly ready: board=raspi4b cpus=4 el=1 mmu=on"), "{ready}");
}

/// Image bytes sent through the noisy line before it turns clean.
const NOISY_BYTES: usize = 16 << 10;
