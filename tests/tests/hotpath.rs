//! The decision hot path's cost guard (issue #22): one boot of raspi4b under `-icount` runs
//! `decide-bench` and `bpf-jit-bench` (the `hotpath-bench` suite), prints their figures and
//! fails when any figure is more than 10% above its committed count in
//! `tests/fixtures/hotpath-icount.txt`. Guest instruction counts are deterministic under
//! `-icount`, so the margin only absorbs code-layout shifts, not noise.

use kingly::board::Board;
use kingly_tests::{fields, Booted};
use std::collections::HashMap;
use std::time::Duration;

/// Allowed growth over the committed count, in percent.
const MARGIN_PERCENT: u64 = 10;

/// The figures of one bench output line by row name: `decide-bench: a=1 …` is row `decide`,
/// `decide-bench phases: …` row `phases`, `decide-bench trace: …` row `trace`,
/// `bench empty_program: …` row `empty_program`.
fn rows(output: &str) -> HashMap<String, HashMap<String, u64>> {
    let mut rows = HashMap::new();
    for line in output.lines() {
        let Some((head, figures)) = line.split_once(": ") else { continue };
        // The suites' closing `<suite>: N passed, M failed` lines carry no figures.
        if figures.contains(" passed, ") {
            continue;
        }
        let row = match head {
            "decide-bench" => "decide",
            "decide-bench phases" => "phases",
            "decide-bench trace" => "trace",
            _ => match head.strip_prefix("bench ") {
                Some(name) => name,
                None => continue,
            },
        };
        rows.insert(row.to_string(), fields(figures));
    }
    rows
}

/// `(row, figure, expected count)` from the fixture; `#` starts a comment.
fn expected() -> Vec<(String, String, u64)> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/hotpath-icount.txt");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.lines()
        .map(|line| line.split('#').next().unwrap_or_default().trim())
        .filter(|line| !line.is_empty())
        .map(|line| match line.split_whitespace().collect::<Vec<_>>()[..] {
            [row, figure, count] => {
                let count = count.parse().unwrap_or_else(|e| panic!("{path}: {line}: {e}"));
                (row.to_string(), figure.to_string(), count)
            }
            _ => panic!("{path}: want `row figure count`, got {line}"),
        })
        .collect()
}

#[test]
fn hot_path_guest_instructions_stay_within_10_percent_of_the_committed_counts() {
    let expected = expected();
    assert!(!expected.is_empty(), "the fixture lists no counts");
    let mut kernel = Booted::start_counting(Board::Raspi4b, "test=hotpath-bench").unwrap();
    let status = kernel.wait_exit(Duration::from_secs(300)).unwrap();
    assert_eq!(status, 0, "hotpath-bench:\n{}", kernel.output);
    // The figures, for CI's log (run with --nocapture to see them on success).
    for line in kernel.output.lines().filter(|l| l.starts_with("decide-bench") || l.starts_with("bench ")) {
        println!("{line}");
    }
    let measured = rows(&kernel.output);
    let mut failures = Vec::new();
    for (row, figure, want) in &expected {
        let Some(&got) = measured.get(row).and_then(|figures| figures.get(figure)) else {
            failures.push(format!("{row} {figure}: not in the output"));
            continue;
        };
        if got * 100 > want * (100 + MARGIN_PERCENT) {
            failures.push(format!(
                "{row} {figure}: {got} guest instructions, committed {want} (+{MARGIN_PERCENT}% allowed)"
            ));
        } else if got * 100 < want * (100 - MARGIN_PERCENT) {
            println!("note: {row} {figure} is {got}, well under the committed {want}: lower it in the fixture");
        }
    }
    assert!(failures.is_empty(), "hot path regressions:\n{}\n\n{}", failures.join("\n"), kernel.output);
}
