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
