//! The pointer fuzzer (`kingly_bpf::ptrgen`): a short deterministic run for CI, a check that the
//! strict oracle catches each kind of planted bug, and the saved findings as regression inputs.
//!
//! `KINGLY_BPF_POINTER_PROGRAMS=N KINGLY_BPF_POINTER_SEED=S` change the CI run's size and seed;
//! long runs use `cargo run --release -p kingly-bpf --example pointer_fuzz`.

use std::path::{Path, PathBuf};

use kingly_bpf::isa::RawInsn;
use kingly_bpf::ptrgen::{self, FindingKind, Shape, Target};
use kingly_bpf::testgen::Rng;
use kingly_bpf::verifier::Options;
use kingly_bpf::{Interpreter, MapDef, Program};

/// Verifier limits for generated programs (as in `random_programs.rs`): small programs, so a
/// tenth of Linux's budget keeps the run fast.
fn options() -> Options {
    Options { max_insns_processed: 100_000, ..Options::default() }
}

#[test]
fn accepted_pointer_programs_run_strictly_without_findings() {
    let count: u64 = std::env::var("KINGLY_BPF_POINTER_PROGRAMS").ok().and_then(|v| v.parse().ok()).unwrap_or(6000);
    let seed: u64 = std::env::var("KINGLY_BPF_POINTER_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(1);
    let mut rng = Rng(seed);
    let mut interp = Interpreter::new();
    let (mut accepted, mut runs) = ([0u64; 3], 0u64);
    let mut findings = Vec::new();
    for n in 0..count {
        let which = (n % 3) as usize;
        let target = Target::ALL[which];
        let shape = Shape::random(&mut rng, target);
        let generated = ptrgen::generate(&mut rng, &shape);
        let Ok(prog) = Program::load_slots(generated.slots, &target.program_type(), &generated.maps, &options()) else {
            continue;
        };
        accepted[which] += 1;
        match ptrgen::check(&prog, target, &mut rng, 3, &mut interp) {
            Ok(stats) => runs += stats.runs,
            Err(finding) => {
                let text = ptrgen::to_file(target, &generated.maps, prog.insns(), &finding.to_string());
                findings.push(format!("program {n} (seed {seed}): {finding}\n{text}"));
            }
        }
    }
    println!(
        "pointer programs: {count} generated, accepted {accepted:?} (decision, tool, conformance), {runs} strict runs"
    );
    assert!(findings.is_empty(), "{} accepted programs misbehave; the first:\n{}", findings.len(), findings[0]);
    for (target, n) in Target::ALL.iter().zip(accepted) {
        assert!(n > count / 3 / 10, "too few accepted {} programs: {n}", target.name());
    }
}

/// Loads `src` without the verifier and returns what the oracle says about it.
fn oracle_verdict(target: Target, maps: &str, src: &str) -> Option<FindingKind> {
    let file = format!("# type: {}\n{maps}\n{src}", target.name());
    let (_, defs, slots) = ptrgen::from_file(&file).unwrap();
    let bytes = kingly_bpf::isa::slots_to_bytes(&slots);
    let prog = Program::load_unverified(&bytes, &target.program_type(), &defs).unwrap();
    ptrgen::check(&prog, target, &mut Rng(5), 3, &mut Interpreter::new()).err().map(|f| f.kind)
}

#[test]
fn the_oracle_catches_planted_bugs() {
    let array = "#map array key=4 value=8 max=2";
    let lookup = "stw [%r10-4], 0\nmov %r2, %r10\nadd %r2, -4\nlddw %r1, map:0\ncall 1\njeq %r0, 0, +2\n";
    use FindingKind::*;
    let cases = [
        // Into the next entry of the same map: inside the map's region, outside the value.
        (Target::Decision, array, format!("{lookup}ldxdw %r0, [%r0+8]\nexit\nexit"), Some(Fault)),
        (Target::Decision, array, format!("{lookup}ldxdw %r0, [%r0+0]\nexit\nexit"), None),
        // A callee's frame after it returned.
        (
            Target::Decision,
            "",
            "call local +2\nldxdw %r0, [%r0+0]\nexit\nstdw [%r10-8], 1\nmov %r0, %r10\nadd %r0, -8\nexit".into(),
            Some(Fault),
        ),
        // Past the packet's actual bytes (64 bytes are proven by no one here).
        (Target::Tool, "", "ldxdw %r2, [%r1+0]\nldxb %r0, [%r2+100]\nexit".into(), Some(Fault)),
        (Target::Decision, "", "mov %r0, %r10\nexit".into(), Some(ReturnsAddress)),
        (Target::Decision, "", "mov %r0, %r1\nsub %r0, %r10\nexit".into(), Some(ResultDependsOnLayout)),
        // Whether ctx + 2^63 wraps depends on where the context is.
        (
            Target::Decision,
            "",
            "mov %r2, %r1\nlddw %r3, 0x8000000000000000\nadd %r2, %r3\nmov %r0, 0\njgt %r2, %r1, +1\nmov %r4, 1\nexit"
                .into(),
            Some(PathDependsOnLayout),
        ),
        (
            Target::Decision,
            array,
            format!("{lookup}stxdw [%r0+0], %r10\nmov %r0, 0\nexit\nexit"),
            Some(MemoryDependsOnLayout),
        ),
        (Target::Conformance, "", "ja -1\nexit".into(), Some(OverBudget)),
        (Target::Conformance, "", "ldxdw %r0, [%r1+24]\nstdw [%r1+0], 3\nexit".into(), None),
    ];
    for (target, maps, src, expected) in cases {
        assert_eq!(oracle_verdict(target, maps, &src), expected, "{}:\n{src}", target.name());
    }
}

/// Reproducers of holes the verifier has closed: `all_findings_are_refused` keeps them closed.
fn findings_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz_findings")
}

/// The `.s` files of `dir`, parsed: (file name, type, maps, slots).
fn saved(dir: &Path) -> Vec<(String, Target, Vec<MapDef>, Vec<RawInsn>)> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut files: Vec<PathBuf> =
        entries.map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|e| e == "s")).collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            let (target, maps, slots) = ptrgen::from_file(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            (path.file_name().unwrap().to_string_lossy().into_owned(), target, maps, slots)
        })
        .collect()
}

/// The names of the files in `dir` the verifier accepts.
fn accepted(dir: &Path) -> Vec<String> {
    saved(dir)
        .into_iter()
        .filter(|(_, target, maps, slots)| {
            Program::load_slots(slots.clone(), &target.program_type(), maps, &Options::default()).is_ok()
        })
        .map(|(name, ..)| name)
        .collect()
}

#[test]
fn saved_findings_parse_and_still_misbehave_when_run() {
    // Each saved file still shows its bug when run unverified (so it stays a real reproducer).
    let files = saved(&findings_dir());
    for (name, target, maps, slots) in &files {
        let bytes = kingly_bpf::isa::slots_to_bytes(slots);
        let prog = Program::load_unverified(&bytes, &target.program_type(), maps).unwrap();
        let mut rng = Rng(1);
        let found = (0..8).any(|_| ptrgen::check(&prog, *target, &mut rng, 3, &mut Interpreter::new()).is_err());
        assert!(found, "{name} no longer misbehaves when run");
    }
    assert!(!files.is_empty(), "no findings saved in {}", findings_dir().display());
}

/// Every program the fuzzer ever caught the verifier accepting stays refused.
#[test]
fn all_findings_are_refused() {
    let accepted = accepted(&findings_dir());
    assert!(accepted.is_empty(), "the verifier still accepts {accepted:?}");
}
