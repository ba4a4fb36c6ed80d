//! QEMU and the run files go when kingly goes: killed by SIGTERM (a handler stops QEMU and
//! removes the files) or by SIGKILL (QEMU's parent-death signal stops it).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The command lines of every process, as (pid, arguments).
fn processes() -> Vec<(u32, Vec<String>)> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let raw = std::fs::read(entry.path().join("cmdline")).ok()?;
            let args =
                raw.split(|&b| b == 0).filter(|a| !a.is_empty()).map(|a| String::from_utf8_lossy(a).into_owned());
            Some((pid, args.collect()))
        })
        .collect()
}

/// The QEMU whose command line mentions `needle`, if one runs (a zombie has an empty cmdline).
fn qemu_with(needle: &str) -> Option<(u32, Vec<String>)> {
    processes().into_iter().find(|(_, args)| {
        args.first().is_some_and(|a| a.contains("qemu-system")) && args.iter().any(|a| a.contains(needle))
    })
}

fn wait_for<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn kill(pid: u32, signal: &str) {
    let status = Command::new("kill").args([&format!("-{signal}"), &pid.to_string()]).status().expect("running kill");
    assert!(status.success(), "kill -{signal} {pid}");
}

fn kernel_image_of(args: &[String]) -> PathBuf {
    let at = args.iter().position(|a| a == "-kernel").expect("-kernel on QEMU's command line");
    PathBuf::from(&args[at + 1])
}

/// Kills kingly with `signal` once its QEMU runs, then checks that QEMU is gone in a few seconds
/// and (for a catchable signal) that `leftovers` are too. Returns the leftovers; `earlier`, what
/// an earlier kingly killed by SIGKILL left, must be gone once this one's QEMU runs.
fn kill_and_check(
    mut kingly: Child,
    needle: &str,
    signal: &str,
    leftovers: impl Fn(&[String]) -> Vec<PathBuf>,
    earlier: &[PathBuf],
) -> Vec<PathBuf> {
    let (qemu_pid, args) = wait_for("QEMU to start", Duration::from_secs(600), || {
        if let Ok(Some(status)) = kingly.try_wait() {
            panic!("kingly exited early with {status}");
        }
        qemu_with(needle)
    });
    for file in earlier {
        assert!(!file.exists(), "{} (left by SIGKILL) survived the next run", file.display());
    }
    let files = leftovers(&args);
    for file in &files {
        assert!(file.exists(), "{} should exist while QEMU runs", file.display());
    }
    kill(kingly.id(), signal);
    let status = kingly.wait().expect("waiting for kingly");
    wait_for(
        &format!("QEMU {qemu_pid} to exit after kingly got SIG{signal} ({status})"),
        Duration::from_secs(5),
        || qemu_with(needle).is_none().then_some(()),
    );
    if signal != "KILL" {
        assert_eq!(status.code(), Some(128 + if signal == "TERM" { 15 } else { 2 }), "{status}");
        for file in &files {
            assert!(!file.exists(), "{} is left behind after SIG{signal}", file.display());
        }
    }
    files
}

fn boot_on_socket(socket: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_kingly"))
        .args(["boot", "--board", "virt", "--serial"])
        .arg(format!("unix:{}", socket.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .expect("starting kingly boot")
}

#[test]
fn killing_kingly_boot_stops_qemu_and_removes_the_run_image() {
    let mut earlier = Vec::new();
    for signal in ["KILL", "TERM", "INT"] {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join(format!("uart-{signal}.sock"));
        let kingly = boot_on_socket(&socket);
        let files =
            kill_and_check(kingly, &socket.to_string_lossy(), signal, |args| vec![kernel_image_of(args)], &earlier);
        earlier = if signal == "KILL" { files } else { Vec::new() };
    }
}

#[test]
fn killing_kingly_mcp_boot_stops_qemu_and_removes_its_directory() {
    let mut earlier = Vec::new();
    for signal in ["KILL", "TERM"] {
        let kingly = Command::new(env!("CARGO_BIN_EXE_kingly"))
            .args(["mcp", "--boot", "virt"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("starting kingly mcp");
        let needle = format!("kingly-mcp-{}", kingly.id());
        let files = kill_and_check(
            kingly,
            &needle,
            signal,
            |args| vec![kernel_image_of(args).parent().expect("the run directory").to_path_buf()],
            &earlier,
        );
        earlier = if signal == "KILL" { files } else { Vec::new() };
    }
}

#[test]
fn an_mcp_client_closing_the_server_stops_qemu_and_removes_its_directory() {
    let mut kingly = Command::new(env!("CARGO_BIN_EXE_kingly"))
        .args(["mcp", "--boot", "virt"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("starting kingly mcp");
    let needle = format!("kingly-mcp-{}", kingly.id());
    let (_, args) = wait_for("QEMU to start", Duration::from_secs(600), || qemu_with(&needle));
    let dir = kernel_image_of(&args).parent().expect("the run directory").to_path_buf();
    drop(kingly.stdin.take());
    let status = kingly.wait().expect("waiting for kingly");
    assert!(status.success(), "{status}");
    wait_for("QEMU to exit after its client left", Duration::from_secs(5), || {
        qemu_with(&needle).is_none().then_some(())
    });
    assert!(!dir.exists(), "{} is left behind", dir.display());
}

#[test]
fn mcp_says_at_once_when_the_kernel_it_booted_died() {
    use std::io::{BufRead, BufReader, Write};
    let mut kingly = Command::new(env!("CARGO_BIN_EXE_kingly"))
        .args(["mcp", "--boot", "virt"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("starting kingly mcp");
    let needle = format!("kingly-mcp-{}", kingly.id());
    let (qemu_pid, _) = wait_for("QEMU to start", Duration::from_secs(600), || qemu_with(&needle));
    let mut stdin = kingly.stdin.take().unwrap();
    let mut replies = BufReader::new(kingly.stdout.take().unwrap()).lines();
    writeln!(stdin, r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"ping","arguments":{{}}}}}}"#)
        .unwrap();
    let first = replies.next().expect("a reply").unwrap();
    assert!(first.contains("\"result\""), "the kernel answers while it runs: {first}");
    kill(qemu_pid, "KILL");
    wait_for("QEMU to die", Duration::from_secs(5), || qemu_with(&needle).is_none().then_some(()));
    let asked = Instant::now();
    writeln!(stdin, r#"{{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{{"name":"ping","arguments":{{}}}}}}"#)
        .unwrap();
    let second = replies.next().expect("a reply").unwrap();
    assert!(asked.elapsed() < Duration::from_secs(2), "took {:?}: {second}", asked.elapsed());
    assert!(second.contains("the kernel this server booted has stopped"), "{second}");
    drop(stdin);
    assert!(kingly.wait().unwrap().success());
}
