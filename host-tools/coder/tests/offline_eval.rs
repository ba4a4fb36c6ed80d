//! The offline synthesizer on the shipped tasks (tasks/coder) and the held-out set
//! (tasks/coder-unseen): at least 80% solved, and no chosen program ever fails an example.

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
    let report = eval::evaluate(&tasks, &mut make, &settings, |row| eprintln!("{} {}", row.task, row.solved)).unwrap();
    println!("{}", report.render());
    let _ = std::fs::remove_dir_all(out);
    report
}

fn check(report: &Report) {
    let total = report.rows.len();
    assert_eq!(report.false_positives(), 0, "a chosen program failed an example");
    assert!(report.solved() * 10 >= total * 8, "solved {}/{} is below 80%", report.solved(), total);
}

#[test]
fn shipped_tasks() {
    let report = run_eval("tasks/coder");
    assert!(report.rows.len() >= 30);
    check(&report);
}

/// Held-out tasks written after the synthesizer was frozen (see scripts/make_coder_unseen_tasks.py).
#[test]
fn unseen_tasks() {
    let report = run_eval("tasks/coder-unseen");
    assert!(report.rows.len() >= 20);
    check(&report);
}
