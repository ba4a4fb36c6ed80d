//! `kingly boot` as a user runs it: the contract lines and exit codes of DESIGN.md.

use std::path::Path;
use std::process::{Command, Output};

fn kingly(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kingly")).args(args).output().expect("running kingly")
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

#[test]
fn until_ready_exits_zero_on_the_ready_line_for_both_boards() {
    for board in ["raspi4b", "virt"] {
        let out = kingly(&["boot", "--board", board, "--until-ready", "--timeout", "120"]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{board}: {}", text(&out));
        let ready = stdout.lines().find(|l| l.starts_with("kingly ready:")).expect("ready line");
        assert!(ready.starts_with(&format!("kingly ready: board={board} cpus=4 el=1 mmu=on heap=")), "{ready}");
    }
}

#[test]
fn test_suites_set_the_exit_status() {
    let smoke = kingly(&["boot", "--board", "virt", "--test", "smoke", "--timeout", "120"]);
    assert_eq!(smoke.status.code(), Some(0), "{}", text(&smoke));
    assert!(String::from_utf8_lossy(&smoke.stdout).contains("smoke: 6 passed, 0 failed"));

    let fault = kingly(&["boot", "--board", "raspi4b", "--test", "fault", "--timeout", "120"]);
    assert_eq!(fault.status.code(), Some(3), "{}", text(&fault));
    assert!(String::from_utf8_lossy(&fault.stdout).contains("FAULT on core 0"));

    let unknown = kingly(&["boot", "--board", "virt", "--test", "no-such-suite", "--timeout", "120"]);
    assert_eq!(unknown.status.code(), Some(2), "{}", text(&unknown));
    assert!(text(&unknown).contains("no test suite named 'no-such-suite'"), "{}", text(&unknown));
}

/// `kingly boot` builds the production kernel unless it runs a suite; that kernel, handed a
/// suite anyway (`--kernel`), refuses it with the reason and status 2.
#[test]
fn a_production_kernel_refuses_to_run_a_suite() {
    let ready = kingly(&["boot", "--board", "virt", "--until-ready", "--timeout", "120"]);
    assert_eq!(ready.status.code(), Some(0), "{}", text(&ready));
    let elf =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/kernel-virt/aarch64-unknown-none/release/kingly-kernel");
    let out =
        kingly(&["boot", "--board", "virt", "--kernel", elf.to_str().unwrap(), "--test", "smoke", "--timeout", "120"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("this kernel was built without test suites"), "{}", text(&out));
}

#[test]
fn until_ready_fails_on_a_timeout() {
    let out = kingly(&["boot", "--board", "virt", "--until-ready", "--timeout", "0.001"]);
    assert_eq!(out.status.code(), Some(124), "{}", text(&out));
    assert!(text(&out).contains("timeout"), "{}", text(&out));
}

#[test]
fn bad_arguments_are_refused_with_a_reason() {
    let out = kingly(&["boot", "--board", "pi9"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("invalid value 'pi9'"), "{}", text(&out));

    let out = kingly(&["boot", "--serial", "tcp:1234"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).contains("expected stdio, pty, unix:PATH, file:PATH, tcp:HOST:PORT or /dev/ttyXXX"),
        "{}",
        text(&out)
    );

    // A board QEMU cannot run needs the chainloader's line; stdio is QEMU's.
    let out = kingly(&["boot", "--board", "pi5", "--chainload"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("--chainload needs --serial /dev/ttyXXX, unix:PATH or tcp:HOST:PORT"),
        "{}",
        text(&out)
    );

    let out = kingly(&["boot", "--until-ready", "--test", "smoke"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("exclude each other"), "{}", text(&out));

    let out = kingly(&["boot", "--test", "../../etc"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("suite name"), "{}", text(&out));

    // Checked before any build: each answers in well under the minute a kernel build takes.
    let started = std::time::Instant::now();
    let out = kingly(&["boot", "--board", "virt", "--test", "no-such-suite"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("no test suite named 'no-such-suite'; suites: smoke"), "{}", text(&out));
    assert!(!text(&out).contains("building"), "{}", text(&out));

    let dir = tempfile::tempdir().unwrap();
    let not_dtb = dir.path().join("board.dtb");
    std::fs::write(&not_dtb, b"this is text, not a flattened device tree").unwrap();
    let out = kingly(&["boot", "--dtb", not_dtb.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("not a device tree blob"), "{}", text(&out));
    let out = kingly(&["boot", "--dtb", "/nonexistent/board.dtb"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("/nonexistent/board.dtb"), "{}", text(&out));
    assert!(started.elapsed() < std::time::Duration::from_secs(10), "argument checks took {:?}", started.elapsed());

    // One board vocabulary: `image`'s pi4 is raspi4b here; pi5 points at `kingly image`.
    let out = kingly(&["boot", "--board", "pi4", "--test", "no-such-suite"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let out = kingly(&["boot", "--board", "pi5"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("kingly image --board pi5"), "{}", text(&out));

    let out = kingly(&["boot", "--kernel", "/nonexistent/kernel.elf"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("/nonexistent/kernel.elf"), "{}", text(&out));
}

/// Without a usable QEMU, and nothing here that could install one, the error names the one
/// command that does, before any kernel build.
#[test]
fn a_missing_qemu_names_the_command_that_installs_it() {
    let out = Command::new(env!("CARGO_BIN_EXE_kingly"))
        .args(["boot", "--board", "virt", "--until-ready"])
        .env("KINGLY_QEMU", "/nonexistent/qemu-system-aarch64")
        .output()
        .expect("running kingly");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let said = text(&out);
    assert!(said.contains("cannot run /nonexistent/qemu-system-aarch64"), "{said}");
    assert!(said.contains("sudo bash .ci/setup --qemu"), "{said}");
    assert!(!said.contains("building the kernel"), "{said}");
}

/// `.ci/setup --check` (what `scripts/test-all.sh` asks first) changes nothing and lists what is
/// missing: here nothing after CI's set-up, and QEMU when the first one on the PATH is Debian
/// 12's own 7.2 (no raspi4b).
#[test]
fn setup_check_lists_what_is_missing() {
    let setup = concat!(env!("CARGO_MANIFEST_DIR"), "/../.ci/setup");
    let out = Command::new("bash").args([setup, "--check"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("nothing missing"), "{}", text(&out));

    let dir = tempfile::tempdir().unwrap();
    let old_qemu = dir.path().join("qemu-system-aarch64");
    std::fs::write(&old_qemu, "#!/bin/sh\necho 'QEMU emulator version 7.2.15 (Debian 1:7.2+dfsg-7)'\n").unwrap();
    std::fs::set_permissions(&old_qemu, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", dir.path().display(), std::env::var("PATH").unwrap());
    let out = Command::new("bash").args([setup, "--check"]).env("PATH", path).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("missing: QEMU >= 9.0"), "{}", text(&out));
    assert!(!text(&out).contains("missing: apt"), "{}", text(&out));
}

/// `kingly boot` on a terminal, typed into as a person does, one key at a time: each key shows
/// as it is typed (the kernel echoes it, kingly passes it on at once), Delete erases, Enter
/// runs the line. The pty is raw, so no echo here comes from the terminal itself.
#[test]
fn the_console_echoes_keys_as_a_person_types_them() {
    use rustix::pty::{grantpt, openpt, ptsname, unlockpt, OpenptFlags};
    use rustix::termios::{tcgetattr, tcsetattr, OptionalActions};
    use std::io::{Read, Write};
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY).unwrap();
    grantpt(&master).unwrap();
    unlockpt(&master).unwrap();
    let name = ptsname(&master, Vec::new()).unwrap();
    let slave = std::fs::OpenOptions::new().read(true).write(true).open(name.to_str().unwrap()).unwrap();
    let mut raw = tcgetattr(&slave).unwrap();
    raw.make_raw();
    tcsetattr(&slave, OptionalActions::Now, &raw).unwrap();

    let mut kingly = Command::new(env!("CARGO_BIN_EXE_kingly"))
        .args(["boot", "--board", "virt", "--timeout", "300"])
        .stdin(slave.try_clone().unwrap())
        .stdout(slave.try_clone().unwrap())
        .stderr(slave)
        .spawn()
        .unwrap();
    let mut master = std::fs::File::from(master);
    let screen = Arc::new(Mutex::new(Vec::<u8>::new()));
    let mut reader = master.try_clone().unwrap();
    let shown = Arc::clone(&screen);
    std::thread::spawn(move || {
        let mut chunk = [0u8; 4096];
        while let Ok(n) = reader.read(&mut chunk) {
            if n == 0 {
                break;
            }
            shown.lock().unwrap().extend_from_slice(&chunk[..n]);
        }
    });
    let wait_for = |what: &[u8], from: usize, within: Duration| -> usize {
        let deadline = Instant::now() + within;
        loop {
            let text = screen.lock().unwrap().clone();
            if let Some(at) = text[from.min(text.len())..].windows(what.len()).position(|w| w == what) {
                return from + at + what.len();
            }
            assert!(
                Instant::now() < deadline,
                "no {:?} on the terminal; it shows:\n{}",
                String::from_utf8_lossy(what),
                String::from_utf8_lossy(&text)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    let type_keys = |master: &mut std::fs::File, keys: &[u8]| {
        for key in keys {
            master.write_all(&[*key]).unwrap();
            std::thread::sleep(Duration::from_millis(60));
        }
    };
    let ready = wait_for(b"kingly ready:", 0, Duration::from_secs(240));
    let ready = wait_for(b"\n", ready, Duration::from_secs(10));
    // Before Enter: the keys are on the screen already.
    type_keys(&mut master, b"pinx");
    let typed = wait_for(b"pinx", ready, Duration::from_secs(30));
    type_keys(&mut master, b"\x7fg\r");
    // (QEMU turns the terminal's output processing back on, so a line may end "\r\r\n".)
    let erased = wait_for(b"\x08 \x08g\r", typed, Duration::from_secs(30));
    wait_for(b"pong", erased, Duration::from_secs(30));
    // Ctrl-C drops a line without running it.
    type_keys(&mut master, b"frobnicate\x03");
    let cancelled = wait_for(b"frobnicate^C\r", erased, Duration::from_secs(30));
    type_keys(&mut master, b"ping\r");
    wait_for(b"pong", cancelled, Duration::from_secs(30));
    let text = String::from_utf8_lossy(&screen.lock().unwrap()).into_owned();
    assert!(!text[cancelled..].contains("unknown command"), "{text}");
    let _ = kingly.kill();
    let _ = kingly.wait();
}
