//! The serial chainloader under QEMU raspi4b: the loader boots from the "card", a kernel
//! arrives over its UART socket (through a clean line and through one that damages 1% of
//! the bytes) and reaches the ready line on four cores; kernels it must not run are refused
//! and the loader waits on for a good one.

use kingly::board::Board;
use kingly::chainload::{self, Refused, UploadReport};
use kingly::client::Transport;
use kingly_proto::chainload::{LoaderBoard, Refusal};
use kingly_tests::{Booted, FaultProxy, FaultRates};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

const LOAD_ADDRESS: u64 = 0x80000;

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

fn send(line: &mut dyn Transport, board: LoaderBoard, address: u64, image: &[u8]) -> anyhow::Result<UploadReport> {
    chainload::upload(line, board, address, image, chainload::frame_timeout(None), |_| {})
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

#[test]
fn a_kernel_sent_to_the_loader_boots_on_four_cores_and_reboot_brings_the_loader_back() {
    let (_qemu, mut line) = loader();
    let announcement = wait_for_announcement(&mut line);
    assert_eq!((announcement.board, announcement.load_address), (LoaderBoard::Pi4, LOAD_ADDRESS));
    let image = kernel_image();
    let report = send(&mut line, LoaderBoard::Pi4, LOAD_ADDRESS, &image).expect("the upload");
    let ready = ready_line(&mut line, &report.after);
    assert!(ready.starts_with("kingly ready: board=raspi4b cpus=4 el=1 mmu=on"), "{ready}");
    println!(
        "clean line: {} bytes in {:.2} s, {} wire bytes ({:.4} wire/payload), {} resends",
        image.len(),
        report.elapsed.as_secs_f64(),
        report.stats.wire_bytes,
        report.stats.wire_bytes as f64 / image.len() as f64,
        report.stats.resends
    );
    // QEMU on a busy machine can be slow enough for a timeout now and then; not for many.
    assert!(report.stats.resends < 20, "{:?}", report.stats);

    // `reboot` on the console resets the board through the watchdog: the loader is back
    // (QEMU reloads the card's image) and takes a second kernel, QEMU never restarted.
    line.send(b"reboot\n").expect("typing reboot");
    let again = wait_for_announcement(&mut line);
    assert_eq!(again.board, LoaderBoard::Pi4);
    let second = send(&mut line, LoaderBoard::Pi4, LOAD_ADDRESS, &image).expect("the second upload");
    assert!(ready_line(&mut line, &second.after).contains("cpus=4"));
}

#[test]
fn a_line_that_damages_one_percent_of_bytes_still_boots_the_kernel() {
    let (_qemu, line) = loader();
    let rates = FaultRates { flip: 0.004, drop: 0.003, duplicate: 0.003 };
    let proxy = FaultProxy::new(line, rates, 0xc4a1).expect("the proxy");
    let mut line = proxy.client_end.try_clone().expect("the proxy's end");
    wait_for_announcement(&mut line);
    let image = kernel_image();
    let report = send(&mut line, LoaderBoard::Pi4, LOAD_ADDRESS, &image).expect("the upload through the noise");
    let ready = ready_line(&mut line, &report.after);
    // The console still passes through the proxy, so the line itself may be damaged: the
    // cores count is what matters.
    assert!(ready.contains("cpus=4"), "{ready}");
    let damaged = proxy.counts.flipped.load(std::sync::atomic::Ordering::Relaxed)
        + proxy.counts.dropped.load(std::sync::atomic::Ordering::Relaxed)
        + proxy.counts.duplicated.load(std::sync::atomic::Ordering::Relaxed);
    println!(
        "1% line: {} bytes in {:.2} s, {} wire bytes, {} resends, {damaged} bytes damaged",
        image.len(),
        report.elapsed.as_secs_f64(),
        report.stats.wire_bytes,
        report.stats.resends
    );
    assert!(damaged > 1000 && report.stats.resends > 100, "the line was not noisy: {damaged} damaged");
}

#[test]
fn kernels_for_another_board_are_refused_and_the_loader_waits_for_a_good_one() {
    let (_qemu, mut line) = loader();
    wait_for_announcement(&mut line);
    let image = kernel_image();
    let refusal = |result: anyhow::Result<UploadReport>| match result {
        Err(error) => *error.downcast_ref::<Refused>().unwrap_or_else(|| panic!("not a refusal: {error:#}")),
        Ok(_) => panic!("the loader took it"),
    };
    let pi5 = refusal(send(&mut line, LoaderBoard::Pi5, LOAD_ADDRESS, &image[..4096]));
    assert_eq!(pi5.0, Refusal::WrongBoard { loader: 1, kernel: 2 });
    assert!(pi5.to_string().contains("the loader runs on pi4 but the kernel was built for pi5"), "{pi5}");
    let virt = refusal(send(&mut line, LoaderBoard::Pi4, 0x4008_0000, &image[..4096]));
    assert!(matches!(virt.0, Refusal::LoadAddress { requested: 0x4008_0000, expected: 0x80000 }), "{virt}");
    let huge = vec![0u8; 40 << 20];
    let too_big = refusal(send(&mut line, LoaderBoard::Pi4, LOAD_ADDRESS, &huge));
    assert!(matches!(too_big.0, Refusal::Size { .. }), "{too_big}");

    let report = send(&mut line, LoaderBoard::Pi4, LOAD_ADDRESS, &image).expect("a good kernel after the refusals");
    assert!(ready_line(&mut line, &report.after).contains("cpus=4"));
}
