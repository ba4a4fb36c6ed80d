//! Reaching a kernel that is not there, or whose socket another client holds: the real cause,
//! in under a second (it was a 30 s wait ending in "is this its UART?").

use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// Runs `kingly call ping` on `target`; returns its output and how long it took.
fn call(target: &str) -> (Output, Duration) {
    let started = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_kingly"))
        .args(["call", "ping", "--connect", target])
        .output()
        .expect("running kingly");
    (output, started.elapsed())
}

fn check(target: &str, cause: &str) {
    let (output, took) = call(target);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(cause), "{target}: wanted {cause:?} in {stderr}");
    assert!(took < Duration::from_secs(1), "{target}: took {took:?}: {stderr}");
}

#[test]
fn a_missing_socket_is_named_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("none.sock");
    check(&format!("unix:{}", socket.display()), "no such socket");
}

#[test]
fn a_socket_nobody_listens_on_is_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("stale.sock");
    // Bound, then closed: the file stays, as after a QEMU that was killed.
    drop(std::os::unix::net::UnixListener::bind(&socket).unwrap());
    check(&format!("unix:{}", socket.display()), "connection refused");
}

#[test]
fn a_busy_socket_is_reported_within_a_second() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("busy.sock");
    // Listening, never accepting: what a second client of QEMU's one-client socket meets.
    let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    check(&format!("unix:{}", socket.display()), "is busy");
}
