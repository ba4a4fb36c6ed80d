//! Runs the whole bpf_conformance suite (../../shared/conformance) with the verifier on, and
//! checks that every malformed encoding and assembler error case is rejected.

use std::fs;
use std::path::{Path, PathBuf};

use kingly_bpf::conformance::{self, Expect};
use kingly_bpf::isa;
use kingly_bpf::verifier::Options;
use kingly_bpf::{Env, FixedPlatform, Interpreter, Program, ProgramType};

fn suite_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance/bpf_conformance")
}

fn data_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "data"))
        .collect();
    files.sort();
    files
}

/// Verifies and runs one test; `Ok(r0)` or a description of where it failed.
fn run_case(case: &conformance::TestCase) -> Result<u64, String> {
    let prog_type = ProgramType::conformance(case.mem.len() as u32);
    let prog = Program::load_slots(case.program.clone(), &prog_type, &[], &Options::default())
        .map_err(|e| format!("rejected: {e}"))?;
    let mut mem = case.mem.clone();
    let mut platform = FixedPlatform::default();
    // The verifier's worst-case path length is the budget: exceeding it would be a bug.
    let bound = prog.stats().worst_case_path_insns;
    let mut env = Env { maps: &mut [], platform: &mut platform, budget_insns: bound };
    Interpreter::new().run(&prog, &mut mem, &mut env).map_err(|e| format!("run error: {e}"))
}

#[test]
fn all_313_tests_pass_with_the_verifier_on() {
    let files = data_files(&suite_dir().join("tests"));
    assert_eq!(files.len(), 313);
    let mut failures = Vec::new();
    for file in &files {
        let text = fs::read_to_string(file).unwrap();
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let case = match conformance::parse(&text) {
            Ok(c) => c,
            Err(e) => {
                failures.push(format!("{name}: parse: {e}"));
                continue;
            }
        };
        match (run_case(&case), &case.expect) {
            (Ok(r0), Expect::Result(want)) if r0 == *want => {}
            (got, want) => failures.push(format!("{name}: got {got:x?}, want {want:x?}")),
        }
    }
    println!("conformance: {} passed, {} failed", files.len() - failures.len(), failures.len());
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn assembler_matches_the_pre_assembled_bytes() {
    let jsonl = fs::read_to_string(suite_dir().join("assembled/tests.jsonl")).unwrap();
    let mut checked = 0;
    for line in jsonl.lines() {
        let field = |key: &str| {
            let start = line.find(&format!("\"{key}\":\"")).unwrap() + key.len() + 4;
            let end = start + line[start..].find('"').unwrap();
            line[start..end].to_string()
        };
        let file = field("file");
        let hex = field("insns");
        let want: Vec<u8> =
            (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect();
        let text = fs::read_to_string(suite_dir().join(&file)).unwrap();
        let case = conformance::parse(&text).unwrap();
        assert_eq!(isa::slots_to_bytes(&case.program), want, "{file}");
        checked += 1;
    }
    assert_eq!(checked, 313);
}

#[test]
fn all_45_unused_field_encodings_are_rejected_with_a_pc() {
    let files: Vec<PathBuf> = data_files(&suite_dir().join("negative"))
        .into_iter()
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("unused-"))
        .collect();
    assert_eq!(files.len(), 45);
    for file in &files {
        let case = conformance::parse(&fs::read_to_string(file).unwrap()).unwrap();
        assert!(matches!(case.expect, Expect::Error(_)));
        let bytes = isa::slots_to_bytes(&case.program);
        let err =
            Program::load(&bytes, &ProgramType::conformance(0)).expect_err(&format!("{} accepted", file.display()));
        assert_eq!(err.pc, 0, "{}: {err}", file.display());
    }
    println!("negative/unused-*: 45/45 rejected");
}

#[test]
fn other_negative_files_behave_as_their_readme_says() {
    let dir = suite_dir().join("negative");
    for file in data_files(&dir) {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("unused-") {
            continue;
        }
        let parsed = conformance::parse(&fs::read_to_string(&file).unwrap());
        match name.as_str() {
            // A runner self-test: the expected value is deliberately wrong.
            "incorrect_return_value_high_bits.data" => {
                let case = parsed.unwrap();
                assert_eq!(run_case(&case), Ok(0x8877665544332211));
                assert_ne!(case.expect, Expect::Result(0x8877665544332211));
            }
            // Reads r0 before writing it: must be refused.
            "error.data" => {
                let case = parsed.unwrap();
                assert!(run_case(&case).unwrap_err().starts_with("rejected"), "{name}");
            }
            // Assembler and file-format errors.
            _ => assert!(parsed.is_err(), "{name} should not assemble: {parsed:?}"),
        }
    }
}
