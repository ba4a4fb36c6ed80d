//! The loop: Architect → Generator (K branches per round) → compile → Safety → Tester →
//! Performance → Synthesis, with each round's failures fed into the next (self-reflection)
//! and every attempt written as one JSON line.

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use kingly_bpf::{VerifiedProgram, VerifyStats};
use serde::{Deserialize, Serialize};

use crate::architect::{self, ContextSource, Spec};
use crate::catalog::Family;
use crate::dsl::Feature;
use crate::stages::{self, Candidate, Compiled, Source, TestReport};
use crate::synth::{self, Branch, Conditionals};
use crate::task::Task;

/// What a failed candidate teaches the next round.
#[derive(Clone, Debug)]
pub struct Feedback {
    pub round: usize,
    pub origin: String,
    pub error_class: String,
    pub message: String,
    /// The candidate's source (for LLM prompts), empty when there was none.
    pub source: String,
    /// Examples the best term of an offline branch got right.
    pub best_partial: usize,
    /// Features of a rejected offline program.
    pub features: Vec<Feature>,
    pub families: Vec<Family>,
}

/// One generator output: a candidate, or why there is none.
pub struct Generated {
    pub candidate: Option<Candidate>,
    pub origin: String,
    pub error: Option<(String, String)>,
    pub tokens: u64,
    pub ms: u64,
    /// Offline branches: the families searched and the most examples one term got right.
    pub reflection: Option<(Vec<Family>, usize)>,
}

/// Writes candidates.
pub trait Generator {
    fn name(&self) -> &'static str;
    /// Up to `k` candidates for `round` (1-based), given all earlier feedback.
    fn generate(&mut self, task: &Task, spec: &Spec, round: usize, k: usize, feedback: &[Feedback]) -> Vec<Generated>;
}

/// Generators answering each round together. `kingly code --backend openai` runs the chat model
/// beside the synthesizer: the model's program meets the synthesizer's as rivals, so it is
/// never trusted more than they are (it is `solved` only when a credible synthesizer program
/// agrees with it on every probe).
pub struct Committee {
    pub members: Vec<Box<dyn Generator>>,
}

impl Generator for Committee {
    fn name(&self) -> &'static str {
        self.members.first().map_or("committee", |m| m.name())
    }

    fn generate(&mut self, task: &Task, spec: &Spec, round: usize, k: usize, feedback: &[Feedback]) -> Vec<Generated> {
        self.members.iter_mut().flat_map(|m| m.generate(task, spec, round, k, feedback)).collect()
    }
}

/// The offline backend: the DSL synthesizer, one branch per candidate.
#[derive(Default)]
pub struct OfflineGenerator {
    /// Families tried, with the best partial score seen.
    partial: HashMap<Family, usize>,
    tried: Vec<Vec<Family>>,
}

impl OfflineGenerator {
    fn branch(families: Vec<Family>, round: usize) -> Branch {
        let scale = 1u64 << (2 * (round.min(4) - 1));
        let conditionals = if families == [Family::FieldTable] {
            Conditionals::Table
        } else if families == [Family::FieldArith] {
            Conditionals::None
        } else {
            Conditionals::Full
        };
        Branch {
            max_size: if round == 1 { 5 } else { 7 },
            max_features: 24 << (round.min(3) - 1),
            conditionals,
            max_evals: 400_000 * scale,
            time_limit: Duration::from_millis(400 * scale),
            families,
        }
    }

    /// The branches of a round: single families by retrieval rank, then (reflecting on the
    /// partial scores) pairs of the closest families, then everything together.
    fn plan(&mut self, spec: &Spec, round: usize, k: usize, feedback: &[Feedback]) -> Vec<Branch> {
        for f in feedback {
            for fam in &f.families {
                let e = self.partial.entry(*fam).or_default();
                *e = (*e).max(f.best_partial);
            }
        }
        // Repeated inputs with different answers need map state, and nothing else can fit them;
        // otherwise map state is tried only when the text asks for it (retrieval ranks it first).
        let text_wants_state = spec.families.first().is_some_and(|(f, s)| *f == Family::MapState && *s > 0.0);
        let ranked: Vec<Family> = spec
            .families
            .iter()
            .map(|(f, _)| *f)
            .filter(|f| if spec.stateful { *f == Family::MapState } else { *f != Family::MapState || text_wants_state })
            .collect();
        let with_length = |f: Family| -> Vec<Family> {
            if spec.kind == kingly_bpf::Kind::Tool && f != Family::Length {
                vec![f, Family::Length]
            } else {
                vec![f]
            }
        };
        let mut out: Vec<Vec<Family>> = Vec::new();
        match round {
            1 => out.extend(ranked.iter().take(k).map(|f| with_length(*f))),
            2 => {
                // Untried single families first, then pairs of the families that came closest.
                out.extend(ranked.iter().map(|f| with_length(*f)).filter(|b| !self.tried.contains(b)).take(k / 2 + 1));
                let mut close: Vec<Family> = ranked.clone();
                close.sort_by_key(|f| std::cmp::Reverse(self.partial.get(f).copied().unwrap_or(0)));
                'pairs: for i in 0..close.len() {
                    for j in i + 1..close.len() {
                        if out.len() >= k {
                            break 'pairs;
                        }
                        let mut pair = with_length(close[i]);
                        pair.extend(with_length(close[j]));
                        pair.dedup();
                        if !self.tried.contains(&pair) {
                            out.push(pair);
                        }
                    }
                }
            }
            _ => {
                out.push(ranked.clone());
                out.extend(
                    ranked
                        .iter()
                        .map(|f| with_length(*f))
                        .filter(|b| !self.tried.contains(b))
                        .take(k.saturating_sub(1)),
                );
            }
        }
        out.truncate(k.max(1));
        self.tried.extend(out.iter().cloned());
        out.into_iter().map(|f| Self::branch(f, round)).collect()
    }
}

impl Generator for OfflineGenerator {
    fn name(&self) -> &'static str {
        "offline"
    }

    fn generate(&mut self, task: &Task, spec: &Spec, round: usize, k: usize, feedback: &[Feedback]) -> Vec<Generated> {
        let banned: Vec<Feature> = feedback.iter().flat_map(|f| f.features.clone()).collect();
        let branches = self.plan(spec, round, k, feedback);
        let mut out = Vec::new();
        // A length clause in the text ("or 0 if the input is shorter than four bytes") splits
        // the task: the rest is searched on the examples the clause does not decide.
        let guard =
            if task.kind == kingly_bpf::Kind::Tool { length_guard(&spec.description, &task.examples) } else { None };
        let mut plan: Vec<(Branch, Option<&LengthGuard>)> = Vec::new();
        if let Some(g) = &guard {
            plan.extend(branches.iter().cloned().map(|b| (b, Some(g))));
        }
        plan.extend(branches.into_iter().map(|b| (b, None)));
        // Once the clause-split search has a believable program, unsplit branches could only
        // add rivals that ignore the clause, which never outrank it.
        let mut guarded_ok = false;
        for (branch, guard) in plan {
            if guard.is_none() && guarded_ok {
                continue;
            }
            let started = Instant::now();
            let (origin, outcome) = match guard {
                None => (format!("branch {}", branch.name()), synth::synthesize(spec, &task.examples, &branch)),
                Some(g) => {
                    let long: Vec<_> = task.examples.iter().filter(|e| g.holds(&e.input)).cloned().collect();
                    let mut outcome = synth::synthesize(spec, &long, &branch);
                    guarded_ok |= outcome.program.is_some() && outcome.plausible;
                    outcome.program = outcome.program.map(|p| g.wrap(p));
                    outcome.alternatives = outcome.alternatives.into_iter().map(|p| g.wrap(p)).collect();
                    (format!("branch {} under len >= {}", branch.name(), g.min_len), outcome)
                }
            };
            let ms = started.elapsed().as_millis() as u64;
            let reflection = Some((branch.families.clone(), outcome.best_partial));
            match outcome.program {
                Some(p) if p.features.iter().any(|f| banned.contains(f)) => out.push(Generated {
                    candidate: None,
                    origin,
                    error: Some(("repeat".into(), "same shape as a rejected candidate".into())),
                    tokens: 0,
                    ms,
                    reflection,
                }),
                Some(p) => {
                    out.push(Generated {
                        candidate: Some(Candidate {
                            source: Source::Dsl(p),
                            plausible: outcome.plausible,
                            origin: origin.clone(),
                            tokens: 0,
                        }),
                        origin: origin.clone(),
                        error: None,
                        tokens: 0,
                        ms,
                        reflection: reflection.clone(),
                    });
                    // Equally good fits go through every stage too: they may disagree elsewhere.
                    for (i, alt) in outcome.alternatives.into_iter().enumerate() {
                        let origin = format!("{origin} alternative {}", i + 1);
                        out.push(Generated {
                            candidate: Some(Candidate {
                                source: Source::Dsl(alt),
                                plausible: outcome.plausible,
                                origin: origin.clone(),
                                tokens: 0,
                            }),
                            origin,
                            error: None,
                            tokens: 0,
                            ms: 0,
                            reflection: None,
                        });
                    }
                }
                None => out.push(Generated {
                    candidate: None,
                    origin,
                    error: Some((
                        "unsupported".into(),
                        format!(
                            "no program in this branch fits all {} examples ({}; {} terms tried; best single term right on {})",
                            task.examples.len(),
                            outcome.note,
                            outcome.terms_evaluated,
                            outcome.best_partial
                        ),
                    )),
                    tokens: 0,
                    ms,
                    reflection,
                }),
            }
        }
        out
    }
}

/// "V if the input is shorter than N bytes": inputs shorter than `min_len` give `otherwise`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LengthGuard {
    pub min_len: u64,
    pub otherwise: u64,
}

impl LengthGuard {
    fn holds(&self, input: &crate::task::Input) -> bool {
        matches!(input, crate::task::Input::Bytes(b) if b.len() as u64 >= self.min_len)
    }

    /// `if len(input) >= min_len then p else otherwise`.
    pub fn wrap(&self, mut p: crate::dsl::DslProgram) -> crate::dsl::DslProgram {
        use crate::dsl::{Expr, Op};
        let len = match p.features.iter().position(|f| *f == Feature::Len) {
            Some(i) => i,
            None => {
                p.features.push(Feature::Len);
                p.features.len() - 1
            }
        };
        let test = Expr::bin(Op::Ge, Expr::Feat(len), Expr::Const(self.min_len));
        p.body = Expr::If(Box::new(test), Box::new(p.body), Box::new(Expr::Const(self.otherwise)));
        p
    }
}

/// The text asks for a yes/no answer: "1 if …, otherwise 0" (or "else 0", "0 otherwise").
pub fn says_yes_no(description: &str) -> bool {
    let text = description.to_ascii_lowercase();
    let one_if = text.contains("1 if") || text.contains("1 when") || text.contains("1 for");
    let zero_else = ["otherwise 0", "else 0", "0 otherwise", "or 0 if", "0 else"].iter().any(|p| text.contains(p));
    one_if && zero_else
}

/// `p` is `if len(input) >= min_len then … else otherwise`.
fn is_guarded(p: &crate::dsl::DslProgram, g: &LengthGuard) -> bool {
    use crate::dsl::{Expr, Op};
    let Expr::If(test, _, otherwise) = &p.body else { return false };
    let Expr::Bin(Op::Ge, a, b) = &**test else { return false };
    matches!(**a, Expr::Feat(i) if p.features.get(i) == Some(&Feature::Len))
        && **b == Expr::Const(g.min_len)
        && **otherwise == Expr::Const(g.otherwise)
}

/// A length clause of the text: "shorter than N", "fewer than N", "at least N" bytes, or "for
/// an empty input". The value for short inputs is what the short examples agree on (0 when
/// there are none); the clause is dropped when they disagree or too few examples remain.
pub fn length_guard(description: &str, examples: &[crate::task::Example]) -> Option<LengthGuard> {
    const WORDS: [(&str, u64); 16] = [
        ("one", 1),
        ("two", 2),
        ("three", 3),
        ("four", 4),
        ("five", 5),
        ("six", 6),
        ("seven", 7),
        ("eight", 8),
        ("nine", 9),
        ("ten", 10),
        ("eleven", 11),
        ("twelve", 12),
        ("sixteen", 16),
        ("twenty", 20),
        ("thirty-two", 32),
        ("sixty-four", 64),
    ];
    let text = description.to_ascii_lowercase();
    let number_after = |phrase: &str| -> Option<u64> {
        let rest = &text[text.find(phrase)? + phrase.len()..];
        let word: String = rest.trim_start().chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-').collect();
        word.parse().ok().or_else(|| WORDS.iter().find(|(w, _)| *w == word).map(|(_, v)| *v))
    };
    let min_len = ["shorter than", "fewer than", "less than", "at least"]
        .iter()
        .find_map(|p| number_after(p))
        .or_else(|| (text.contains("empty input") || text.contains("is empty")).then_some(1))?;
    let short: Vec<u64> = examples
        .iter()
        .filter(|e| matches!(&e.input, crate::task::Input::Bytes(b) if (b.len() as u64) < min_len))
        .map(|e| e.output)
        .collect();
    let otherwise = short.first().copied().unwrap_or(0);
    let long = examples.len() - short.len();
    (short.iter().all(|o| *o == otherwise) && long >= 2 && min_len > 0).then_some(LengthGuard { min_len, otherwise })
}

/// One line of the attempt log. Fields added later default when an older log is read back
/// (`kingly dataset` reads every log it is given).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Attempt {
    pub task: String,
    /// [`Task::digest`] of the task as this run saw it (empty in logs written before it existed).
    pub task_digest: String,
    pub round: usize,
    pub origin: String,
    pub candidate: String,
    pub backend: String,
    pub language: String,
    /// ok | error | skipped
    pub compile: String,
    /// ok | rejected | skipped
    pub verify: String,
    /// pass | fail | skipped
    pub test: String,
    pub examples_passed: usize,
    pub examples_total: usize,
    pub worst_case_insns: Option<u64>,
    pub budget_insns: u64,
    pub error_class: Option<String>,
    pub message: Option<String>,
    /// Why a passing candidate fits only by memorising example values.
    pub memorising: Option<String>,
    /// What the final checks said of a passing candidate: chosen, not credible (the claim of
    /// the text it breaks), a rival that agrees, or one that disagrees (on which input).
    pub checked: Option<String>,
    /// The candidate's source (DSL listing, assembly or C).
    pub source: String,
    /// What was compiled: the eBPF assembly listing (empty when it did not compile).
    pub asm: String,
    pub ms: u64,
    pub tokens: u64,
}

/// A candidate that passed every stage.
#[derive(Clone, Debug)]
pub struct Passing {
    pub candidate: Candidate,
    pub compiled: Compiled,
    pub verified: VerifiedProgram,
    pub stats: VerifyStats,
    pub report: TestReport,
    pub hash: String,
    pub round: usize,
    /// Position in the generator's output (offline: retrieval rank of the branch).
    pub order: usize,
    /// Why it fits only by memorising example values ([`synth::memorises`]).
    pub memorising: Option<String>,
    /// How well the text supports it ([`synth::score_program`]; 0 for LLM programs).
    pub score: i64,
    /// The text has a length clause and this program is built around it.
    pub follows_clause: bool,
}

impl Passing {
    /// Synthesis order: fewer edge-case warnings, simpler program, then cheaper worst case.
    /// Description length: the program's size, less twice the support the text gives it.
    pub fn cost(&self) -> i64 {
        let complexity = match &self.candidate.source {
            // A guard from the text's clause costs nothing: only what it guards counts.
            Source::Dsl(p) if self.follows_clause => match &p.body {
                crate::dsl::Expr::If(_, inner, _) => (inner.size() + p.features.len()) as i64,
                body => (body.size() + p.features.len()) as i64,
            },
            Source::Dsl(p) => (p.body.size() + p.features.len()) as i64,
            _ => 0,
        };
        complexity - 2 * self.score
    }

    fn rank(&self) -> (bool, bool, bool, usize, i64, usize, u64) {
        (
            !self.candidate.plausible,
            self.memorising.is_some(),
            !self.follows_clause,
            self.report.warnings.len(),
            self.cost(),
            self.order,
            self.stats.worst_case_path_insns,
        )
    }

    /// Its source as written: the DSL listing, or the assembly or C an LLM wrote.
    pub fn compiled_source(&self, layout: &crate::task::Layout) -> String {
        match &self.candidate.source {
            Source::Dsl(p) => p.render(layout),
            Source::Asm(t) | Source::C(t) => t.clone(),
        }
    }

    /// Why Synthesis chose it.
    pub fn why(&self, passing: usize, budget: u64) -> String {
        let mut s = format!(
            "passes all {} examples and the verifier; worst case {} insns (budget {budget}); {} edge cases run clean",
            self.report.total,
            self.stats.worst_case_path_insns,
            if self.report.warnings.is_empty() { "all" } else { "not all" }
        );
        if passing > 1 {
            s += &format!("; best of {passing} passing candidates (fewest warnings, simplest, best-ranked branch, then cheapest worst case)");
        }
        for w in &self.report.warnings {
            s += &format!("\nwarning: {w}");
        }
        s
    }
}

/// Loop settings.
#[derive(Clone, Debug)]
pub struct Settings {
    pub candidates: usize,
    pub max_rounds: usize,
    /// Directory for the attempt log and compiled C.
    pub out_dir: PathBuf,
    /// Keep searching the whole round after a pass (Synthesis over all) — always true; the
    /// loop stops after the first round that has a passing candidate.
    pub log_name: String,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            candidates: 4,
            max_rounds: 3,
            out_dir: PathBuf::from("target/kingly-code"),
            log_name: "attempts.jsonl".into(),
        }
    }
}

/// What a run concluded (DESIGN.md, `kingly code --json`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Does what the task says, as far as every check can tell.
    Solved,
    /// Programs that fit the examples disagree elsewhere: the questions say where.
    Ambiguous,
    /// A program fits, but only by memorising or without support from the text.
    Unsure,
    /// No program fits the examples.
    Unsupported,
}

impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Status::Solved => "solved",
            Status::Ambiguous => "ambiguous",
            Status::Unsure => "unsure",
            Status::Unsupported => "unsupported",
        }
    }

    /// `kingly code`'s exit status: 0 solved, 1 unsupported, 3 ambiguous, 4 unsure
    /// (2 stays the verifier's "rejected" and a refused push).
    pub fn exit_code(self) -> i32 {
        match self {
            Status::Solved => 0,
            Status::Unsupported => 1,
            Status::Ambiguous => 3,
            Status::Unsure => 4,
        }
    }
}

/// An input on which two programs that fit every example disagree: answering it (as a new
/// example) settles which one the task means.
#[derive(Clone, Debug, Serialize)]
pub struct Question {
    /// The sentence shown to the user.
    pub text: String,
    /// The input as the user would write it: hex bytes, or `field=value` pairs.
    pub input: String,
    /// What the chosen program (A) and its rival (B) return on it (`null`: it stops with an
    /// error), with their sources.
    pub answers: Vec<Answer>,
    #[serde(skip)]
    pub probe: crate::task::Input,
}

/// One candidate's answer to a [`Question`].
#[derive(Clone, Debug, Serialize)]
pub struct Answer {
    pub candidate: String,
    pub returns: Option<u64>,
    pub program: String,
}

impl Answer {
    /// The value, or "an error" when the program stops with one.
    pub fn shown(&self) -> String {
        shown_answer(self.returns)
    }
}

impl Question {
    /// The user's answer as an example the next run must fit.
    pub fn example(&self, output: u64) -> crate::task::Example {
        crate::task::Example { input: self.probe.clone(), output }
    }
}

/// Everything a run found.
pub struct RunResult {
    pub spec: Spec,
    pub status: Status,
    /// Why the status (one line per reason).
    pub status_why: Vec<String>,
    /// When ambiguous: inputs on which the surviving candidates disagree.
    pub questions: Vec<Question>,
    /// 0..1: how much the checks support the chosen program.
    pub confidence: f64,
    pub chosen: Option<Passing>,
    pub passing_count: usize,
    pub attempts: Vec<Attempt>,
    pub rounds: usize,
    pub first_verified_ms: Option<u64>,
    pub total_ms: u64,
    pub log_path: PathBuf,
}

impl RunResult {
    /// Candidates generated, and how many of them were correct (for pass@k).
    pub fn samples(&self) -> (usize, usize) {
        let n = self.attempts.len();
        let c = self.attempts.iter().filter(|a| a.test == "pass").count();
        (n, c)
    }
}

fn append_log(path: &Path, attempt: &Attempt) -> Result<()> {
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("opening attempt log {}", path.display()))?;
    writeln!(f, "{}", serde_json::to_string(attempt)?)?;
    Ok(())
}

/// Runs the loop on one task.
pub fn run(
    task: &Task,
    generator: &mut dyn Generator,
    settings: &Settings,
    extra: Option<&dyn ContextSource>,
) -> Result<RunResult> {
    let started = Instant::now();
    std::fs::create_dir_all(&settings.out_dir)
        .with_context(|| format!("creating output directory {}", settings.out_dir.display()))?;
    let log_path = settings.out_dir.join(&settings.log_name);
    let spec = architect::spec(task, extra);
    let digest = task.digest();
    let budget = spec.budget_insns;
    let clause =
        if task.kind == kingly_bpf::Kind::Tool { length_guard(&spec.description, &task.examples) } else { None };
    let mut feedback: Vec<Feedback> = Vec::new();
    let mut attempts = Vec::new();
    let mut passing: Vec<Passing> = Vec::new();
    let mut first_verified_ms = None;
    let mut rounds = 0;
    let work_dir = settings.out_dir.join("work");
    for round in 1..=settings.max_rounds.max(1) {
        rounds = round;
        let generated = generator.generate(task, &spec, round, settings.candidates.max(1), &feedback);
        for (order, g) in generated.into_iter().enumerate() {
            let t0 = Instant::now();
            let mut a = Attempt {
                task: task.name.clone(),
                task_digest: digest.clone(),
                round,
                origin: g.origin.clone(),
                candidate: String::new(),
                backend: generator.name().into(),
                language: String::new(),
                compile: "skipped".into(),
                verify: "skipped".into(),
                test: "skipped".into(),
                examples_passed: 0,
                examples_total: task.examples.len(),
                worst_case_insns: None,
                budget_insns: budget,
                error_class: None,
                message: None,
                memorising: None,
                checked: None,
                source: String::new(),
                asm: String::new(),
                ms: g.ms,
                tokens: g.tokens,
            };
            let mut fb = Feedback {
                round,
                origin: g.origin.clone(),
                error_class: String::new(),
                message: String::new(),
                source: String::new(),
                best_partial: 0,
                features: Vec::new(),
                families: Vec::new(),
            };
            if let Some((families, best_partial)) = g.reflection.clone() {
                fb.families = families;
                fb.best_partial = best_partial;
            }
            let Some(candidate) = g.candidate else {
                let (class, message) = g.error.unwrap_or(("unsupported".into(), "no candidate".into()));
                a.error_class = Some(class.clone());
                a.message = Some(message.clone());
                fb.error_class = class;
                fb.message = message;
                append_log(&log_path, &a)?;
                attempts.push(a);
                feedback.push(fb);
                continue;
            };
            a.language = candidate.source.language().into();
            a.source = match &candidate.source {
                Source::Dsl(p) => p.render(&task.layout),
                Source::Asm(t) | Source::C(t) => t.clone(),
            };
            if let Source::Dsl(p) = &candidate.source {
                fb.features = Vec::new();
                fb.source = p.render(&task.layout);
            }
            let outcome = assess(task, &candidate, &work_dir, budget);
            a.ms += t0.elapsed().as_millis() as u64;
            match outcome {
                Assessed::CompileError(msg, listing) => {
                    a.compile = "error".into();
                    a.error_class = Some("compile".into());
                    a.message = Some(msg.clone());
                    fb.error_class = "compile".into();
                    fb.message = msg;
                    fb.source = listing;
                }
                Assessed::Rejected { hash, class, message, listing } => {
                    a.candidate = hash;
                    a.asm = listing.clone();
                    a.compile = "ok".into();
                    a.verify = "rejected".into();
                    a.error_class = Some(class.clone());
                    a.message = Some(message.clone());
                    fb.error_class = class;
                    fb.message = message;
                    fb.source = listing;
                    if let Source::Dsl(p) = &candidate.source {
                        fb.features = p.features.clone();
                    }
                }
                Assessed::Tested(boxed) => {
                    let (compiled, verified, stats, report, hash) = *boxed;
                    a.candidate = hash.clone();
                    a.asm = compiled.listing.clone();
                    a.compile = "ok".into();
                    a.verify = "ok".into();
                    a.worst_case_insns = Some(stats.worst_case_path_insns);
                    a.examples_passed = report.passed;
                    first_verified_ms.get_or_insert(started.elapsed().as_millis() as u64);
                    let over_budget = stats.worst_case_path_insns > budget;
                    if report.ok() && !over_budget {
                        a.test = "pass".into();
                        let memorising = match &candidate.source {
                            Source::Dsl(p) => synth::memorises(p, &spec, &task.layout, &task.examples),
                            _ => None,
                        };
                        a.memorising = memorising.clone();
                        let follows_clause = match (&clause, &candidate.source) {
                            (Some(g), Source::Dsl(p)) => is_guarded(p, g),
                            _ => false,
                        };
                        let score = match &candidate.source {
                            Source::Dsl(p) => synth::score_program(p, &spec, &task.examples),
                            _ => 0,
                        };
                        // The whole program's support decides, the guard's words spent on it.
                        let mut candidate = candidate;
                        candidate.plausible &= score >= 0;
                        passing.push(Passing {
                            candidate,
                            compiled,
                            verified,
                            stats,
                            report,
                            hash,
                            round,
                            order,
                            memorising,
                            score,
                            follows_clause,
                        });
                    } else {
                        a.test = if report.ok() { "pass-over-budget".into() } else { "fail".into() };
                        let (class, message) = if !report.ok() {
                            let class =
                                if report.runtime_error || report.edge_failures.iter().any(|e| e.contains("stopped")) {
                                    "test:runtime_error"
                                } else if report.passed < report.total {
                                    "test:wrong_output"
                                } else {
                                    "test:edge_case"
                                };
                            let mut lines = report.failures.clone();
                            lines.extend(report.edge_failures.clone());
                            (
                                class.to_string(),
                                format!("{}/{} examples pass; {}", report.passed, report.total, lines.join("; ")),
                            )
                        } else {
                            (
                                "perf:over_budget".to_string(),
                                format!(
                                    "worst-case path is {} instructions, over the budget of {budget}: use fewer loop iterations or cheaper work per byte",
                                    stats.worst_case_path_insns
                                ),
                            )
                        };
                        a.error_class = Some(class.clone());
                        a.message = Some(message.clone());
                        fb.error_class = class;
                        fb.message = message;
                        fb.source = compiled.listing.clone();
                        if let Source::Dsl(p) = &candidate.source {
                            fb.features = p.features.clone();
                        }
                    }
                }
            }
            let failed = a.test != "pass";
            // Passing candidates are logged once the final checks have judged them.
            if failed {
                append_log(&log_path, &a)?;
            }
            attempts.push(a);
            if failed {
                feedback.push(fb);
            }
        }
        // Stop at the first round with a passing candidate the generator believes in.
        if passing.iter().any(|p| p.candidate.plausible && p.memorising.is_none()) {
            break;
        }
    }
    let passing_count = passing.len();
    passing.sort_by_key(|p| p.rank());
    let verdict = conclude(task, &spec, &passing);
    for a in attempts.iter_mut().filter(|a| a.test == "pass") {
        // Rank order of this attempt's program (one program may pass in two rounds).
        a.checked = passing.iter().position(|p| p.hash == a.candidate).and_then(|i| verdict.claims.get(i).cloned());
        append_log(&log_path, a)?;
    }
    let chosen = passing.into_iter().next();
    Ok(RunResult {
        spec,
        status: verdict.status,
        status_why: verdict.why,
        questions: verdict.questions,
        confidence: verdict.confidence,
        chosen,
        passing_count,
        attempts,
        rounds,
        first_verified_ms,
        total_ms: started.elapsed().as_millis() as u64,
        log_path,
    })
}

/// A question and the answer the user gave it.
#[derive(Clone, Debug, Serialize)]
pub struct Answered {
    pub question: Question,
    pub answer: u64,
}

/// Query by committee: runs the loop, and while it ends `ambiguous` and `ask` answers one of its
/// questions, adds the answer to `task` as an example and runs again, at most `max_questions`
/// times. `ask` returns `None` to stop asking (the last result stands).
pub fn run_asking(
    task: &mut Task,
    make: &mut dyn FnMut() -> Box<dyn Generator>,
    settings: &Settings,
    extra: Option<&dyn ContextSource>,
    ask: &mut dyn FnMut(&Question) -> Option<u64>,
    max_questions: usize,
) -> Result<(RunResult, Vec<Answered>)> {
    let mut answered = Vec::new();
    loop {
        let mut generator = make();
        let result = run(task, generator.as_mut(), settings, extra)?;
        if result.status != Status::Ambiguous || answered.len() >= max_questions {
            return Ok((result, answered));
        }
        let Some(question) = result.questions.first().cloned() else { return Ok((result, answered)) };
        let Some(answer) = ask(&question) else { return Ok((result, answered)) };
        task.examples.push(question.example(answer));
        answered.push(Answered { question, answer });
    }
}

/// What the checks say about the best-ranked passing candidate.
struct Verdict {
    status: Status,
    why: Vec<String>,
    questions: Vec<Question>,
    confidence: f64,
    /// What the checks said of each ranked candidate.
    claims: Vec<String>,
}

/// How much costlier than the chosen program (in [`Passing::cost`] units: size less twice the
/// text's support) a credible candidate may be and still count as a rival whose disagreement
/// makes the task ambiguous. Measured on the committed task sets (session 8): margins 0, 3 and
/// 6 all kept 0 wrong-but-solved; 0 solved 1-2 more per set, 6 asked about silly rivals.
pub const RIVAL_MARGIN: i64 = 2;

/// A probe answer: `None` when the program stops with an error.
type Answers = Vec<Option<u64>>;

fn shown_answer(a: Option<u64>) -> String {
    a.map_or("an error".into(), |v| v.to_string())
}

/// Why a passing candidate is not a credible reading of the text, with the confidence left;
/// `None` when it is credible.
fn doubt(
    task: &Task,
    spec: &Spec,
    p: &Passing,
    probes: &[crate::task::Input],
    answers: &Answers,
) -> Option<(String, f64)> {
    if !p.candidate.plausible {
        return Some(("it fits the examples only with constants or operations the text does not support".into(), 0.2));
    }
    if let Some(why) = &p.memorising {
        return Some((format!("it {why}"), 0.2));
    }
    if let Source::Dsl(program) = &p.candidate.source {
        let ungrounded = synth::ungrounded_features(program, spec);
        if !ungrounded.is_empty() {
            return Some((format!("it reads {}, which the text does not mention", ungrounded.join(", ")), 0.3));
        }
        // "index 0, 2, 4, ..." goes on past the examples; reads at fixed offsets stop.
        let fixed_reads = program.features.iter().filter(|f| matches!(f, Feature::ByteAt(_))).count();
        if fixed_reads >= 3 && (spec.description.contains("...") || spec.description.contains('\u{2026}')) {
            return Some((
                format!("the text's pattern goes on (\"...\"), but the program reads {fixed_reads} fixed offsets"),
                0.3,
            ));
        }
        let unused = synth::unused_text_numbers(program, spec);
        if !unused.is_empty() {
            return Some((format!("it never uses the numbers the text names ({unused:?})"), 0.3));
        }
    }
    // "1 if …, otherwise 0": a yes/no answer on every input, not only on the examples.
    if says_yes_no(&spec.description) {
        if let Some(i) = answers.iter().position(|a| a.is_none_or(|v| v > 1)) {
            let input = crate::probe::show(&probes[i], &task.layout);
            return Some((
                format!("the text asks for 1 or 0, but on {input} it answers {}", shown_answer(answers[i])),
                0.2,
            ));
        }
    }
    None
}

/// Solved only when the best candidate is credible (supported by the text, memorising nothing,
/// keeping its clauses on probes) and every other credible candidate answers every probe the
/// same way; a program no synthesizer candidate confirms (an LLM's) is at best unsure.
fn conclude(task: &Task, spec: &Spec, ranked: &[Passing]) -> Verdict {
    let Some(best) = ranked.first() else {
        return Verdict {
            status: Status::Unsupported,
            why: vec!["no candidate passed the verifier and every example".into()],
            questions: Vec::new(),
            confidence: 0.0,
            claims: Vec::new(),
        };
    };
    let extra: Vec<u8> = spec.strings.iter().flatten().copied().collect();
    let probes = crate::probe::inputs(task, &extra);
    let answers = |p: &Passing| -> Answers {
        probes
            .iter()
            .map(|i| match &p.candidate.source {
                Source::Dsl(d) => Some(crate::probe::answer(d, &task.examples, i, &task.layout)),
                _ => stages::answer(&p.verified, task, i),
            })
            .collect()
    };
    let best_answers = answers(best);
    // What the checks said of each candidate, in rank order (the attempt log's `checked`).
    let mut claims: Vec<String> = vec!["not compared: the chosen program is unsure".into(); ranked.len()];
    if let Some((why, confidence)) = doubt(task, spec, best, &probes, &best_answers) {
        claims[0] = format!("chosen, unsure: {why}");
        return Verdict { status: Status::Unsure, why: vec![why], questions: Vec::new(), confidence, claims };
    }
    let best_listing = best.compiled_source(&task.layout);
    let mut questions = Vec::new();
    let mut seen: Vec<String> = vec![best_listing.clone()];
    let mut confirmed_by_synthesizer = matches!(best.candidate.source, Source::Dsl(_));
    for (rank, other) in ranked.iter().enumerate().skip(1) {
        let listing = other.compiled_source(&task.layout);
        // Rivals are the candidates the text supports about as well as the chosen one.
        // A language model's program is checked against every credible synthesizer program.
        let dsl_best = matches!(best.candidate.source, Source::Dsl(_));
        if dsl_best && other.cost() > best.cost() + RIVAL_MARGIN {
            claims[rank] = format!(
                "not a rival: its description costs {} against the chosen program's {} (margin {RIVAL_MARGIN})",
                other.cost(),
                best.cost()
            );
            continue;
        }
        if best.follows_clause && !other.follows_clause {
            claims[rank] = "not a rival: it ignores the text's length clause".into();
            continue;
        }
        if seen.contains(&listing) {
            claims[rank] = "the same program as a better-ranked candidate".into();
            continue;
        }
        let other_answers = answers(other);
        if let Some((why, _)) = doubt(task, spec, other, &probes, &other_answers) {
            claims[rank] = format!("not credible: {why}");
            continue;
        }
        seen.push(listing.clone());
        let Some(i) = best_answers.iter().zip(&other_answers).position(|(a, b)| a != b) else {
            claims[rank] =
                format!("a credible rival that agrees with the chosen program on all {} probes", probes.len());
            confirmed_by_synthesizer |= matches!(other.candidate.source, Source::Dsl(_));
            continue;
        };
        claims[rank] = format!(
            "a credible rival that disagrees with the chosen program on {}: {} against {}",
            crate::probe::show(&probes[i], &task.layout),
            shown_answer(other_answers[i]),
            shown_answer(best_answers[i])
        );
        if questions.len() < 3 {
            let (a, b) = (best_answers[i], other_answers[i]);
            let shown = crate::probe::show(&probes[i], &task.layout);
            questions.push(Question {
                text: format!(
                    "what should {shown} return? A gives {}, B gives {} (A: {best_listing}; B: {listing})",
                    shown_answer(a),
                    shown_answer(b)
                ),
                input: crate::probe::written(&probes[i], &task.layout),
                answers: vec![
                    Answer { candidate: "A".into(), returns: a, program: best_listing.clone() },
                    Answer { candidate: "B".into(), returns: b, program: listing },
                ],
                probe: probes[i].clone(),
            });
        }
    }
    if !questions.is_empty() {
        return Verdict {
            status: Status::Ambiguous,
            why: vec![format!("{} credible candidates fit every example but disagree on other inputs", seen.len())],
            questions,
            confidence: 1.0 / (seen.len() as f64),
            claims: with_chosen(claims, "chosen, ambiguous"),
        };
    }
    if !confirmed_by_synthesizer {
        return Verdict {
            status: Status::Unsure,
            why: vec![format!(
                "it passes the verifier, the examples and {} probes, but no synthesizer candidate confirms it \
                 (a program from a language model is not trusted more than the synthesizer's)",
                probes.len()
            )],
            questions: Vec::new(),
            confidence: 0.5,
            claims: with_chosen(claims, "chosen, unsure: no synthesizer program confirms it"),
        };
    }
    Verdict {
        status: Status::Solved,
        why: vec![format!(
            "supported by the text, no memorised values, and the {} other credible candidates agree on {} probes",
            seen.len() - 1,
            probes.len()
        )],
        questions: Vec::new(),
        confidence: 0.9,
        claims: with_chosen(claims, "chosen, solved"),
    }
}

fn with_chosen(mut claims: Vec<String>, chosen: &str) -> Vec<String> {
    claims[0] = chosen.to_string();
    claims
}

enum Assessed {
    CompileError(String, String),
    Rejected { hash: String, class: String, message: String, listing: String },
    Tested(Box<(Compiled, VerifiedProgram, VerifyStats, TestReport, String)>),
}

fn assess(task: &Task, candidate: &Candidate, work_dir: &Path, _budget: u64) -> Assessed {
    let listing = match &candidate.source {
        Source::Dsl(p) => p.render(&task.layout),
        Source::Asm(t) | Source::C(t) => t.clone(),
    };
    let compiled = match stages::compile(candidate, &task.layout, work_dir) {
        Ok(c) => c,
        Err(e) => return Assessed::CompileError(e, listing),
    };
    let hash = stages::program_hash(&compiled.slots, &compiled.maps);
    let verified = match stages::verify(&compiled, task.kind) {
        Ok(v) => v,
        Err((class, message)) => return Assessed::Rejected { hash, class, message, listing: compiled.listing },
    };
    let stats = *verified.stats();
    let report = stages::test(&verified, task);
    Assessed::Tested(Box::new((compiled, verified, stats, report, hash)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_length_and_yes_no_clauses() {
        assert!(says_yes_no("Return 1 if the input is longer than 10 bytes, otherwise 0."));
        assert!(!says_yes_no("Count the set bits in all input bytes."));
        let ex = |b: &[u8], o| crate::task::Example { input: crate::task::Input::Bytes(b.to_vec()), output: o };
        let examples = [ex(&[1, 2, 3, 4], 0x0403), ex(&[7], 0), ex(&[0, 0, 5, 0, 9], 5)];
        let g = length_guard("Read the value at offset 2, or 0 if the input is shorter than four bytes.", &examples);
        assert_eq!(g, Some(LengthGuard { min_len: 4, otherwise: 0 }));
        // Short examples that disagree: no clause to split on.
        let mixed = [ex(&[1], 0), ex(&[2], 1), ex(&[1, 2, 3, 4], 5), ex(&[1, 2, 3, 4, 5], 6)];
        assert_eq!(length_guard("0 if shorter than 4 bytes", &mixed), None);
        assert_eq!(length_guard("Count the spaces.", &examples), None);
    }
}
