//! `kingly keygen`, `kingly push` and `kingly agents` as a user runs them, without a kernel:
//! key handling, the local verifier's verdict before anything is sent, clear errors.

use std::path::Path;
use std::process::{Command, Output};

fn kingly(args: &[&str], key_dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kingly"))
        .args(args)
        .env("KINGLY_KEY_DIR", key_dir)
        .output()
        .expect("running kingly")
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

#[test]
fn keygen_writes_a_key_pair_once() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    let first = kingly(&["keygen"], &keys);
    assert!(first.status.success(), "{}", text(&first));
    assert!(text(&first).contains("public key: "), "{}", text(&first));
    let public = std::fs::read_to_string(keys.join("kingly.pub")).unwrap();
    assert_eq!(public.trim().len(), 64);
    let again = kingly(&["keygen"], &keys);
    assert!(!again.status.success());
    assert!(text(&again).contains("--force"), "{}", text(&again));
    assert!(kingly(&["keygen", "--force"], &keys).status.success());
    assert_ne!(std::fs::read_to_string(keys.join("kingly.pub")).unwrap(), public);
}

#[test]
fn push_verifies_locally_before_connecting() {
    let dir = tempfile::tempdir().unwrap();
    let program = dir.path().join("oob.s");
    std::fs::write(&program, "ldxdw %r0, [%r1+64]\nexit\n").unwrap();
    // No kernel at this socket: the local verifier must answer first.
    let args = ["push", program.to_str().unwrap(), "--hook", "sched_slice", "--connect", "unix:/nonexistent/k.sock"];
    let out = kingly(&args, dir.path());
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("rejected: "), "{}", text(&out));

    // Over the hook's budget: a bounded loop too long for sched_slice.
    let slow = dir.path().join("slow.s");
    std::fs::write(&slow, "mov %r0, 0\nmov %r2, 0\nadd %r2, 1\njlt %r2, 5000, -2\nexit\n").unwrap();
    let out = kingly(&["push", slow.to_str().unwrap(), "--hook", "sched_slice", "--connect", "unix:/x"], dir.path());
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("budget"), "{}", text(&out));
}

#[test]
fn push_explains_bad_arguments_and_a_missing_key() {
    let dir = tempfile::tempdir().unwrap();
    let program = dir.path().join("ok.s");
    std::fs::write(&program, "mov %r0, 1000\nexit\n").unwrap();
    let p = program.to_str().unwrap();
    let out = kingly(&["push", p, "--hook", "sched", "--connect", "unix:/x"], dir.path());
    assert!(text(&out).contains("hooks: sched_slice"), "{}", text(&out));
    let out = kingly(&["push", p, "--hook", "sched_slice", "--type", "tool", "--connect", "unix:/x"], dir.path());
    assert!(text(&out).contains("does not fit"), "{}", text(&out));
    let out = kingly(&["push", p, "--hook", "tool", "--name", "Bad-Name", "--connect", "unix:/x"], dir.path());
    assert!(text(&out).contains("bad --name"), "{}", text(&out));
    // Verified, but there is no key yet: say how to make one.
    let out = kingly(&["push", p, "--hook", "sched_slice", "--connect", "unix:/x"], &dir.path().join("nokeys"));
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("kingly keygen"), "{}", text(&out));
    let out = kingly(&["push", "/nonexistent.o", "--hook", "tool", "--connect", "unix:/x"], dir.path());
    assert!(text(&out).contains("reading /nonexistent.o"), "{}", text(&out));
}

#[test]
fn the_examples_pass_the_local_verifier() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/agents");
    let dir = tempfile::tempdir().unwrap();
    for (file, hook) in [
        ("slice_latency.c", "sched_slice"),
        ("admit_ratelimit.c", "mcp_admit"),
        ("crc32.c", "tool"),
        ("timer_stats.c", "timer"),
        ("slice_latency.s", "sched_slice"),
    ] {
        let path = if let Some(stem) = file.strip_suffix(".c") {
            let object = dir.path().join(format!("{stem}.o"));
            let status = Command::new("clang-14")
                .args(["-target", "bpf", "-O2", "-g0", "-c"])
                .arg(examples.join(file))
                .arg("-o")
                .arg(&object)
                .status()
                .expect("clang-14 is required (run .ci/setup)");
            assert!(status.success(), "{file}");
            object
        } else {
            examples.join(file)
        };
        // Verified locally, then the missing key stops it before any connection.
        let out =
            kingly(&["push", path.to_str().unwrap(), "--hook", hook, "--connect", "unix:/x"], &dir.path().join("k"));
        assert!(text(&out).contains("verified locally"), "{file}: {}", text(&out));
    }
}
