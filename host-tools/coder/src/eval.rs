//! `kingly code --eval DIR`: every task in a directory, one line each, then the summary.
//!
//! Honest by construction: the coder sees only part of each task's examples ([`held_back`]);
//! a `solved` task counts as correct only when the chosen program also gets the held-back
//! examples and the task file's `[[reference]]` examples (a reference implementation on
//! random inputs) right. Solved but wrong is a `wrong`, the number that must stay 0.

use std::collections::BTreeMap;
use std::fmt::Write;

use anyhow::Result;

use crate::coder::{self, Generator, Settings, Status};
use crate::stages;
use crate::task::{Example, Task};

/// One task's row.
#[derive(Clone, Debug)]
pub struct Row {
    pub task: String,
    pub kind: String,
    pub status: Status,
    pub solved: bool,
    /// Solved, but the chosen program fails a held-back example, a reference example or a
    /// re-check: the coder claimed what is not true (must never happen).
    pub false_positive: bool,
    /// The chosen program (whatever the status) passed every held-back and reference example;
    /// `None` when there was no program.
    pub right: Option<bool>,
    /// The first check the chosen program failed.
    pub wrong_because: Option<String>,
    pub examples_seen: usize,
    pub examples_held: usize,
    pub reference_examples: usize,
    pub rounds: usize,
    pub samples: usize,
    pub correct: usize,
    pub first_verified_ms: Option<u64>,
    pub total_ms: u64,
    pub worst_case_insns: Option<u64>,
    pub program: String,
    pub questions: Vec<String>,
    pub error_classes: Vec<String>,
}

/// The whole table.
#[derive(Clone, Debug, Default)]
pub struct Report {
    pub rows: Vec<Row>,
    pub k: usize,
}

/// Unbiased pass@k (Chen et al. 2021): 1 - C(n-c, k) / C(n, k).
pub fn pass_at_k(n: usize, c: usize, k: usize) -> f64 {
    if n == 0 {
        return 0.0;
    }
    if n - c < k {
        return 1.0;
    }
    let mut prod = 1.0;
    for i in (n - c + 1)..=n {
        prod *= 1.0 - k as f64 / i as f64;
    }
    1.0 - prod
}

fn median(mut v: Vec<u64>) -> Option<u64> {
    if v.is_empty() {
        return None;
    }
    v.sort_unstable();
    Some(v[v.len() / 2])
}

impl Report {
    pub fn solved(&self) -> usize {
        self.rows.iter().filter(|r| r.solved).count()
    }
    pub fn false_positives(&self) -> usize {
        self.rows.iter().filter(|r| r.false_positive).count()
    }
    /// Solved and right on every held-back and reference example.
    pub fn correct(&self) -> usize {
        self.rows.iter().filter(|r| r.solved && r.right == Some(true)).count()
    }
    pub fn with_status(&self, status: Status) -> usize {
        self.rows.iter().filter(|r| r.status == status).count()
    }
    pub fn median_total_ms(&self) -> Option<u64> {
        median(self.rows.iter().map(|r| r.total_ms).collect())
    }
    /// `solved N/M, correct K, wrong W, ambiguous A, unsure U, unsupported X`.
    pub fn summary(&self) -> String {
        format!(
            "solved {}/{}, correct {}, wrong {}, ambiguous {}, unsure {}, unsupported {}",
            self.solved(),
            self.rows.len(),
            self.correct(),
            self.false_positives(),
            self.with_status(Status::Ambiguous),
            self.with_status(Status::Unsure),
            self.with_status(Status::Unsupported)
        )
    }
    pub fn pass_at(&self, k: usize) -> f64 {
        let n = self.rows.len().max(1) as f64;
        self.rows.iter().map(|r| pass_at_k(r.samples, r.correct, k.min(r.samples.max(1)))).sum::<f64>() / n
    }
    pub fn median_first_verified_ms(&self) -> Option<u64> {
        median(self.rows.iter().filter_map(|r| r.first_verified_ms).collect())
    }

    pub fn render(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{:<28} {:<11} {:<11} {:>6} {:>8} {:>9} {:>8}  program",
            "task", "type", "result", "rounds", "ok/cand", "first_ms", "worst"
        );
        for r in &self.rows {
            let _ = writeln!(
                s,
                "{:<28} {:<11} {:<11} {:>6} {:>8} {:>9} {:>8}  {}",
                r.task,
                r.kind,
                if r.false_positive { "WRONG" } else { r.status.name() },
                r.rounds,
                format!("{}/{}", r.correct, r.samples),
                r.first_verified_ms.map_or("-".into(), |m| m.to_string()),
                r.worst_case_insns.map_or("-".into(), |w| w.to_string()),
                r.program.chars().take(90).collect::<String>()
            );
        }
        for r in &self.rows {
            if let Some(why) = &r.wrong_because {
                let _ = writeln!(s, "{}: {} program is wrong: {why}", r.task, r.status.name());
            }
            for q in &r.questions {
                let _ = writeln!(s, "{}: question: {q}", r.task);
            }
        }
        let total = self.rows.len();
        let _ = writeln!(s, "{}", self.summary());
        let right_unclaimed = self.rows.iter().filter(|r| !r.solved && r.right == Some(true)).count();
        let _ = writeln!(s, "unclaimed but right {right_unclaimed}");
        let _ = writeln!(
            s,
            "time per task: median {} ms, max {} ms",
            self.median_total_ms().map_or("-".into(), |m| m.to_string()),
            self.rows.iter().map(|r| r.total_ms).max().map_or("-".into(), |m| m.to_string())
        );
        let _ = writeln!(s, "pass@1 {:.3}", self.pass_at(1));
        let _ = writeln!(s, "pass@{} {:.3}", self.k, self.pass_at(self.k));
        let mean_rounds = self.rows.iter().map(|r| r.rounds).sum::<usize>() as f64 / total.max(1) as f64;
        let _ = writeln!(s, "mean rounds {mean_rounds:.2}");
        let ms: Vec<u64> = self.rows.iter().filter_map(|r| r.first_verified_ms).collect();
        let _ = writeln!(
            s,
            "time to first verified program: median {} ms, max {} ms ({} of {} tasks had one)",
            median(ms.clone()).map_or("-".into(), |m| m.to_string()),
            ms.iter().max().map_or("-".into(), |m| m.to_string()),
            ms.len(),
            total
        );
        let mut hist: BTreeMap<String, usize> = BTreeMap::new();
        for r in &self.rows {
            for c in &r.error_classes {
                *hist.entry(c.clone()).or_default() += 1;
            }
        }
        let h: Vec<String> = hist.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let _ = writeln!(s, "error classes: {}", if h.is_empty() { "none".into() } else { h.join(" ") });
        s
    }
}

/// Examples held back from the coder: every fourth of a tool task (indices 3, 7, ...); for
/// decision and timer tasks, whose examples may be a call sequence, the last quarter.
pub fn held_back(task: &Task) -> Vec<usize> {
    let n = task.examples.len();
    if n < 4 {
        return Vec::new();
    }
    match task.kind {
        kingly_bpf::Kind::Tool => (0..n).filter(|i| i % 4 == 3).collect(),
        _ => (n - n / 4..n).collect(),
    }
}

/// The task as the coder sees it: without the held-back examples.
pub fn coder_view(task: &Task) -> Task {
    let held = held_back(task);
    let mut seen = task.clone();
    seen.examples =
        task.examples.iter().enumerate().filter(|(i, _)| !held.contains(i)).map(|(_, e)| e.clone()).collect();
    seen
}

/// Runs a chosen program on `examples` (in order, as one call sequence); the first failure.
fn check_on(task: &Task, chosen: &coder::Passing, examples: &[Example], what: &str) -> Result<(), String> {
    if examples.is_empty() {
        return Ok(());
    }
    let verified = stages::verify(&chosen.compiled, task.kind).map_err(|(_, m)| format!("re-verify: {m}"))?;
    let mut t = task.clone();
    t.examples = examples.to_vec();
    let report = stages::test(&verified, &t);
    if report.passed == report.total {
        Ok(())
    } else {
        Err(format!(
            "{}/{} {what} examples pass; {}",
            report.passed,
            report.total,
            report.failures.first().cloned().unwrap_or_default()
        ))
    }
}

/// Every check `--eval` has on a chosen program: re-verify, every example of the task file
/// (the held-back ones included, in order), then the reference examples.
pub fn check_program(task: &Task, reference: &[Example], chosen: &coder::Passing) -> Result<(), String> {
    check_on(task, chosen, &task.examples, "task")?;
    check_on(task, chosen, reference, "reference")
}

/// Runs every task on its coder view; `make` builds a fresh generator per task.
pub fn evaluate(
    tasks: &[Task],
    make: &mut dyn FnMut() -> Box<dyn Generator>,
    settings: &Settings,
    mut progress: impl FnMut(&Row),
) -> Result<Report> {
    let mut report = Report { rows: Vec::new(), k: settings.candidates };
    for task in tasks {
        let reference = task.reference_examples()?;
        let seen = coder_view(task);
        let mut generator = make();
        let result = coder::run(&seen, generator.as_mut(), settings, None)?;
        let (samples, correct) = result.samples();
        let checked = result.chosen.as_ref().map(|c| check_program(task, &reference, c));
        let solved = result.status == Status::Solved && result.chosen.is_some();
        let row = Row {
            task: task.name.clone(),
            kind: task.hook.map_or(task.kind.name().to_string(), |h| h.name.to_string()),
            status: result.status,
            solved,
            false_positive: solved && !matches!(checked, Some(Ok(()))),
            right: checked.as_ref().map(|c| c.is_ok()),
            wrong_because: checked.and_then(|c| c.err()),
            examples_seen: seen.examples.len(),
            examples_held: task.examples.len() - seen.examples.len(),
            reference_examples: reference.len(),
            rounds: result.rounds,
            samples,
            correct,
            first_verified_ms: result.first_verified_ms,
            total_ms: result.total_ms,
            worst_case_insns: result.chosen.as_ref().map(|c| c.stats.worst_case_path_insns),
            program: result.chosen.as_ref().map_or(String::new(), |c| match &c.candidate.source {
                stages::Source::Dsl(p) => p.render(&task.layout),
                other => format!("({} program)", other.language()),
            }),
            questions: result.questions.iter().map(|q| q.text.clone()).collect(),
            error_classes: result.attempts.iter().filter_map(|a| a.error_class.clone()).collect(),
        };
        progress(&row);
        report.rows.push(row);
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pass_at_k_matches_the_estimator() {
        assert_eq!(pass_at_k(4, 0, 1), 0.0);
        assert_eq!(pass_at_k(4, 4, 1), 1.0);
        assert!((pass_at_k(4, 1, 1) - 0.25).abs() < 1e-9);
        assert!((pass_at_k(4, 1, 4) - 1.0).abs() < 1e-9);
        assert!((pass_at_k(10, 2, 3) - (1.0 - (8.0 * 7.0 * 6.0) / (10.0 * 9.0 * 8.0))).abs() < 1e-9);
    }
}
