//! `kingly dataset` as a user runs it: `kingly code --eval` writes an attempt log, `kingly
//! dataset` turns it into JSONL, and Hugging Face `datasets` (in the venv `.ci/setup` makes)
//! loads the files with the columns TRL's SFT and DPO trainers read
//! (tests/dataset/load_check.py). Errors name their cause.

use std::path::PathBuf;
use std::process::{Command, Output};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("KINGLY_PYTHON") {
        return p.into();
    }
    let venv = repo().join("target/py/bin/python");
    assert!(
        venv.exists(),
        "the dataset test needs Python with `datasets`: run `bash .ci/setup` (it creates target/py) or set KINGLY_PYTHON"
    );
    venv
}

fn kingly(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kingly")).args(args).current_dir(repo()).output().unwrap()
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

#[test]
fn an_eval_run_becomes_a_dataset_that_hugging_face_datasets_loads() {
    let dir = std::env::temp_dir().join(format!("kingly-dataset-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (run, out) = (dir.join("run"), dir.join("dataset"));
    let (run_s, out_s) = (run.to_str().unwrap(), out.to_str().unwrap());

    let eval = kingly(&["code", "--eval", "tasks/coder-fresh", "--out", run_s]);
    assert!(eval.status.success(), "{}", text(&eval));
    let made = kingly(&[
        "dataset",
        "--logs",
        run_s,
        "--tasks",
        "tasks/coder-fresh",
        "--out",
        out_s,
        "--heldout-percent",
        "30",
    ]);
    assert!(made.status.success(), "{}", text(&made));
    let summary: serde_json::Value = serde_json::from_slice(&made.stdout).unwrap();
    assert_eq!(summary["solved_but_wrong"], 0, "{summary}");
    assert!(summary["sft"]["train"]["asm"].as_u64().unwrap_or(0) > 0, "{summary}");

    let check = Command::new(python()).arg(repo().join("tests/dataset/load_check.py")).arg(&out).output().unwrap();
    let said = text(&check);
    assert!(check.status.success(), "{said}");
    assert!(said.contains("datasets load check: ok"), "{said}");
    assert!(said.contains("sft train:") && said.contains("sft test:"), "both SFT splits load: {said}");
    assert!(said.contains("dpo "), "preference pairs load: {said}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn help_teaches_and_errors_name_the_cause() {
    let help = kingly(&["dataset", "--help"]);
    let said = text(&help);
    assert!(help.status.success(), "{said}");
    for needle in ["attempts.jsonl", "sft-train.jsonl", "dpo-train.jsonl", "data_card.json", "solved", "split"] {
        assert!(said.contains(needle), "--help does not mention {needle}:\n{said}");
    }
    let missing = kingly(&["dataset", "--logs", "/nonexistent/kingly-run", "--tasks", "tasks/coder-fresh"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(text(&missing).contains("/nonexistent/kingly-run does not exist"), "{}", text(&missing));
    // A log whose tasks are in none of the given sets says which sets to pass.
    let dir = std::env::temp_dir().join(format!("kingly-dataset-cli-err-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("attempts.jsonl");
    std::fs::write(&log, "{\"task\":\"elsewhere\",\"task_digest\":\"0123456789abcdef\"}\n").unwrap();
    let unmatched = kingly(&["dataset", "--logs", log.to_str().unwrap(), "--tasks", "tasks/coder-fresh"]);
    assert_eq!(unmatched.status.code(), Some(1));
    assert!(text(&unmatched).contains("--tasks"), "{}", text(&unmatched));
    let _ = std::fs::remove_dir_all(&dir);
}
