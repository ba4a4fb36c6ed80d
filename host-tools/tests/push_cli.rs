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
    // The README's "once" step after a boot already made the key: exit 0, key kept and shown.
    let again = kingly(&["keygen"], &keys);
    assert!(again.status.success(), "{}", text(&again));
    assert!(text(&again).contains("already") && text(&again).contains("--force"), "{}", text(&again));
    assert!(text(&again).contains(public.trim()), "{}", text(&again));
    assert_eq!(std::fs::read_to_string(keys.join("kingly.pub")).unwrap(), public);
    let forced = kingly(&["keygen", "--force"], &keys);
    assert!(forced.status.success());
    assert!(text(&forced).contains("rebuild"), "{}", text(&forced));
    assert_ne!(std::fs::read_to_string(keys.join("kingly.pub")).unwrap(), public);
}

#[test]
fn keygen_into_another_dir_says_how_kernels_would_use_it() {
    let dir = tempfile::tempdir().unwrap();
    let (keys, other) = (dir.path().join("keys"), dir.path().join("elsewhere"));
    let out = kingly(&["keygen", "--dir", other.to_str().unwrap()], &keys);
    assert!(out.status.success(), "{}", text(&out));
    assert!(other.join("kingly.key").exists());
    let said = text(&out);
    assert!(!said.contains("from now on"), "{said}");
    assert!(said.contains("KINGLY_KEY_DIR=") && said.contains("--key-dir"), "{said}");
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
        ("slice_tunable.c", "sched_slice"),
        ("slice_latency.s", "sched_slice"),
    ] {
        let path = if let Some(stem) = file.strip_suffix(".c") {
            let object = dir.path().join(format!("{stem}.o"));
            // BTF-defined maps (SEC(".maps")) are described by .BTF, which only -g writes.
            let btf_maps = std::fs::read_to_string(examples.join(file)).unwrap().contains("SEC(\".maps\")");
            let status = Command::new("clang-14")
                .args(["-target", "bpf", "-O2", if btf_maps { "-g" } else { "-g0" }, "-c"])
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

/// Compiles `source` (C) with clang-14 for BPF into `dir`.
fn compile(dir: &Path, name: &str, source: &str) -> std::path::PathBuf {
    compile_with(dir, name, source, "-g0")
}

/// As [`compile`], with `debug` (`-g` writes the .BTF that BTF-defined maps need).
fn compile_with(dir: &Path, name: &str, source: &str, debug: &str) -> std::path::PathBuf {
    let c = dir.join(format!("{name}.c"));
    std::fs::write(&c, source).unwrap();
    let object = dir.join(format!("{name}.o"));
    let status = Command::new("clang-14")
        .args(["-target", "bpf", "-O2", debug, "-c"])
        .arg(&c)
        .arg("-o")
        .arg(&object)
        .status()
        .expect("clang-14 is required (run .ci/setup)");
    assert!(status.success(), "{name}");
    object
}

#[test]
fn push_refuses_a_hook_that_contradicts_the_section() {
    let dir = tempfile::tempdir().unwrap();
    let program = |section: &str| {
        let name = section.replace('/', "_");
        let source =
            format!("__attribute__((section(\"{section}\"), used)) unsigned long f(void *ctx) {{ return 7; }}\n");
        compile(dir.path(), &name, &source)
    };
    let push = |object: &Path, hook: &str| {
        kingly(&["push", object.to_str().unwrap(), "--hook", hook, "--connect", "unix:/nonexistent/k.sock"], dir.path())
    };
    // The case that replaced a live scheduler policy: a timer program pushed at sched_slice.
    for (section, hook) in [
        ("timer", "sched_slice"),
        ("tool", "timer"),
        ("sched_slice", "sched_cpu"),
        ("decision/mcp_admit", "sched_slice"),
        ("sched_cpu", "tool"),
        ("decision", "tool"),
    ] {
        let out = push(&program(section), hook);
        assert_eq!(out.status.code(), Some(2), "SEC({section}) --hook {hook}: {}", text(&out));
        let said = text(&out);
        assert!(said.contains(&format!("--hook {hook} contradicts")), "{said}");
        assert!(said.contains(&format!("SEC(\"{section}\")")), "{said}");
        assert!(!said.contains("verified locally"), "refused before anything else: {said}");
    }
    // Agreeing sections, and SEC("decision") with any decision hook, get past the check (to the
    // local verifier, then the missing key).
    for (section, hook) in [
        ("timer", "timer"),
        ("tool", "tool"),
        ("sched_slice", "sched_slice"),
        ("decision", "mcp_admit"),
        ("prog", "sched_cpu"),
    ] {
        let out = push(&program(section), hook);
        assert!(!text(&out).contains("contradicts"), "SEC({section}) --hook {hook}: {}", text(&out));
        assert!(text(&out).contains("verified locally"), "SEC({section}) --hook {hook}: {}", text(&out));
    }
}

#[test]
fn btf_map_agents_verify_run_and_push_like_legacy_ones() {
    let dir = tempfile::tempdir().unwrap();
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/agents");
    let source = std::fs::read_to_string(examples.join("slice_tunable.c"))
        .unwrap()
        .replace("#include \"kingly.h\"", &format!("#include \"{}\"", examples.join("kingly.h").display()));
    let object = compile_with(dir.path(), "slice_tunable", &source, "-g");
    let o = object.to_str().unwrap();
    // kingly bpf verify / run: the SEC("sched_slice") types it, the maps come from .BTF.
    let out = kingly(&["bpf", "verify", o], dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("sched_slice: accepted"), "{}", text(&out));
    let out = kingly(&["bpf", "run", "--ctx", "class=1", o], dir.path());
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().last(), Some("0x7d0"), "{}", text(&out));
    // kingly push: verified locally, then stopped by the missing key before any connection.
    let out = kingly(&["push", o, "--hook", "sched_slice", "--connect", "unix:/x"], &dir.path().join("k"));
    assert!(text(&out).contains("verified locally"), "{}", text(&out));
    let out = kingly(&["push", o, "--hook", "mcp_admit", "--connect", "unix:/x"], &dir.path().join("k"));
    assert!(text(&out).contains("--hook mcp_admit contradicts"), "{}", text(&out));

    // Without -g there is no .BTF: both verbs say how to fix the build.
    let plain = compile_with(dir.path(), "slice_tunable_g0", &source, "-g0");
    for line in [
        &["bpf", "verify", plain.to_str().unwrap()][..],
        &["push", plain.to_str().unwrap(), "--hook", "sched_slice", "--connect", "unix:/x"],
    ] {
        let out = kingly(line, dir.path());
        assert!(!out.status.success(), "{line:?}");
        assert!(text(&out).contains("compile with -g"), "{line:?}: {}", text(&out));
    }
    // A map type Kingly lacks is named.
    let ringbuf = source.replace("BPF_MAP_TYPE_PERCPU_ARRAY", "27");
    let object = compile_with(dir.path(), "ringbuf", &ringbuf, "-g");
    let out = kingly(&["bpf", "verify", object.to_str().unwrap()], dir.path());
    assert!(text(&out).contains("map decisions: map type 27 (ringbuf) is not supported"), "{}", text(&out));
}

#[test]
fn unload_detach_and_dump_explain_themselves() {
    let dir = tempfile::tempdir().unwrap();
    let help = text(&kingly(&["unload", "--help"], dir.path()));
    assert!(help.contains("--force") && help.contains("detach it first"), "{help}");
    let help = text(&kingly(&["detach", "--help"], dir.path()));
    assert!(help.contains("--hook") && help.contains("stays loaded"), "{help}");
    let help = text(&kingly(&["agents", "dump", "--help"], dir.path()));
    assert!(help.contains("--xlated") && help.contains("--jited"), "{help}");
    let help = text(&kingly(&["agents", "--help"], dir.path()));
    assert!(help.contains("xlated") && help.contains("dump"), "{help}");
    // dump needs to know which code.
    let out = kingly(&["agents", "dump", "3", "--connect", "unix:/x"], dir.path());
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("--xlated"), "{}", text(&out));
    let out = kingly(&["agents", "dump", "3", "--xlated", "--jited", "--connect", "unix:/x"], dir.path());
    assert!(!out.status.success(), "{}", text(&out));
    // `kingly agents` alone still needs a kernel to ask.
    let out = kingly(&["agents"], dir.path());
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("--connect"), "{}", text(&out));
}

/// Parses stdout as one JSON object.
fn stdout_json(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", String::from_utf8_lossy(&output.stdout)))
}

#[test]
fn json_commands_print_a_json_error_object_when_they_fail() {
    let dir = tempfile::tempdir().unwrap();
    let oob = dir.path().join("oob.s");
    std::fs::write(&oob, "ldxdw %r0, [%r1+64]\nexit\n").unwrap();
    let p = oob.to_str().unwrap();
    // Refused by the local verifier: exit 2 and a JSON object, as before without --json.
    let out =
        kingly(&["push", p, "--hook", "sched_slice", "--json", "--connect", "unix:/nonexistent/k.sock"], dir.path());
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let error = stdout_json(&out);
    assert_eq!(error["status"], "rejected", "{error}");
    assert_eq!(error["exit"], 2, "{error}");
    assert!(error["error"].as_str().unwrap().contains("rejected: "), "{error}");
    // Without --json the same refusal stays text on stderr.
    let out = kingly(&["push", p, "--hook", "sched_slice", "--connect", "unix:/nonexistent/k.sock"], dir.path());
    assert!(out.stdout.is_empty() && text(&out).contains("rejected: "), "{}", text(&out));
    // A missing key (exit 1) and a kernel that is not there: JSON too.
    let ok = dir.path().join("ok.s");
    std::fs::write(&ok, "mov %r0, 1000\nexit\n").unwrap();
    let args = ["push", ok.to_str().unwrap(), "--hook", "sched_slice", "--json", "--connect", "unix:/x"];
    let out = kingly(&args, &dir.path().join("nokeys"));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let error = stdout_json(&out);
    assert_eq!(error["status"], "error", "{error}");
    assert!(error["error"].as_str().unwrap().contains("kingly keygen"), "{error}");
    for args in [
        &["agents", "--json", "--connect", "unix:/nonexistent/k.sock"][..],
        &["unload", "x", "--json", "--connect", "unix:/nonexistent/k.sock"],
        &["detach", "x", "--json", "--connect", "unix:/nonexistent/k.sock"],
        &["agents", "dump", "x", "--xlated", "--json", "--connect", "unix:/nonexistent/k.sock"],
    ] {
        let out = kingly(args, dir.path());
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", text(&out));
        let error = stdout_json(&out);
        assert_eq!(error["status"], "error", "{args:?}: {error}");
        assert!(error["error"].as_str().unwrap().contains("/nonexistent/k.sock"), "{args:?}: {error}");
    }
    // The other --json commands answer errors with the same object (printed by main).
    for (args, says) in [
        (&["rag", "query", "x", "--json", "--index", "/nonexistent/index"][..], "no RAG index"),
        (&["code", "return 1", "--json"], "no examples"),
    ] {
        let out = kingly(args, dir.path());
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", text(&out));
        let error = stdout_json(&out);
        assert_eq!(error["status"], "error", "{args:?}: {error}");
        assert!(error["error"].as_str().unwrap().contains(says), "{args:?}: {error}");
    }
}

/// A `bpf_list` answer as a kernel with the JIT gives it: a long name and several hooks.
fn listed() -> serde_json::Value {
    serde_json::json!({
        "signing": "enforced",
        "programs": [
            {"id": 3, "name": "a_rather_long_scheduling_policy_name_here", "type": "decision",
             "attached": ["sched_slice", "sched_cpu", "mcp_admit"], "engine": "jit", "insns": 14,
             "xlated_insns": 14, "jited_bytes": 232, "jited_insns": 58, "runs": 123456789, "errors": 0,
             "max_insns": 0, "total_ns": 246913578},
            {"id": 12, "name": "crc32", "type": "tool", "attached": [], "engine": "interpreter", "insns": 40,
             "xlated_insns": 40, "jited_bytes": null, "jited_insns": null, "runs": 2, "errors": 1,
             "max_insns": 900, "total_ns": 5000},
        ]
    })
}

#[test]
fn the_agents_table_is_aligned_and_counts_instructions_under_the_jit() {
    let table = kingly::push::agents_table(&listed());
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines[0], "signing: enforced");
    let (header, rows) = (lines[1], &lines[2..]);
    assert_eq!(rows.len(), 2, "{table}");
    // Every column starts (text) or ends (numbers) at the header's position in every row.
    let starts = |line: &str| -> Vec<usize> {
        let mut starts = vec![];
        let bytes = line.as_bytes();
        for i in 0..bytes.len() {
            if bytes[i] != b' ' && (i == 0 || (bytes[i - 1] == b' ' && i >= 2 && bytes[i - 2] == b' ')) {
                starts.push(i);
            }
        }
        starts
    };
    let header_columns = starts(header);
    assert_eq!(header_columns.len(), 12, "{header}");
    for name in ["name", "type", "attached", "engine"] {
        let at = header.find(name).unwrap();
        for row in rows {
            assert!(starts(row).contains(&at), "{name} not at {at} in\n{table}");
        }
    }
    for name in ["xlated", "jited", "a64", "runs", "errors", "max run", "avg ns"] {
        let end = header.find(name).unwrap() + name.len();
        for row in rows {
            assert!(row.len() >= end && row.as_bytes()[end - 1] != b' ', "{name} does not end at {end} in\n{table}");
            assert!(row.len() == end || row.as_bytes()[end] == b' ', "{name} does not end at {end} in\n{table}");
        }
    }
    // Under the JIT the instruction counts are the real ones, not 0.
    let jit_row: Vec<&str> = rows[0].split_whitespace().collect();
    assert_eq!(jit_row[4..9], ["jit", "14", "232", "58", "123456789"], "{table}");
    assert_eq!(jit_row[10], "-", "the JIT counts no instructions per run: {table}");
    let interp_row: Vec<&str> = rows[1].split_whitespace().collect();
    assert_eq!(interp_row[3..], ["-", "interpreter", "40", "-", "-", "2", "1", "900", "2500"], "{table}");
}

#[test]
fn a_program_is_named_by_id_or_name_and_a_wrong_one_lists_what_is_loaded() {
    let list = listed();
    assert_eq!(kingly::push::resolve(&list, "12").unwrap()["name"], "crc32");
    assert_eq!(kingly::push::resolve(&list, "crc32").unwrap()["id"], 12);
    let error = kingly::push::resolve(&list, "slice").unwrap_err().to_string();
    assert_eq!(
        error,
        "refused: no program named slice is loaded; loaded: 3 a_rather_long_scheduling_policy_name_here \
         (sched_slice, sched_cpu, mcp_admit), 12 crc32"
    );
    let error = kingly::push::resolve(&serde_json::json!({"programs": []}), "7").unwrap_err().to_string();
    assert_eq!(error, "refused: no program with id 7 is loaded; nothing is loaded");
}
