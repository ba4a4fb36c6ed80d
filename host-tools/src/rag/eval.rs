//! Retrieval quality and latency: Recall@5 and MRR on a labelled query set, for BM25, hybrid
//! and a plain ripgrep baseline in the same run, with query latency percentiles.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use serde::Serialize;

use super::query::{Mode, Retriever};
use super::EvalArgs;

/// The built-in tuning set (see the file's header for the format): ranking changes may be
/// judged on it.
pub const BUILTIN_QUERIES: &str = include_str!("eval_queries.tsv");
/// The frozen held-out set, written before the ranking it measures and never tuned on.
pub const HELDOUT_QUERIES: &str = include_str!("eval_heldout.tsv");
/// The second frozen held-out set (English only), written before dense retrieval was tuned.
pub const HELDOUT2_QUERIES: &str = include_str!("eval_heldout2.tsv");
/// Ranks considered for MRR.
const MRR_DEPTH: usize = 10;
/// Timed repetitions of each query for the latency percentiles.
const LATENCY_REPEATS: usize = 5;

/// One labelled query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Labelled {
    /// `ident` or `concept`.
    pub kind: String,
    pub query: String,
    /// A hit whose path starts with one of these is relevant.
    pub relevant: Vec<String>,
}

/// Parses the TSV format: `kind<TAB>query<TAB>prefix|prefix`, `#` comments.
pub fn parse_queries(text: &str) -> Result<Vec<Labelled>> {
    let mut queries = Vec::new();
    for (row, line) in text.lines().enumerate() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split('\t').collect();
        let [kind, query, relevant] = fields[..] else { bail!("line {}: want 3 tab-separated fields", row + 1) };
        queries.push(Labelled {
            kind: kind.to_string(),
            query: query.to_string(),
            relevant: relevant.split('|').map(str::to_string).collect(),
        });
    }
    Ok(queries)
}

/// Rank (1-based) of the first relevant path in `paths`, within [`MRR_DEPTH`].
pub fn first_relevant(paths: &[String], relevant: &[String]) -> Option<usize> {
    paths
        .iter()
        .take(MRR_DEPTH)
        .position(|path| relevant.iter().any(|prefix| path.starts_with(prefix.as_str())))
        .map(|i| i + 1)
}

/// Quality of one system on one class of queries.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Quality {
    pub system: String,
    /// `tuning` or `held-out`.
    pub set: String,
    pub kind: String,
    pub queries: usize,
    pub recall_at_5: f64,
    pub mrr: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
}

/// Per-query outcome, for finding what fails.
#[derive(Clone, Debug, Serialize)]
pub struct Outcome {
    pub system: String,
    pub set: String,
    pub kind: String,
    pub query: String,
    pub rank: Option<usize>,
    pub top: Vec<String>,
}

/// Everything `kingly rag eval` measured.
#[derive(Clone, Debug, Default, Serialize)]
pub struct EvalReport {
    pub quality: Vec<Quality>,
    pub outcomes: Vec<Outcome>,
}

fn percentile(sorted_ms: &[f64], fraction: f64) -> f64 {
    if sorted_ms.is_empty() {
        return 0.0;
    }
    let index = ((sorted_ms.len() - 1) as f64 * fraction).round() as usize;
    sorted_ms[index]
}

/// Runs one system over the queries; `rank_paths` returns ranked paths for a query.
fn measure(
    system: &str,
    (set, queries): (&str, &[Labelled]),
    repeats: usize,
    mut rank_paths: impl FnMut(&str) -> Result<Vec<String>>,
    report: &mut EvalReport,
) -> Result<()> {
    let mut per_kind: std::collections::BTreeMap<String, (Vec<Option<usize>>, Vec<f64>)> = Default::default();
    for labelled in queries {
        let mut paths = Vec::new();
        let entry = per_kind.entry(labelled.kind.clone()).or_default();
        for _ in 0..repeats.max(1) {
            let started = Instant::now();
            paths = rank_paths(&labelled.query)?;
            entry.1.push(started.elapsed().as_secs_f64() * 1e3);
        }
        let rank = first_relevant(&paths, &labelled.relevant);
        entry.0.push(rank);
        report.outcomes.push(Outcome {
            system: system.to_string(),
            set: set.to_string(),
            kind: labelled.kind.clone(),
            query: labelled.query.clone(),
            rank,
            top: paths.into_iter().take(5).collect(),
        });
    }
    for (kind, (ranks, mut latencies)) in per_kind {
        latencies.sort_by(f64::total_cmp);
        let count = ranks.len() as f64;
        report.quality.push(Quality {
            system: system.to_string(),
            set: set.to_string(),
            kind,
            queries: ranks.len(),
            recall_at_5: ranks.iter().filter(|rank| rank.is_some_and(|r| r <= 5)).count() as f64 / count,
            mrr: ranks.iter().map(|rank| rank.map_or(0.0, |r| 1.0 / r as f64)).sum::<f64>() / count,
            p50_ms: percentile(&latencies, 0.5),
            p95_ms: percentile(&latencies, 0.95),
        });
    }
    Ok(())
}

/// Unique paths of hits, in rank order.
fn dedup_paths(paths: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    paths.into_iter().filter(|path| seen.insert(path.clone())).collect()
}

/// Words a baseline `rg` searches for: identifiers as they are, English without stop words.
fn baseline_words(query: &str) -> Vec<String> {
    const SKIP: &[&str] = &[
        "a", "an", "the", "is", "are", "to", "of", "in", "on", "for", "and", "or", "how", "what", "with", "by", "that",
        "do", "does", "between", "struct",
    ];
    query
        .split_whitespace()
        .map(|word| word.trim_matches(|c: char| !(c.is_ascii_alphanumeric() || c == '_')))
        .filter(|word| word.len() > 1 && !SKIP.contains(&word.to_ascii_lowercase().as_str()))
        .map(str::to_string)
        .collect()
}

/// The ripgrep baseline: files ranked by how many lines match any query word (whole words,
/// case-insensitive for English), over the same file types the index takes.
pub fn ripgrep_rank(root: &Path, query: &str) -> Result<Vec<String>> {
    let words = baseline_words(query);
    if words.is_empty() {
        return Ok(Vec::new());
    }
    let mut command = Command::new("rg");
    // `--no-ignore`: the index does not read .gitignore files either (a tree unpacked inside a
    // repository's ignored target/ would otherwise be skipped whole).
    command.current_dir(root).args(["--count", "--word-regexp", "--fixed-strings", "--no-messages", "--no-ignore"]);
    if words.len() > 1 {
        command.arg("--ignore-case");
    }
    for glob in ["*.c", "*.h", "*.S", "*.rst", "*.txt", "Kconfig*"] {
        command.args(["--glob", glob]);
    }
    for word in &words {
        command.args(["-e", word]);
    }
    // The tree is named: with no path and a stdin that is not a terminal, rg searches stdin.
    command.arg(".").stdin(std::process::Stdio::null());
    let output = command.output().context("running rg (apt-get install ripgrep)")?;
    let text = String::from_utf8_lossy(&output.stdout);
    let mut counts: Vec<(u64, String)> = text
        .lines()
        .filter_map(|line| line.rsplit_once(':'))
        .filter_map(|(path, count)| Some((count.parse().ok()?, path.trim_start_matches("./").to_string())))
        .collect();
    counts.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    Ok(counts.into_iter().take(MRR_DEPTH).map(|(_, path)| path).collect())
}

/// Evaluates the retriever (BM25; the default `auto` when the model is there, hybrid when the
/// whole-tree vectors are too)
/// and, unless `baseline` is false, ripgrep, on each named query set in the same run.
pub fn evaluate(retriever: &Retriever, sets: &[(&str, &[Labelled])], baseline: bool) -> Result<EvalReport> {
    evaluate_repeated(retriever, sets, baseline, LATENCY_REPEATS)
}

/// [`evaluate`] with `repeats` timed runs of each query.
pub fn evaluate_repeated(
    retriever: &Retriever,
    sets: &[(&str, &[Labelled])],
    baseline: bool,
    repeats: usize,
) -> Result<EvalReport> {
    let mut report = EvalReport::default();
    let rank = |mode: Mode| {
        move |query: &str| -> Result<Vec<String>> {
            Ok(dedup_paths(retriever.search(query, MRR_DEPTH, mode)?.into_iter().map(|hit| hit.path)))
        }
    };
    for &set in sets {
        measure("bm25", set, repeats, rank(Mode::Bm25), &mut report)?;
        // Query-time reranking alone (the default before dense vectors were built by default).
        if retriever.has_model() {
            measure("rerank", set, repeats, rank(Mode::Rerank), &mut report)?;
        }
        // The default: dense kNN fused with BM25, then reranked, for English questions.
        if retriever.has_model() {
            measure("auto", set, repeats, rank(Mode::Auto), &mut report)?;
        }
        if baseline {
            let root = retriever.source_root().to_path_buf();
            measure("ripgrep", set, 1, |query| ripgrep_rank(&root, query), &mut report)?;
        }
    }
    Ok(report)
}

/// Reads a query set: the file at `path`, else the built-in `builtin`.
fn load_set(path: Option<&Path>, builtin: &str) -> Result<Vec<Labelled>> {
    let text = match path {
        Some(path) => std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?,
        None => builtin.to_string(),
    };
    let queries = parse_queries(&text)
        .with_context(|| format!("parsing {}", path.map_or("the built-in set".into(), |p| p.display().to_string())))?;
    if queries.is_empty() {
        bail!("{}: no queries", path.map_or("the built-in set".into(), |p| p.display().to_string()));
    }
    Ok(queries)
}

/// `kingly rag eval`.
pub fn run(args: &EvalArgs) -> Result<i32> {
    let index_dir = args.index.clone().unwrap_or_else(super::default_index_dir);
    let retriever = Retriever::open(&index_dir)?;
    let tuning = load_set(args.queries.as_deref(), BUILTIN_QUERIES)?;
    let heldout = load_set(args.heldout.as_deref(), HELDOUT_QUERIES)?;
    let heldout2 = load_set(args.heldout2.as_deref(), HELDOUT2_QUERIES)?;
    if let Some(reason) = &retriever.dense_unavailable {
        eprintln!("kingly rag: reranking not evaluated, BM25-only ({reason})");
    }
    let sets: Vec<(&str, &[Labelled])> =
        [("tuning", &tuning[..]), ("held-out", &heldout[..]), ("held-out2", &heldout2[..])]
            .into_iter()
            .filter(|(name, _)| args.sets.is_empty() || args.sets.iter().any(|s| s == name))
            .collect();
    let report = evaluate_repeated(&retriever, &sets, !args.no_baseline, args.repeats)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(0);
    }
    println!("| system | set | queries | n | Recall@5 | MRR@10 | p50 ms | p95 ms |");
    println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
    let mut rows: Vec<&Quality> = report.quality.iter().collect();
    // The sets side by side for each system and kind: tuning, held-out, held-out2.
    let set_order = |set: &str| ["tuning", "held-out", "held-out2"].iter().position(|s| *s == set).unwrap_or(3);
    rows.sort_by(|a, b| (&a.kind, &a.system, set_order(&a.set)).cmp(&(&b.kind, &b.system, set_order(&b.set))));
    for q in rows {
        println!(
            "| {} | {} | {} | {} | {:.3} | {:.3} | {:.2} | {:.2} |",
            q.system, q.set, q.kind, q.queries, q.recall_at_5, q.mrr, q.p50_ms, q.p95_ms
        );
    }
    for outcome in report.outcomes.iter().filter(|o| o.rank.is_none_or(|r| r > 5)) {
        eprintln!(
            "miss [{} {}] {:?} rank {:?}: {:?}",
            outcome.system, outcome.set, outcome.query, outcome.rank, outcome.top
        );
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_set_is_large_enough() {
        let queries = parse_queries(BUILTIN_QUERIES).unwrap();
        assert!(queries.len() >= 60, "{}", queries.len());
        assert!(queries.iter().filter(|q| q.kind == "concept").count() >= 20);
    }

    #[test]
    fn heldout_set_is_large_enough_and_apart_from_tuning() {
        let heldout = parse_queries(HELDOUT_QUERIES).unwrap();
        assert!(heldout.iter().filter(|q| q.kind == "concept").count() >= 60);
        assert!(heldout.iter().filter(|q| q.kind == "ident").count() >= 20);
        let tuning = parse_queries(BUILTIN_QUERIES).unwrap();
        assert!(heldout.iter().all(|q| tuning.iter().all(|t| t.query != q.query)));
    }

    #[test]
    fn heldout2_set_is_large_enough_and_apart_from_the_others() {
        let heldout2 = parse_queries(HELDOUT2_QUERIES).unwrap();
        assert!(heldout2.iter().filter(|q| q.kind == "concept").count() >= 40);
        let others: Vec<Labelled> =
            [BUILTIN_QUERIES, HELDOUT_QUERIES].iter().flat_map(|text| parse_queries(text).unwrap()).collect();
        assert!(heldout2.iter().all(|q| others.iter().all(|o| o.query != q.query)));
    }

    #[test]
    fn rank_of_first_relevant_prefix() {
        let paths = ["a/x.c", "Documentation/RCU/whatisRCU.rst"].map(String::from);
        assert_eq!(first_relevant(&paths, &["Documentation/RCU/".into()]), Some(2));
        assert_eq!(first_relevant(&paths, &["mm/".into()]), None);
    }
}
