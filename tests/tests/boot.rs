//! Boots both boards under QEMU and talks to the kernel over a real serial socket.

use kingly::board::Board;
use kingly_tests::{fields, Booted};
use rand::{Rng, SeedableRng};
use std::time::Duration;

const BOARDS: [Board; 2] = [Board::Raspi4b, Board::Virt];

#[test]
fn ready_line_reports_four_cores_at_el1_with_the_mmu_on() {
    for board in BOARDS {
        let kernel = Booted::boot(board, "").unwrap();
        let ready = kernel.output.lines().find(|l| l.starts_with("kingly ready:")).unwrap().to_string();
        assert!(
            ready.starts_with(&format!("kingly ready: board={} cpus=4 el=1 mmu=on heap=", board.name())),
            "{ready}"
        );
        assert!(fields(&ready)["heap"] > 512 << 20, "heap too small: {ready}");
        assert_eq!(kernel.output.matches("kingly ready:").count(), 1, "ready line printed once");
    }
}

#[test]
fn timer_ticks_on_every_core() {
    for board in BOARDS {
        let mut kernel = Booted::boot(board, "").unwrap();
        let first = fields(&kernel.ask("ticks", "ticks:").unwrap());
        std::thread::sleep(Duration::from_millis(300));
        let second = fields(&kernel.ask("ticks", "ticks:").unwrap());
        for core in ["0", "1", "2", "3"] {
            assert!(second[core] > first[core], "{board}: core {core} did not tick: {first:?} -> {second:?}");
        }
    }
}

#[test]
fn uart_round_trip_echoes_what_the_host_sent() {
    for board in BOARDS {
        let mut kernel = Booted::boot(board, "").unwrap();
        let token = format!("round-trip-{}", std::process::id());
        let line = kernel.ask(&format!("echo {token}"), "round-trip-").unwrap();
        assert_eq!(line, token);
        assert_eq!(kernel.ask("ping", "pong").unwrap(), "pong");
        let unknown = kernel.ask("frobnicate", "error:").unwrap();
        assert!(unknown.contains("unknown command 'frobnicate'"), "{unknown}");
    }
}

#[test]
fn a_64_kib_burst_of_random_bytes_does_not_stop_the_kernel() {
    for board in BOARDS {
        let mut kernel = Booted::boot(board, "").unwrap();
        let mut rng = rand::rngs::StdRng::seed_from_u64(0x6b696e676c79);
        let mut burst = vec![0u8; 64 * 1024];
        rng.fill(&mut burst[..]);
        kernel.send_draining(&burst).unwrap();
        // Whatever the garbage did to the current line, a fresh line must work again.
        kernel.send(b"\n").unwrap();
        // Under TCG random text costs the console far more than plain lines (measured ~10 KB/s
        // on an idle machine), so allow the burst minutes to drain on a loaded CI machine.
        kernel.send_line("ping").unwrap();
        let pong = kernel.wait_for_line(|l| l.starts_with("pong"), Duration::from_secs(240)).unwrap();
        assert_eq!(pong, "pong");
        let stats = fields(&kernel.ask("uart", "uart:").unwrap());
        assert!(stats["rx_bytes"] >= 64 * 1024, "{board}: not every byte was counted: {stats:?}");
        assert!(stats["non_text"] > 10_000, "{board}: garbage not counted as non-text: {stats:?}");
        for key in ["overruns", "framing_errors", "breaks", "ring_drops"] {
            assert!(stats.contains_key(key), "{board}: uart stats lack {key}: {stats:?}");
        }
    }
}

#[test]
fn a_deliberate_fault_is_reported_and_exits_non_zero() {
    for board in BOARDS {
        let mut kernel = Booted::start(board, "test=fault").unwrap();
        let status = kernel.wait_exit(Duration::from_secs(60)).unwrap();
        assert_eq!(status, 3, "{board}: fault exit status; output:\n{}", kernel.output);
        assert!(kernel.output.contains("FAULT on core 0: data abort, same EL"), "{}", kernel.output);
        assert!(kernel.output.contains("FAR=0x0000002000000000"), "{}", kernel.output);
        assert!(kernel.output.contains("translation fault"), "{}", kernel.output);
    }
}

#[test]
fn a_panic_is_reported_and_exits_non_zero() {
    let mut kernel = Booted::start(Board::Virt, "test=panic").unwrap();
    let status = kernel.wait_exit(Duration::from_secs(60)).unwrap();
    assert_eq!(status, 101, "output:\n{}", kernel.output);
    assert!(kernel.output.contains("PANIC on core 0 at "), "{}", kernel.output);
    assert!(kernel.output.contains("deliberate panic"), "{}", kernel.output);
}

#[test]
fn the_in_kernel_smoke_suite_passes_on_both_boards() {
    for board in BOARDS {
        let mut kernel = Booted::start(board, "test=smoke").unwrap();
        let status = kernel.wait_exit(Duration::from_secs(120)).unwrap();
        assert!(kernel.output.contains("smoke: 6 passed, 0 failed"), "{board}:\n{}", kernel.output);
        assert_eq!(status, 0, "{board}:\n{}", kernel.output);
    }
}

#[test]
fn the_elf_entry_path_starts_all_cores_at_el3_and_still_reaches_el1() {
    // QEMU starts an ELF kernel on raspi4b with all four cores at EL3 and no DTB.
    let elf = kingly_tests::kernel(Board::Raspi4b).elf;
    let mut kernel = Booted::start_file(Board::Raspi4b, &elf, "test=smoke").unwrap();
    let status = kernel.wait_exit(Duration::from_secs(120)).unwrap();
    assert!(kernel.output.contains("(entered at EL3, dtb=0x0)"), "{}", kernel.output);
    assert!(kernel.output.contains("kingly ready: board=raspi4b cpus=4 el=1 mmu=on"), "{}", kernel.output);
    assert!(kernel.output.contains("smoke: 6 passed, 0 failed"), "{}", kernel.output);
    assert_eq!(status, 0);
}
