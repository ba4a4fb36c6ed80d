//! `kingly learn`: learn a `sched_slice` policy from what the kernel does, compile it to a
//! decision program the verifier accepts, push it, and measure whether it helps.
//!
//! ```text
//! trace_set explore ─► workload_run × mixes × runs ─► trace_read (explored slices + outcomes)
//!   ─► cost of each slice per context ─► best slice per context ─► decision tree (linfa-trees)
//!   ─► nested compares in eBPF ─► kingly_bpf verifier ─► learned_slice.s [--push] [--eval]
//! ```
//!
//! **What it optimises.** While exploring, every `sched_slice` call gets a random slice from
//! the kernel's safe set (whole ticks, 1 to 16 ms), and the trace records, when the slice ends,
//! how long it ran and how long latency-sensitive tasks waited in the queue behind it. For each
//! context (task class, tasks runnable on the core) and slice, the cost is the mean latency a
//! decision imposed that way: the wait this slice added for every latency-sensitive task
//! queued behind it. (Per microsecond run it would not do: behind a CPU-bound task on a busy
//! core a latency-sensitive task is queued for the whole slice, whatever its length, so that
//! ratio is 1 for every slice although the longer slice delays it more.) The chosen slice is
//! the longest whose cost is within a tolerance of the cheapest: as short as the latency
//! objective needs, no shorter (fewer switches). A decision tree of bounded depth is fitted to those
//! choices over the recorded contexts, so contexts never seen get the answer of their
//! neighbours; it compiles to compares on the context fields, without loops, and is checked
//! against the model on every context before it is offered.
//!
//! **Evaluation** (`--eval`) runs the same workload mixes under the default policy (10 ms for
//! every task), a hand-written policy (`examples/agents/slice_latency.c`) and the learned one,
//! interleaved run by run (each attach clears the cache), and prints latency-sensitive tasks'
//! wake-up latency (p50, p99) and CPU-bound throughput, mean and range over the runs. Boot the
//! kernel with `--icount 0` for figures that repeat.

use crate::call::ConnectArgs;
use crate::client::Client;
use crate::keys;
use crate::push::{self, AgentProgram, Target};
use crate::trace_cli::{self, call};
use anyhow::{bail, Context, Result};
use kingly_bpf::hooks::{self, Kind, SCHED_SLICE};
use kingly_bpf::{asm, isa, Program};
use kingly_proto::trace::{Outcome, Record};
use linfa::prelude::*;
use linfa_trees::{DecisionTree, TreeNode};
use ndarray::{Array1, Array2};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Contexts with more runnable tasks than this are pooled with it.
pub const RUNNABLE_CAP: u64 = 8;
/// Explored samples a (context, slice) pair needs before its cost counts.
const MIN_SAMPLES: usize = 3;
/// The name the learned program is loaded under.
pub const LEARNED_NAME: &str = "learned_slice";
const HAND_NAME: &str = "eval_hand_slice";

/// Options of `kingly learn`.
#[derive(clap::Args, Debug, Clone)]
#[command(after_help = "Examples:\n  \
    kingly boot --board raspi4b --icount 0 --serial unix:/tmp/k.sock &\n  \
    kingly learn --connect unix:/tmp/k.sock                      # explore, fit, write learned_slice.s\n  \
    kingly learn --connect unix:/tmp/k.sock --push --eval        # ... load it, compare with the others\n  \
    kingly learn --traces explore.csv --out policy.s             # fit from `kingly trace --explore` output\n\n\
The objective: latency-sensitive tasks' wake-up latency, at the fewest context switches that\n\
keep it low (see the module documentation in host-tools/src/learn.rs). Exploration randomises\n\
slices between 1 and 16 ms while the workload runs, so run it on a kernel you are testing.")]
pub struct LearnArgs {
    /// The hook to learn a policy for (only sched_slice has an exploration range today).
    #[arg(long, default_value = "sched_slice")]
    pub hook: String,
    /// Workload mixes to explore under, comma-separated: mixed, latency, cpu_bound, bursty.
    #[arg(long, value_delimiter = ',', default_value = "mixed,latency")]
    pub mix: Vec<String>,
    /// Exploration runs per mix.
    #[arg(long, default_value_t = 3)]
    pub runs: u32,
    /// Milliseconds per workload run (the trace is read after each; at most 10000).
    #[arg(long, default_value_t = 1000, value_name = "MS")]
    pub run_ms: u64,
    /// Seed of the kernel's exploration generators.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Learn from a CSV that `kingly trace --explore` wrote instead of exploring now.
    #[arg(long, value_name = "CSV")]
    pub traces: Option<PathBuf>,
    /// Also write the explored records to this CSV.
    #[arg(long, value_name = "CSV")]
    pub save_traces: Option<PathBuf>,
    /// Deepest the decision tree may be (each level is one compare on the hot path).
    #[arg(long, default_value_t = 3)]
    pub max_depth: usize,
    /// A slice within this fraction (or 50 µs) of the cheapest slice's latency cost counts as cheap.
    #[arg(long, default_value_t = 0.1)]
    pub tolerance: f64,
    /// Where to write the learned program (eBPF assembly; `kingly push FILE --hook sched_slice`
    /// loads it).
    #[arg(long, short, default_value = "learned_slice.s")]
    pub out: PathBuf,
    /// Sign, load and attach the learned program (as `kingly push`).
    #[arg(long)]
    pub push: bool,
    /// Compare the default policy, the hand-written one and the learned one on the workload.
    #[arg(long)]
    pub eval: bool,
    /// Workload mixes the evaluation runs, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "mixed,bursty")]
    pub eval_mix: Vec<String>,
    /// Evaluation runs per policy and mix.
    #[arg(long, default_value_t = 3)]
    pub eval_runs: u32,
    /// The hand-written policy the evaluation compares with (.c compiled with clang-14, .o or .s).
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
    /// Directory of the signing key (default as kingly push).
    #[arg(long, value_name = "DIR")]
    pub key_dir: Option<PathBuf>,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
    /// The kernel's UART: unix:PATH, tcp:HOST:PORT or a serial device (not needed to learn from
    /// --traces without --push or --eval).
    #[arg(long, value_name = "TARGET")]
    pub connect: Option<String>,
    /// Baud rate for a serial device.
    #[arg(long, default_value_t = 115_200)]
    pub baud: u32,
    /// Seconds to wait for the session and for each answer (a workload run is one answer).
    #[arg(long, default_value_t = 120.0, value_name = "S")]
    pub wait: f64,
}

/// One explored `sched_slice` call.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    pub class: u64,
    pub runnable: u64,
    pub slice_us: u64,
    pub ran_us: u64,
    pub latency_behind_us: u64,
}

/// The explored `sched_slice` calls among `records`.
pub fn samples(records: &[Record]) -> Vec<Sample> {
    records
        .iter()
        .filter(|r| u32::from(r.hook) == SCHED_SLICE.id && r.source == Outcome::Explore as u8)
        .map(|r| Sample {
            class: r.fields[0],
            runnable: r.fields[3].min(RUNNABLE_CAP),
            slice_us: r.decision,
            ran_us: u64::from(r.outcome[0]),
            latency_behind_us: u64::from(r.outcome[3]),
        })
        .collect()
}

/// What the data says about one context.
#[derive(Clone, Debug, PartialEq)]
pub struct Choice {
    pub class: u64,
    pub runnable: u64,
    /// Per explored slice: samples and the mean latency it imposed (µs per decision).
    pub costs: BTreeMap<u64, (usize, f64)>,
    /// The longest slice whose cost is within the tolerance of the cheapest.
    pub slice_us: u64,
    /// Samples of this context.
    pub samples: usize,
}

/// The chosen slice of every context with enough samples of at least one slice.
pub fn choose(samples: &[Sample], tolerance: f64) -> Vec<Choice> {
    let mut by_context: BTreeMap<(u64, u64), BTreeMap<u64, (usize, u64)>> = BTreeMap::new();
    for s in samples {
        let cell = by_context.entry((s.class, s.runnable)).or_default().entry(s.slice_us).or_default();
        cell.0 += 1;
        cell.1 += s.latency_behind_us;
    }
    by_context
        .into_iter()
        .filter_map(|((class, runnable), cells)| {
            let costs: BTreeMap<u64, (usize, f64)> = cells
                .iter()
                .filter(|(_, c)| c.0 >= MIN_SAMPLES)
                .map(|(&slice, &(n, behind))| (slice, (n, behind as f64 / n as f64)))
                .collect();
            let cheapest = costs.values().map(|c| c.1).fold(f64::INFINITY, f64::min);
            // Relative, with a floor of 50 µs so that near-zero costs do not split hairs.
            let bound = cheapest + (cheapest * tolerance).max(50.0);
            let slice_us = costs.iter().filter(|(_, c)| c.1 <= bound).map(|(&s, _)| s).max()?;
            let samples = cells.values().map(|c| c.0).sum();
            Some(Choice { class, runnable, costs, slice_us, samples })
        })
        .collect()
}

/// A learned policy: the tree, the program it compiles to, and how it was chosen.
pub struct Learned {
    pub tree: DecisionTree<f64, usize>,
    /// Slice of each tree label.
    pub actions: Vec<u64>,
    pub choices: Vec<Choice>,
    pub asm: String,
    pub program: AgentProgram,
    pub worst_case_insns: u64,
}

/// Fits a tree of at most `max_depth` levels to the chosen slices (one row per explored
/// sample, so frequent contexts weigh more), compiles it, verifies the program and checks
/// that it answers as the tree on every context up to [`RUNNABLE_CAP`] + 4.
pub fn fit(samples: &[Sample], tolerance: f64, max_depth: usize) -> Result<Learned> {
    if !(1..=8).contains(&max_depth) {
        bail!("--max-depth must be between 1 and 8 (each level is a compare on the hot path)");
    }
    if !(tolerance.is_finite() && tolerance >= 0.0) {
        bail!("--tolerance must be a non-negative number");
    }
    let choices = choose(samples, tolerance);
    if choices.is_empty() {
        bail!(
            "no context has {MIN_SAMPLES} explored samples of any slice ({} samples in all): explore longer (--runs, --run-ms)",
            samples.len()
        );
    }
    let mut actions: Vec<u64> = choices.iter().map(|c| c.slice_us).collect();
    actions.sort_unstable();
    actions.dedup();
    let label = |slice: u64| actions.iter().position(|&a| a == slice).unwrap_or(0);
    let chosen: BTreeMap<(u64, u64), usize> =
        choices.iter().map(|c| ((c.class, c.runnable), label(c.slice_us))).collect();
    let rows: Vec<(f64, f64, usize)> = samples
        .iter()
        .filter_map(|s| chosen.get(&(s.class, s.runnable)).map(|&l| (s.class as f64, s.runnable as f64, l)))
        .collect();
    let x = Array2::from_shape_vec((rows.len(), 2), rows.iter().flat_map(|r| [r.0, r.1]).collect())?;
    let y = Array1::from_vec(rows.iter().map(|r| r.2).collect());
    let dataset = Dataset::new(x, y);
    let tree = DecisionTree::params()
        .max_depth(Some(max_depth))
        .fit(&dataset)
        .map_err(|e| anyhow::anyhow!("fitting the decision tree: {e}"))?;
    let asm = compile(tree.root_node(), &actions)?;
    let slots = asm::assemble(&asm).context("assembling the learned program")?;
    let verified = Program::load_slots(slots.clone(), &Kind::Decision.program_type(), &[], &Default::default())
        .map_err(|e| anyhow::anyhow!("the verifier refused the learned program: {e}"))?;
    let worst_case_insns = verified.stats().worst_case_path_insns;
    if worst_case_insns > SCHED_SLICE.budget_insns {
        bail!("the learned program's worst case ({worst_case_insns}) exceeds sched_slice's budget");
    }
    // The program must say what the tree says, everywhere the kernel may ask.
    let mut interpreter = kingly_bpf::Interpreter::new();
    for class in 0..3u64 {
        for runnable in 0..=RUNNABLE_CAP + 4 {
            let predicted =
                actions[tree.predict(&Array2::from_shape_vec((1, 2), vec![class as f64, runnable as f64])?)[0]];
            let mut ctx = hooks::decision_context(SCHED_SLICE.id, 0, 0, [class, 9, 0, runnable]);
            let mut platform = kingly_bpf::interp::FixedPlatform::default();
            let mut env = kingly_bpf::Env { maps: &mut [], platform: &mut platform, budget_insns: 1 << 16 };
            let answer = interpreter.run(&verified, &mut ctx, &mut env).map_err(|e| anyhow::anyhow!("{e:?}"))?;
            if answer != predicted {
                bail!("the compiled program answers {answer} for class {class}, runnable {runnable}; the tree {predicted}");
            }
        }
    }
    let program = AgentProgram { bytecode: isa::slots_to_bytes(&slots), maps: Vec::new() };
    Ok(Learned { tree, actions, choices, asm, program, worst_case_insns })
}

/// The tree as eBPF assembly: the two fields into r2 (class) and r3 (runnable), then one
/// `jge` per internal node (the tree sends `x < split` left) and `mov r0, slice; exit` per leaf.
pub fn compile(root: &TreeNode<f64, usize>, actions: &[u64]) -> Result<String> {
    let class = SCHED_SLICE.field_offset("class").context("sched_slice has no class field")?;
    let runnable = SCHED_SLICE.field_offset("runnable").context("sched_slice has no runnable field")?;
    let mut body = Vec::new();
    emit(root, actions, &mut body)?;
    let mut lines = vec![
        "# sched_slice policy learned by `kingly learn` from explored decisions".to_string(),
        format!("ldxdw %r2, [%r1+{class}]"),
        format!("ldxdw %r3, [%r1+{runnable}]"),
    ];
    lines.extend(body);
    Ok(lines.join("\n") + "\n")
}

fn emit(node: &TreeNode<f64, usize>, actions: &[u64], out: &mut Vec<String>) -> Result<()> {
    if node.is_leaf() {
        let label = node.prediction().context("a leaf without a prediction")?;
        let slice = actions.get(label).context("a leaf with an unknown label")?;
        out.push(format!("mov %r0, {slice}"));
        out.push("exit".to_string());
        return Ok(());
    }
    let (feature, split, _) = node.split();
    let register = match feature {
        0 => "%r2",
        1 => "%r3",
        other => bail!("the tree split on feature {other}; it has two"),
    };
    let children = node.children();
    let (Some(left), Some(right)) = (children[0].as_deref(), children[1].as_deref()) else {
        bail!("an internal node without two children");
    };
    // Integer fields: x < split  <=>  x < ceil(split); a split at or below 0 sends all right.
    let threshold = split.ceil().max(0.0);
    if threshold == 0.0 {
        return emit(right, actions, out);
    }
    let mut left_code = Vec::new();
    emit(left, actions, &mut left_code)?;
    out.push(format!("jge {register}, {}, +{}", threshold as u64, left_code.len()));
    out.extend(left_code);
    emit(right, actions, out)
}

/// Reads a policy program: .c compiled with clang-14, or what `kingly push` reads.
fn read_policy(path: &Path) -> Result<AgentProgram> {
    if path.extension().and_then(|e| e.to_str()) != Some("c") {
        return push::read_program(path, None);
    }
    let out = std::env::temp_dir().join(format!("kingly-learn-{}.o", std::process::id()));
    let include = path.parent().unwrap_or(Path::new("."));
    let status = std::process::Command::new("clang-14")
        .args(["-target", "bpf", "-O2", "-g0", "-c"])
        .arg("-I")
        .arg(include)
        .arg(path)
        .arg("-o")
        .arg(&out)
        .status()
        .context("running clang-14 to compile the baseline policy (install clang-14, or pass a .o or .s)")?;
    if !status.success() {
        bail!("clang-14 could not compile {}", path.display());
    }
    let program = push::read_program(&out, None);
    let _ = std::fs::remove_file(&out);
    program
}

fn default_baseline() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/agents/slice_latency.c")
}

/// One evaluation run's figures.
#[derive(Clone, Debug, PartialEq)]
pub struct RunFigures {
    pub latency_p50_us: f64,
    pub latency_p99_us: f64,
    pub cpu_per_second: f64,
    pub switches: f64,
}

fn figures(report: &Value) -> Result<RunFigures> {
    let latency = &report["classes"]["latency"]["latency_us"];
    let number =
        |v: &Value, what: &str| v.as_f64().with_context(|| format!("workload_run report without {what}: {report}"));
    Ok(RunFigures {
        latency_p50_us: number(&latency["p50"], "latency p50")?,
        latency_p99_us: number(&latency["p99"], "latency p99")?,
        cpu_per_second: number(&report["classes"]["cpu_bound"]["per_second"], "cpu_bound per_second")?,
        switches: number(&report["context_switches"], "context_switches")?,
    })
}

/// A policy under evaluation.
enum Policy<'a> {
    Default,
    Program(&'a str, &'a AgentProgram),
}

/// Mean and range of `values`.
fn spread(values: &[f64]) -> (f64, f64, f64) {
    let mean = values.iter().sum::<f64>() / values.len().max(1) as f64;
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (mean, min, max)
}

/// Runs the evaluation: every run, each policy in turn (attached afresh, so its cache starts
/// empty) on each mix. Returns rows of (policy, mix, figures of every run).
fn evaluate(
    client: &mut Client,
    key: &ed25519_dalek::SigningKey,
    hand: &AgentProgram,
    learned: &AgentProgram,
    mixes: &[String],
    runs: u32,
    run_ms: u64,
) -> Result<Vec<(String, String, Vec<RunFigures>)>> {
    let policies = [
        ("default", Policy::Default),
        ("hand-written", Policy::Program(HAND_NAME, hand)),
        ("learned", Policy::Program(LEARNED_NAME, learned)),
    ];
    let mut rows: Vec<(String, String, Vec<RunFigures>)> = Vec::new();
    for run in 1..=runs {
        for mix in mixes {
            for (name, policy) in &policies {
                eprintln!("learn: eval run {run}/{runs}, {mix}, {name} policy");
                match policy {
                    Policy::Default => {
                        call(client, "bpf_detach", json!({"hook": SCHED_SLICE.name}))?;
                    }
                    Policy::Program(program_name, program) => {
                        push::push(
                            client,
                            key,
                            Kind::Decision,
                            Target::Decision(SCHED_SLICE),
                            program_name,
                            program,
                            0,
                            0,
                        )?;
                        // Pushing the same program again keeps it attached without a swap:
                        // clear its decisions so every run starts from an empty cache.
                        call(client, "cache_invalidate", json!({"hook": SCHED_SLICE.name}))?;
                    }
                }
                let report = trace_cli::workload(client, run_ms, mix)?;
                let figures = figures(&report)?;
                match rows.iter_mut().find(|r| r.0 == *name && r.1 == *mix) {
                    Some(row) => row.2.push(figures),
                    None => rows.push((name.to_string(), mix.clone(), vec![figures])),
                }
            }
        }
    }
    Ok(rows)
}

fn eval_table(rows: &[(String, String, Vec<RunFigures>)]) -> String {
    let mut out = String::from(
        "| policy | mix | latency p50 µs (mean, range) | latency p99 µs (mean, range) | cpu_bound iterations/s (mean, range) | switches |\n|---|---|---|---|---|---|\n",
    );
    for (policy, mix, runs) in rows {
        let col = |f: fn(&RunFigures) -> f64| {
            let (mean, min, max) = spread(&runs.iter().map(f).collect::<Vec<_>>());
            format!("{mean:.0} ({min:.0}–{max:.0})")
        };
        out.push_str(&format!(
            "| {policy} | {mix} | {} | {} | {} | {} |\n",
            col(|r| r.latency_p50_us),
            col(|r| r.latency_p99_us),
            col(|r| r.cpu_per_second),
            col(|r| r.switches)
        ));
    }
    out
}

fn eval_json(rows: &[(String, String, Vec<RunFigures>)]) -> Value {
    json!(rows
        .iter()
        .map(|(policy, mix, runs)| json!({
            "policy": policy,
            "mix": mix,
            "runs": runs.iter().map(|r| json!({"latency_p50_us": r.latency_p50_us, "latency_p99_us": r.latency_p99_us, "cpu_per_second": r.cpu_per_second, "switches": r.switches})).collect::<Vec<_>>(),
        }))
        .collect::<Vec<_>>())
}

fn check_mixes(mixes: &[String], flag: &str) -> Result<()> {
    for mix in mixes {
        if kingly_proto::contract::Mix::by_name(mix).is_none() {
            bail!("{flag}: unknown mix {mix:?}; mixes are {}", kingly_proto::contract::Mix::NAMES.join(", "));
        }
    }
    Ok(())
}

/// Runs `kingly learn`.
pub fn run(args: &LearnArgs) -> Result<i32> {
    push::finish(args.json, learn(args))
}

fn learn(args: &LearnArgs) -> Result<i32> {
    let hook = trace_cli::decision_hook(&args.hook)?;
    if hook.id != SCHED_SLICE.id {
        bail!("kingly learn learns sched_slice policies: only sched_slice has a safe range to explore");
    }
    check_mixes(&args.mix, "--mix")?;
    check_mixes(&args.eval_mix, "--eval-mix")?;
    if !(10..=10_000).contains(&args.run_ms) {
        bail!("--run-ms must be between 10 and 10000");
    }
    let needs_kernel = args.traces.is_none() || args.push || args.eval;
    let mut client = match (&args.connect, needs_kernel) {
        (Some(connect), true) => {
            Some(ConnectArgs { connect: connect.clone(), baud: args.baud, wait: args.wait }.client()?)
        }
        (None, true) => bail!("--connect is needed to explore, --push or --eval (or learn from --traces)"),
        _ => None,
    };
    let records = match (&args.traces, client.as_mut()) {
        (Some(path), _) => trace_cli::read_csv(path)?,
        (None, Some(client)) => {
            let progress = |text: &str| eprintln!("learn: exploring, {text}");
            let collected = trace_cli::collect(
                client,
                hook,
                true,
                Some(args.seed),
                &args.mix,
                args.runs.max(1),
                args.run_ms,
                &progress,
            )?;
            eprintln!("learn: {} records (kernel trace counters: {})", collected.records.len(), collected.counters);
            collected.records
        }
        (None, None) => unreachable!("a kernel is connected when there is no --traces"),
    };
    if let Some(path) = &args.save_traces {
        trace_cli::write_csv(path, hook, &records)?;
    }
    let samples = samples(&records);
    let learned = fit(&samples, args.tolerance, args.max_depth)?;
    std::fs::write(&args.out, &learned.asm).with_context(|| format!("writing {}", args.out.display()))?;
    let mut result = json!({
        "samples": samples.len(),
        "contexts": learned.choices.iter().map(|c| json!({
            "class": c.class,
            "runnable": c.runnable,
            "samples": c.samples,
            "slice_us": c.slice_us,
            "cost_per_slice": c.costs.iter().map(|(s, (n, cost))| json!({"slice_us": s, "samples": n, "latency_behind_us": cost})).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "tree_depth": learned.tree.max_depth(),
        "tree_leaves": learned.tree.num_leaves(),
        "insns": learned.program.bytecode.len() / 8,
        "worst_case_insns": learned.worst_case_insns,
        "program": args.out.display().to_string(),
    });
    if !args.json {
        println!(
            "learned from {} explored slices: a tree of depth {} with {} leaves, {} instructions (worst case {}), written to {}",
            samples.len(),
            learned.tree.max_depth(),
            learned.tree.num_leaves(),
            learned.program.bytecode.len() / 8,
            learned.worst_case_insns,
            args.out.display()
        );
        for c in &learned.choices {
            let costs: Vec<String> = c.costs.iter().map(|(s, (n, cost))| format!("{s}:{cost:.0}(n={n})")).collect();
            println!(
                "  class {} runnable {}{}: {} µs  [mean µs of latency behind a slice, by slice: {}]",
                kingly_bpf::hooks::class::NAMES.get(c.class as usize).copied().unwrap_or("?"),
                c.runnable,
                if c.runnable == RUNNABLE_CAP { "+" } else { "" },
                c.slice_us,
                costs.join(" ")
            );
        }
    }
    if args.push || args.eval {
        let client = client.as_mut().context("--push and --eval need --connect")?;
        let key = keys::load_signing(&args.key_dir.clone().unwrap_or_else(keys::default_dir))?;
        if args.eval {
            let hand = read_policy(&args.baseline.clone().unwrap_or_else(default_baseline))?;
            let before = call(client, "bpf_list", json!({}))?.0;
            let attached_before = before["programs"].as_array().and_then(|programs| {
                programs
                    .iter()
                    .find(|p| p["attached"].as_array().is_some_and(|a| a.iter().any(|h| h == SCHED_SLICE.name)))
            });
            let attached_before = attached_before.and_then(|p| p["id"].as_u64());
            let rows =
                evaluate(client, &key, &hand, &learned.program, &args.eval_mix, args.eval_runs.max(1), args.run_ms)?;
            if !args.json {
                println!("\n{}", eval_table(&rows));
            }
            result["eval"] = eval_json(&rows);
            // Leave the hook as it was, unless --push asked for the learned policy.
            if !args.push {
                match attached_before {
                    Some(id) => call(client, "bpf_attach", json!({"id": id, "hook": SCHED_SLICE.name}))?.0,
                    None => call(client, "bpf_detach", json!({"hook": SCHED_SLICE.name}))?.0,
                };
            }
        }
        if args.push {
            let report = push::push(
                client,
                &key,
                Kind::Decision,
                Target::Decision(SCHED_SLICE),
                LEARNED_NAME,
                &learned.program,
                0,
                0,
            )?;
            if !args.json {
                println!("pushed {LEARNED_NAME} as program {} at sched_slice", report["loaded"]["id"]);
            }
            result["pushed"] = report;
        }
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&result)?);
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn explored(class: u64, runnable: u64, slice_us: u64, ran_us: u64, behind: u64) -> Sample {
        Sample { class, runnable, slice_us, ran_us, latency_behind_us: behind }
    }

    /// Behind a CPU-bound task's slice, waiters arrive at a steady rate and wait on average
    /// half the slice, so the latency imposed per µs run grows with the slice; latency-sensitive
    /// tasks sleep after a moment and make nobody wait. The learner picks the shortest slice for the first and the
    /// longest for the second, and the program answers as the tree does.
    fn synthetic() -> Vec<Sample> {
        let mut samples = Vec::new();
        for runnable in 0..4 {
            for slice in [1000, 2000, 4000, 8000, 16000] {
                for i in 0..5 {
                    samples.push(explored(0, runnable, slice, slice, slice * slice * (runnable + 1) / 16_000 + i));
                    samples.push(explored(2, runnable, slice, 40, 0));
                }
            }
        }
        samples
    }

    #[test]
    fn learns_short_slices_for_cpu_bound_and_long_for_latency_tasks() {
        let learned = fit(&synthetic(), 0.1, 3).unwrap();
        for c in &learned.choices {
            match c.class {
                0 => assert_eq!(c.slice_us, 1000, "{c:?}"),
                _ => assert_eq!(c.slice_us, 16000, "{c:?}"),
            }
        }
        assert!(learned.asm.contains("jge %r2, 1, +") || learned.asm.contains("jge %r2, 2, +"), "{}", learned.asm);
        assert!(learned.worst_case_insns <= 12, "{}", learned.worst_case_insns);
    }

    #[test]
    fn too_little_data_is_an_error_that_says_what_to_do() {
        let err = fit(&[explored(0, 0, 1000, 1000, 5)], 0.1, 3).err().unwrap().to_string();
        assert!(err.contains("explore longer"), "{err}");
        assert!(fit(&synthetic(), 0.1, 0).is_err());
        assert!(fit(&synthetic(), f64::NAN, 3).is_err());
    }

    #[test]
    fn only_explored_sched_slice_records_are_samples() {
        let base = Record {
            hook: 0,
            source: Outcome::Explore as u8,
            fields: [2, 5, 0, 30],
            decision: 4000,
            outcome: [3900, 1, 0, 77],
            ..Default::default()
        };
        let records = [base, Record { source: Outcome::L1 as u8, ..base }, Record { hook: 1, ..base }];
        assert_eq!(samples(&records), vec![explored(2, RUNNABLE_CAP, 4000, 3900, 77)]);
    }

    #[test]
    fn table_gives_mean_and_range() {
        let run =
            |p99: f64| RunFigures { latency_p50_us: 10.0, latency_p99_us: p99, cpu_per_second: 5.0, switches: 7.0 };
        let table = eval_table(&[("learned".into(), "mixed".into(), vec![run(100.0), run(300.0)])]);
        assert!(table.contains("| learned | mixed | 10 (10–10) | 200 (100–300) | 5 (5–5) | 7 (7–7) |"), "{table}");
    }
}
