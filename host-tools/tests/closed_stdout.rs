//! `kingly … | head`: a reader that stops reading ends kingly quietly, with no panic (exit 101).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

#[test]
fn a_closed_stdout_ends_kingly_quietly() {
    let dir = tempfile::tempdir().unwrap();
    // Far more disassembly than a pipe buffers, so kingly is still writing when the reader goes.
    let program = dir.path().join("long.s");
    std::fs::write(&program, format!("{}exit\n", "mov %r0, 1\n".repeat(50_000))).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_kingly"))
        .args(["bpf", "disasm"])
        .arg(&program)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
    assert!(!first.is_empty());
    // The reader (and with it the pipe's only read end) is gone here, as `head -1` exits.
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_ne!(output.status.code(), Some(101), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(output.status.code(), Some(0), "{stderr}");
}
