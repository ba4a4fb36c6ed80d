//! The eBPF JIT inside the kernel under QEMU: all 313 bpf_conformance tests as native code, and
//! JIT against interpreter on random verified programs (identical r0, memory and maps).

use kingly::board::Board;
use kingly_tests::Booted;
use std::time::Duration;

fn run_suite(board: Board, suite: &str, timeout: Duration) -> String {
    let mut kernel = Booted::start(board, &format!("test={suite}")).unwrap();
    let status = kernel.wait_exit(timeout).unwrap();
    assert_eq!(status, 0, "{board} {suite}:\n{}", kernel.output);
    kernel.output.clone()
}

#[test]
fn all_313_conformance_tests_pass_under_the_jit_on_raspi4b() {
    let output = run_suite(Board::Raspi4b, "bpf-jit-conformance", Duration::from_secs(300));
    // 313 conformance tests plus the W^X mapping, RCU retirement and short-context checks.
    assert_eq!(output.matches("... ok").count(), 316, "{output}");
    assert!(output.contains("bpf-jit-conformance: 316 passed, 0 failed"), "{output}");
    assert!(output.contains("test bpf-jit-conformance::a_short_context_is_refused_not_overrun ... ok"), "{output}");
}

#[test]
fn jit_and_interpreter_agree_on_random_verified_programs() {
    let output = run_suite(Board::Raspi4b, "bpf-jit-diff", Duration::from_secs(600));
    let summary = output.lines().find(|l| l.starts_with("bpf-jit-diff: programs=")).unwrap_or_default();
    let fields = kingly_tests::fields(summary);
    assert!(fields.get("accepted").copied().unwrap_or(0) >= 150, "{output}");
    assert_eq!(fields.get("mismatches"), Some(&0), "{output}");
    // The random and pointer comparisons and the three defences against a verifier mistake.
    assert!(output.contains("bpf-jit-diff: 5 passed, 0 failed"), "{output}");
}
