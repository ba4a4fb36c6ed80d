//! `kingly code --eval DIR`: every task in a directory, one line each, then the summary.

use std::collections::BTreeMap;
use std::fmt::Write;

use anyhow::Result;

use crate::coder::{self, Generator, RunResult, Settings};
use crate::stages;
use crate::task::Task;

/// One task's row.
#[derive(Clone, Debug)]
pub struct Row {
    pub task: String,
    pub kind: String,
    pub solved: bool,
    /// The chosen program failed an example when re-checked (must never happen).
    pub false_positive: bool,
    pub rounds: usize,
    pub samples: usize,
    pub correct: usize,
    pub first_verified_ms: Option<u64>,
    pub total_ms: u64,
    pub worst_case_insns: Option<u64>,
    pub program: String,
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
            "{:<28} {:<9} {:<7} {:>6} {:>8} {:>9} {:>8}  program",
            "task", "type", "result", "rounds", "ok/cand", "first_ms", "worst"
        );
        for r in &self.rows {
            let _ = writeln!(
                s,
                "{:<28} {:<9} {:<7} {:>6} {:>8} {:>9} {:>8}  {}",
                r.task,
                r.kind,
                if r.false_positive {
                    "FALSE+"
                } else if r.solved {
                    "solved"
                } else {
                    "failed"
                },
                r.rounds,
                format!("{}/{}", r.correct, r.samples),
                r.first_verified_ms.map_or("-".into(), |m| m.to_string()),
                r.worst_case_insns.map_or("-".into(), |w| w.to_string()),
                r.program.chars().take(90).collect::<String>()
            );
        }
        let total = self.rows.len();
        let _ = writeln!(s, "solved {}/{}", self.solved(), total);
        let _ = writeln!(s, "false positives {}", self.false_positives());
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

/// Re-checks a chosen program independently of the loop: verify again, run every example.
fn recheck(task: &Task, result: &RunResult) -> bool {
    let Some(chosen) = &result.chosen else { return true };
    match stages::verify(&chosen.compiled, task.kind) {
        Ok(v) => {
            let report = stages::test(&v, task);
            report.passed == report.total
        }
        Err(_) => false,
    }
}

/// Runs every task; `make` builds a fresh generator per task.
pub fn evaluate(
    tasks: &[Task],
    make: &mut dyn FnMut() -> Box<dyn Generator>,
    settings: &Settings,
    mut progress: impl FnMut(&Row),
) -> Result<Report> {
    let mut report = Report { rows: Vec::new(), k: settings.candidates };
    for task in tasks {
        let mut generator = make();
        let result = coder::run(task, generator.as_mut(), settings, None)?;
        let (samples, correct) = result.samples();
        let fine = recheck(task, &result);
        let row = Row {
            task: task.name.clone(),
            kind: task.hook.map_or(task.kind.name().to_string(), |h| h.name.to_string()),
            solved: result.chosen.is_some() && fine,
            false_positive: result.chosen.is_some() && !fine,
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
