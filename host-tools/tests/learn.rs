//! `kingly trace` and `kingly learn` against a kernel booted by `kingly boot --icount 0` on
//! four emulated cores, as a user runs them: trace on → workload → records read → model fitted
//! → program verified, pushed, evaluated against the default and the hand-written policy, and
//! its decisions seen in the trace and the cache with their provenance.

use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A `kingly boot` stopped (SIGTERM: it stops its QEMU) when the test ends, even by a panic.
struct Booted(std::process::Child);

impl Drop for Booted {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.0.id().to_string()]).status();
        let _ = self.0.wait();
    }
}

fn kingly(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kingly")).args(args).output().expect("running kingly")
}

fn ok(args: &[&str]) -> String {
    let out = kingly(args);
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "kingly {args:?} failed:\n{text}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// CSV rows as (column name → cell) maps.
fn rows(path: &Path) -> Vec<std::collections::HashMap<String, String>> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header: Vec<String> = lines.next().unwrap().split(',').map(str::to_string).collect();
    lines.map(|l| header.iter().cloned().zip(l.split(',').map(str::to_string)).collect()).collect()
}

#[test]
fn traces_learn_push_and_provenance_on_four_cores() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("uart.sock");
    let _kernel = Booted(
        Command::new(env!("CARGO_BIN_EXE_kingly"))
            .args(["boot", "--board", "raspi4b", "--icount", "0", "--serial", &format!("unix:{}", socket.display())])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(600);
    while !socket.exists() {
        assert!(Instant::now() < deadline, "QEMU never opened {}", socket.display());
        std::thread::sleep(Duration::from_millis(50));
    }
    let connect = format!("unix:{}", socket.display());
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let c = ["--connect", connect.as_str(), "--wait", "120"];

    // Tracing the default policy: every record is a decision of program 0 from the cache or
    // the default policy, with what the slice led to.
    let before = path("before.csv");
    ok(&[&["trace", "--hook", "sched_slice", "--run-ms", "300", "--out", &before][..], &c].concat());
    let traced = rows(Path::new(&before));
    assert!(traced.len() > 100, "{} records", traced.len());
    assert!(traced.iter().all(|r| r["program"] == "0" && r["hook"] == "sched_slice"));
    assert!(traced.iter().any(|r| r["source"] == "default") && traced.iter().any(|r| r["source"] == "global"));
    assert!(traced.iter().any(|r| r["ran_us"].parse::<u64>().unwrap() > 0));

    // Explore, fit, verify, evaluate (one short run per policy) and push.
    let learned = path("learned.s");
    let out = ok(&[
        &[
            "learn",
            "--runs",
            "2",
            "--run-ms",
            "500",
            "--mix",
            "mixed",
            "--eval",
            "--eval-runs",
            "1",
            "--eval-mix",
            "mixed",
            "--push",
            "--json",
            "--out",
            &learned,
        ][..],
        &c,
    ]
    .concat());
    let report: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert!(report["samples"].as_u64().unwrap() > 200, "{report}");
    assert!(report["worst_case_insns"].as_u64().unwrap() <= 12, "{report}");
    let id = report["pushed"]["loaded"]["id"].as_u64().unwrap_or_else(|| panic!("{report}"));
    assert!(std::fs::read_to_string(&learned).unwrap().contains("exit"));
    // The evaluation ran the three policies, and the learned one waits far less than the
    // default's 10 ms slices make latency-sensitive tasks wait.
    let eval = report["eval"].as_array().unwrap();
    let p99 = |policy: &str| {
        eval.iter().find(|r| r["policy"] == policy).unwrap()["runs"][0]["latency_p99_us"].as_f64().unwrap()
    };
    assert!(p99("learned") < p99("default") / 2.0, "{report}");
    assert!(p99("hand-written") > 0.0);

    // Its decisions carry its id in the trace, and the cache says it made them.
    let after = path("after.csv");
    ok(&[&["trace", "--hook", "sched_slice", "--run-ms", "300", "--out", &after][..], &c].concat());
    let traced = rows(Path::new(&after));
    let id_text = id.to_string();
    assert!(traced.iter().all(|r| r["program"] == id_text), "a decision made by another program");
    assert!(traced.iter().any(|r| r["source"] == "miss") && traced.iter().any(|r| r["source"] != "miss"));
    let last = traced.iter().max_by_key(|r| r["time_ns"].parse::<u64>().unwrap()).unwrap();
    let fields = format!("[{},{},{},{}]", last["class"], last["task"], last["nice"], last["runnable"]);
    let lookup =
        ok(&[&["call", "cache_lookup", "--args", &format!(r#"{{"hook":"sched_slice","fields":{fields}}}"#)][..], &c]
            .concat());
    let lookup: Value = serde_json::from_str(&lookup).unwrap();
    assert_eq!(lookup["hit"], true, "{lookup}");
    assert_eq!(lookup["made_by"]["program"], id, "{lookup}");
    assert_eq!(lookup["value"].as_u64().unwrap().to_string(), last["decision"], "{lookup}");
}

#[test]
fn learn_refuses_what_it_cannot_do_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let fail = |args: &[&str]| {
        let out = kingly(args);
        assert!(!out.status.success(), "{args:?} succeeded");
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
    };
    assert!(fail(&["learn", "--hook", "mcp_admit", "--traces", "x.csv"]).contains("sched_slice"));
    assert!(fail(&["learn"]).contains("--connect"));
    assert!(fail(&["learn", "--mix", "nope", "--traces", "x.csv"]).contains("unknown mix"));
    let empty = dir.path().join("empty.csv");
    std::fs::write(&empty, "").unwrap();
    assert!(fail(&["learn", "--traces", empty.to_str().unwrap()]).contains("is empty"));
    assert!(fail(&["trace", "--hook", "sched_cpu", "--explore", "--out", "x.csv", "--connect", "unix:/nonexistent"])
        .contains("sched_slice only"));
}
