//! `kingly boot` as a user runs it: the contract lines and exit codes of DESIGN.md.

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
    assert!(String::from_utf8_lossy(&smoke.stdout).contains("smoke: 5 passed, 0 failed"));

    let fault = kingly(&["boot", "--board", "raspi4b", "--test", "fault", "--timeout", "120"]);
    assert_eq!(fault.status.code(), Some(3), "{}", text(&fault));
    assert!(String::from_utf8_lossy(&fault.stdout).contains("FAULT on core 0"));

    let unknown = kingly(&["boot", "--board", "virt", "--test", "no-such-suite", "--timeout", "120"]);
    assert_eq!(unknown.status.code(), Some(2), "{}", text(&unknown));
    assert!(text(&unknown).contains("no test suite named 'no-such-suite'"), "{}", text(&unknown));
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
    assert!(text(&out).contains("expected stdio, pty, unix:PATH or file:PATH"), "{}", text(&out));

    let out = kingly(&["boot", "--until-ready", "--test", "smoke"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("exclude each other"), "{}", text(&out));

    let out = kingly(&["boot", "--test", "../../etc"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("suite name"), "{}", text(&out));

    let out = kingly(&["boot", "--kernel", "/nonexistent/kernel.elf"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("/nonexistent/kernel.elf"), "{}", text(&out));
}
