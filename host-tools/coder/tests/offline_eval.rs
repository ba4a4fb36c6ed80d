//! The offline synthesizer on the shipped tasks (tasks/coder) and three held-out sets
//! (tasks/coder-unseen, tasks/coder-heldout, tasks/coder-fresh), scored by `--eval`'s honest
//! rules: the coder sees only part of each task's examples, and a `solved` task must also be
//! right on the held-back examples and the reference examples (a reference implementation on
//! random inputs). No task may be solved but wrong; the floors on `correct` sit a little below
//! the measured counts (33, 20, 23, 9) because the search has time limits.

use std::path::PathBuf;

use kingly_coder::coder::{Generator, OfflineGenerator, Settings};
use kingly_coder::eval::{self, Report};
use kingly_coder::Task;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn run_eval(dir: &str) -> Report {
    let tasks = Task::load_dir(&repo().join(dir)).unwrap();
    let out = std::env::temp_dir().join(format!("kingly-coder-eval-{}-{}", dir.replace('/', "_"), std::process::id()));
    let settings = Settings { out_dir: out.clone(), ..Settings::default() };
    let mut make = || Box::new(OfflineGenerator::default()) as Box<dyn Generator>;
    let report = eval::evaluate(&tasks, &mut make, &settings, |row| {
        eprintln!("{} {} right={:?} {} ms", row.task, row.status.name(), row.right, row.total_ms)
    })
    .unwrap();
    println!("{}", report.render());
    let _ = std::fs::remove_dir_all(out);
    report
}

/// No wrong-but-solved task, and at least `min_correct` of them correct.
fn check(report: &Report, min_correct: usize) {
    let wrong: Vec<String> = report
        .rows
        .iter()
        .filter(|r| r.false_positive)
        .map(|r| format!("{}: {}", r.task, r.wrong_because.clone().unwrap_or_default()))
        .collect();
    assert!(wrong.is_empty(), "solved but wrong: {wrong:#?}\n{}", report.summary());
    assert!(report.correct() >= min_correct, "{} (want at least {min_correct} correct)", report.summary());
}

#[test]
fn shipped_tasks() {
    let report = run_eval("tasks/coder");
    assert!(report.rows.len() >= 30);
    check(&report, 30);
}

/// Held-out tasks written after the synthesizer was frozen (see scripts/make_coder_unseen_tasks.py).
#[test]
fn unseen_tasks() {
    let report = run_eval("tasks/coder-unseen");
    assert!(report.rows.len() >= 20);
    check(&report, 18);
}

/// Held-out tasks with reference implementations (tasks/make_coder_heldout.py), written before
/// the issue-17 ranking changes.
#[test]
fn heldout_tasks() {
    let report = run_eval("tasks/coder-heldout");
    assert!(report.rows.len() >= 20);
    assert!(report.rows.iter().all(|r| r.reference_examples >= 64), "every heldout task has a reference set");
    check(&report, 20);
}

/// A second reference-checked set, written after the DSL additions the heldout set asked for
/// (tasks/make_coder_heldout.py, FRESH), so never used to tune them.
#[test]
fn fresh_tasks() {
    let report = run_eval("tasks/coder-fresh");
    assert!(report.rows.len() >= 12);
    check(&report, 7);
}

/// Written after session 8's first coder changes (tasks/make_coder_late.py).
#[test]
fn late_tasks() {
    let report = run_eval("tasks/coder-late");
    assert!(report.rows.len() >= 20);
    check(&report, 13);
}

/// Written after every session-8 change and run once before the last one (which its
/// short-or-len task prompted: a small constant copied from the outputs is memorising).
#[test]
fn final_tasks() {
    let report = run_eval("tasks/coder-final");
    assert!(report.rows.len() >= 20);
    check(&report, 14);
}

/// Vague text whose few examples fit several programs (tasks/make_coder_vague.py, written
/// before the ambiguity changes): honest answers are ambiguous or unsure, never a wrong solved.
#[test]
fn vague_tasks_are_never_solved_wrong() {
    let report = run_eval("tasks/coder-vague");
    assert!(report.rows.len() >= 12);
    check(&report, 0);
}

/// The check can fail: a task whose reference examples contradict its shown examples (count
/// the spaces, but the reference counts them twice) must come out solved-but-wrong.
#[test]
fn a_wrong_solved_program_is_caught() {
    let dir = std::env::temp_dir().join(format!("kingly-coder-planted-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut text = String::from("description = \"Count the spaces in the input.\"\ntype = \"tool\"\n");
    for (input, spaces) in [("61 20 62", 1), ("20 20", 2), ("", 0), ("61", 0), ("20 61 20 61 20", 3), ("62 20", 1)] {
        text += &format!("\n[[examples]]\ninput = \"{input}\"\noutput = {spaces}\n");
    }
    text += "\n[[reference]]\ninput = \"20 61 20\"\noutput = 4\n";
    std::fs::write(dir.join("planted.toml"), text).unwrap();
    let tasks = Task::load_dir(&dir).unwrap();
    let settings = Settings { out_dir: dir.join("out"), ..Settings::default() };
    let mut make = || Box::new(OfflineGenerator::default()) as Box<dyn Generator>;
    let report = eval::evaluate(&tasks, &mut make, &settings, |_| {}).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let row = &report.rows[0];
    assert!(row.solved, "count(b in ' ') is the plain reading: {}", report.render());
    assert!(row.false_positive && report.false_positives() == 1, "{}", report.render());
    assert!(row.wrong_because.as_deref().unwrap_or("").contains("reference"), "{:?}", row.wrong_because);
}
