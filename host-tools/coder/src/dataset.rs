//! `kingly dataset`: coder attempt logs + the task sets they ran on → JSONL that fine-tuning
//! trainers read, split by task, deduplicated, with a data card.
//!
//! - SFT (`sft-<split>.jsonl`): chat records `{"messages": [system, user, assistant]}`. The user
//!   turn is [`llm::user_prompt`] of the task as the run saw it (the `openai` backend's first
//!   prompt, without RAG passages); the assistant turn is a program the coder chose with the
//!   status `solved`, once per form the log holds: kingly-bpf assembly (`asm`), the DSL line
//!   (`dsl`) or C (`c`).
//! - DPO (`dpo-<split>.jsonl`, TRL's conversational preference format): `prompt` (system +
//!   user), `chosen` (a solved program), `rejected` (a program of the same task and form that the
//!   verifier refused, that failed an example, or that the task file's held-back or reference
//!   examples prove wrong), with `reason` and `rejected_stage`.
//!
//! A target must have been verified and tested by the coder (attempt `test = pass`, `checked =
//! chosen, solved`) and must pass a re-check here: re-verified, then run on every example of the
//! task file and its `[[reference]]` examples. A solved program that fails the re-check becomes a
//! rejected one, and the card counts it (it must stay 0, as `--eval`'s `wrong`).
//! The split is by task: a hash of the normalised description decides, so the same task in
//! two sets lands on the same side and no example of a held-out task reaches training.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Serialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::coder::Attempt;
use crate::stages::{self, Candidate, Source};
use crate::task::{Example, Task};
use crate::{architect, eval, llm};

/// What to read and where to write.
#[derive(Clone, Debug)]
pub struct Options {
    /// `attempts.jsonl` files, or directories searched (recursively) for them.
    pub logs: Vec<PathBuf>,
    /// Task set directories (`tasks/coder`, ...): every `*.toml` in each.
    pub task_sets: Vec<PathBuf>,
    /// Percent of tasks (by hash) held out for evaluation.
    pub heldout_percent: u8,
    /// Where C candidates are recompiled for the re-check.
    pub work_dir: PathBuf,
}

/// The two sides of the split.
pub const SPLITS: [&str; 2] = ["train", "heldout"];

/// One chat-format SFT record (TRL `SFTTrainer`'s "messages" format, plus provenance columns).
#[derive(Clone, Debug, Serialize)]
pub struct SftRecord {
    pub messages: Vec<Message>,
    /// `set/name` of the task file.
    pub task: String,
    pub split: &'static str,
    /// asm | dsl | c
    pub format: String,
    pub backend: String,
    /// The program's bytecode hash in the attempt log.
    pub candidate: String,
    /// Whether the re-check ran (programs with maps cannot be re-assembled from their listing).
    pub rechecked: bool,
}

/// One preference pair (TRL `DPOTrainer`'s conversational format, plus why the loser lost).
#[derive(Clone, Debug, Serialize)]
pub struct PreferenceRecord {
    pub prompt: Vec<Message>,
    pub chosen: Vec<Message>,
    pub rejected: Vec<Message>,
    /// The verifier's, the tester's or the re-check's words on the rejected program.
    pub reason: String,
    /// compile | verify | test | recheck
    pub rejected_stage: String,
    pub task: String,
    pub split: &'static str,
    pub format: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Message {
    pub role: String,
    pub content: String,
}

fn message(role: &str, content: String) -> Message {
    Message { role: role.into(), content }
}

/// Where each record came from and under what licence, and what was left out and why.
#[derive(Clone, Debug, Default, Serialize)]
pub struct DataCard {
    pub generated_by: String,
    pub split_rule: String,
    pub heldout_percent: u8,
    /// records[kind][split][format]
    pub records: BTreeMap<String, BTreeMap<String, BTreeMap<String, usize>>>,
    /// Tasks per split that contributed at least one record.
    pub tasks: BTreeMap<String, Vec<String>>,
    pub sources: Vec<SourceCard>,
    /// Attempts or candidate programs not exported, by reason.
    pub left_out: BTreeMap<String, usize>,
    /// Programs the coder marked solved that the re-check found wrong (must stay 0).
    pub solved_but_wrong: usize,
    pub duplicates_dropped: usize,
    pub notes: Vec<String>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct SourceCard {
    /// task set | attempt log
    pub kind: String,
    pub path: String,
    pub licence: String,
    pub licence_from: String,
    /// Task files in a set, attempts in a log.
    pub items: usize,
    /// SFT and DPO records this source contributed (by log; by task set).
    pub sft_records: usize,
    pub dpo_records: usize,
    /// Backends named in a log.
    pub backends: Vec<String>,
}

/// A built dataset.
#[derive(Clone, Debug, Default)]
pub struct Dataset {
    pub sft: Vec<SftRecord>,
    pub dpo: Vec<PreferenceRecord>,
    pub card: DataCard,
}

/// A task file and the example subset one run saw.
struct View {
    set_index: usize,
    key: String,
    task: Task,
    seen: Task,
    reference: Vec<Example>,
}

/// One program of one attempt in one form.
#[derive(Clone)]
struct Program {
    text: String,
    backend: String,
    candidate: String,
    log_index: usize,
}

/// A program the checks refused, and why.
struct Loser {
    program: Program,
    reason: String,
    stage: &'static str,
}

/// Reads the logs and task sets and builds every record; nothing is written.
pub fn build(options: &Options) -> Result<Dataset> {
    let mut card = DataCard {
        generated_by: format!("kingly dataset {}", env!("CARGO_PKG_VERSION")),
        split_rule: "a task is held out when the first two bytes of SHA-256(\"kingly-dataset-split\\n\" + its \
                     description, lower-cased, whitespace collapsed), read big-endian, modulo 100 are below \
                     heldout_percent; the same description in two sets lands on the same side"
            .into(),
        heldout_percent: options.heldout_percent,
        ..DataCard::default()
    };
    // Every task, both as its file has it and as `--eval` shows it to the coder.
    let mut views: Vec<View> = Vec::new();
    for dir in &options.task_sets {
        let tasks = Task::load_dir(dir)?;
        let set = dir.file_name().map_or_else(|| dir.display().to_string(), |n| n.to_string_lossy().into_owned());
        let (licence, licence_from) = licence_of(dir);
        card.sources.push(SourceCard {
            kind: "task set".into(),
            path: dir.display().to_string(),
            licence,
            licence_from,
            items: tasks.len(),
            ..SourceCard::default()
        });
        let set_index = card.sources.len() - 1;
        for task in tasks {
            let reference = task.reference_examples()?;
            let key = format!("{set}/{}", task.name);
            for seen in [task.clone(), eval::coder_view(&task)] {
                views.push(View {
                    set_index,
                    key: key.clone(),
                    task: task.clone(),
                    seen,
                    reference: reference.clone(),
                });
            }
        }
    }
    let by_digest: HashMap<String, usize> = views.iter().enumerate().map(|(i, v)| (v.seen.digest(), i)).collect();

    // Attempts grouped by the view they ran on.
    let mut attempts: BTreeMap<usize, Vec<(usize, Attempt)>> = BTreeMap::new();
    let mut log_files = Vec::new();
    for path in &options.logs {
        find_logs(path, &mut log_files)?;
    }
    // Overlapping paths (a directory and a log inside it) name a log once.
    let mut seen_logs = BTreeSet::new();
    log_files.retain(|f| seen_logs.insert(std::fs::canonicalize(f).unwrap_or_else(|_| f.clone())));
    if log_files.is_empty() {
        bail!("no attempts.jsonl under {:?}: run `kingly code --eval tasks/SET --out DIR` first", options.logs);
    }
    for file in &log_files {
        let text = std::fs::read_to_string(file).with_context(|| format!("reading attempt log {}", file.display()))?;
        let mut backends = BTreeSet::new();
        let mut items = 0;
        let log_index = card.sources.len();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let attempt: Attempt = match serde_json::from_str(line) {
                Ok(a) => a,
                Err(_) => {
                    // A run killed mid-write leaves a cut last line; it is counted, not fatal.
                    *card.left_out.entry("unreadable log line".into()).or_default() += 1;
                    continue;
                }
            };
            items += 1;
            backends.insert(attempt.backend.clone());
            match find_view(&views, &by_digest, &attempt) {
                Ok(v) => attempts.entry(v).or_default().push((log_index, attempt)),
                Err(why) => *card.left_out.entry(why).or_default() += 1,
            }
        }
        card.sources.push(SourceCard {
            kind: "attempt log".into(),
            path: file.display().to_string(),
            licence: format!(
                "programs written by the offline synthesizer are Kingly's own output ({}); programs from an \
                 `openai` backend are a model's output: check that model's terms before publishing",
                env!("CARGO_PKG_LICENSE")
            ),
            licence_from: "kingly-coder's Cargo.toml and the backends named in the log".into(),
            items,
            backends: backends.into_iter().collect(),
            ..SourceCard::default()
        });
    }
    if attempts.is_empty() {
        bail!(
            "no logged attempt matches a task in {:?}: pass the task set(s) the run used (--tasks tasks/SET)",
            options.task_sets
        );
    }

    // Chosen and rejected programs per task and form.
    let mut chosen: BTreeMap<(String, String), Vec<(Program, bool)>> = BTreeMap::new();
    let mut rejected: BTreeMap<(String, String), Vec<Loser>> = BTreeMap::new();
    let mut prompts: BTreeMap<(String, String), (usize, Vec<Message>)> = BTreeMap::new();
    let mut rechecks: HashMap<(String, String), Option<Result<(), String>>> = HashMap::new();
    for (view_index, list) in &attempts {
        let view = &views[*view_index];
        for (log_index, a) in list {
            let forms = forms(a);
            if forms.is_empty() {
                *card
                    .left_out
                    .entry("attempt without a program (no candidate or a compile error)".into())
                    .or_default() += 1;
                continue;
            }
            let solved = a.test == "pass" && a.memorising.is_none() && a.checked.as_deref() == Some("chosen, solved");
            let stage = if a.compile == "error" {
                Some("compile")
            } else if a.verify == "rejected" {
                Some("verify")
            } else if a.test == "fail" || a.test == "pass-over-budget" {
                Some("test")
            } else {
                None
            };
            let recheck_source = recheck_source(a);
            let check = rechecks
                .entry((view.key.clone(), a.candidate.clone() + &a.source))
                .or_insert_with(|| {
                    recheck_source.as_ref().map(|s| recheck(view, s, &options.work_dir)).filter(|_| stage.is_none())
                })
                .clone();
            if solved && matches!(check, Some(Err(_))) {
                card.solved_but_wrong += 1;
            }
            for (format, text) in forms {
                let program =
                    Program { text, backend: a.backend.clone(), candidate: a.candidate.clone(), log_index: *log_index };
                let slot = (view.key.clone(), format.clone());
                prompts.entry(slot.clone()).or_insert_with(|| (*view_index, prompt(&view.seen, &format)));
                match (stage, solved, &check) {
                    (Some(stage), _, _) => rejected.entry(slot).or_default().push(Loser {
                        program,
                        reason: a.message.clone().unwrap_or_default(),
                        stage,
                    }),
                    (None, _, Some(Err(why))) => {
                        rejected.entry(slot).or_default().push(Loser { program, reason: why.clone(), stage: "recheck" })
                    }
                    (None, true, Some(Ok(()))) => chosen.entry(slot).or_default().push((program, true)),
                    (None, true, None) => chosen.entry(slot).or_default().push((program, false)),
                    (None, false, _) => {
                        *card
                            .left_out
                            .entry("passing program not chosen as solved (a rival, unsure or ambiguous run)".into())
                            .or_default() += 1
                    }
                }
            }
        }
    }

    // Records, deduplicated by task + form + normalised program text or bytecode.
    let mut dataset = Dataset::default();
    let mut seen_sft = BTreeSet::new();
    let mut seen_dpo = BTreeSet::new();
    let mut task_splits: BTreeMap<&'static str, BTreeSet<String>> = BTreeMap::new();
    for (slot, (view_index, prompt)) in &prompts {
        let view = &views[*view_index];
        let split = split_of(&view.task.description, options.heldout_percent);
        let (task_key, format) = slot;
        // Distinct winners only: a loser is paired with each distinct solved program once.
        let mut winners: Vec<Program> = Vec::new();
        for (program, rechecked) in chosen.get(slot).map(Vec::as_slice).unwrap_or_default() {
            // The same bytecode is the same target however its listing is commented or spelled.
            let text_key = (task_key.clone(), format.clone(), normalise(&program.text));
            let bytecode_key = (task_key.clone(), format.clone(), format!("bytecode {}", program.candidate));
            let new_text = seen_sft.insert(text_key);
            let new_bytecode = program.candidate.is_empty() || seen_sft.insert(bytecode_key);
            if !(new_text && new_bytecode) {
                card.duplicates_dropped += 1;
                continue;
            }
            winners.push(program.clone());
            let mut messages = prompt.clone();
            messages.push(message("assistant", fenced(format, &program.text)));
            dataset.sft.push(SftRecord {
                messages,
                task: task_key.clone(),
                split,
                format: format.clone(),
                backend: program.backend.clone(),
                candidate: program.candidate.clone(),
                rechecked: *rechecked,
            });
            task_splits.entry(split).or_default().insert(task_key.clone());
            card.sources[view.set_index].sft_records += 1;
            card.sources[program.log_index].sft_records += 1;
        }
        for Loser { program: loser, reason, stage } in rejected.get(slot).map(Vec::as_slice).unwrap_or_default() {
            if winners.is_empty() {
                *card.left_out.entry("rejected program of a task with no solved program".into()).or_default() += 1;
                continue;
            }
            for winner in &winners {
                let key = (task_key.clone(), format.clone(), normalise(&winner.text), normalise(&loser.text));
                if key.2 == key.3 || !seen_dpo.insert(key) {
                    card.duplicates_dropped += 1;
                    continue;
                }
                dataset.dpo.push(PreferenceRecord {
                    prompt: prompt.clone(),
                    chosen: vec![message("assistant", fenced(format, &winner.text))],
                    rejected: vec![message("assistant", fenced(format, &loser.text))],
                    reason: reason.clone(),
                    rejected_stage: stage.to_string(),
                    task: task_key.clone(),
                    split,
                    format: format.clone(),
                });
                task_splits.entry(split).or_default().insert(task_key.clone());
                card.sources[view.set_index].dpo_records += 1;
                card.sources[loser.log_index].dpo_records += 1;
            }
        }
    }
    for (kind, rows) in [
        ("sft", dataset.sft.iter().map(|r| (r.split, r.format.clone())).collect::<Vec<_>>()),
        ("dpo", dataset.dpo.iter().map(|r| (r.split, r.format.clone())).collect()),
    ] {
        let by_split = card.records.entry(kind.into()).or_default();
        for split in SPLITS {
            by_split.entry(split.into()).or_default();
        }
        for (split, format) in rows {
            *by_split.entry(split.into()).or_default().entry(format).or_default() += 1;
        }
    }
    card.tasks = task_splits.into_iter().map(|(s, t)| (s.to_string(), t.into_iter().collect())).collect();
    card.notes = vec![
        "user turns are the coder's `openai` backend prompt (llm::user_prompt) for the examples the run saw, \
         without retrieved Linux passages; system turns are llm::system_prompt for the record's format"
            .into(),
        "the `dsl` form is the synthesizer's notation: no backend reads DSL replies back yet".into(),
        "`rechecked: false` marks programs with maps, whose assembly listing cannot carry the map definitions: \
         they rest on the coder's own verification and tests alone"
            .into(),
    ];
    dataset.card = card;
    Ok(dataset)
}

/// Writes `sft-train.jsonl`, `sft-heldout.jsonl`, `dpo-train.jsonl`, `dpo-heldout.jsonl`,
/// `data_card.json` and `DATA_CARD.md` into `out_dir`. Each file is written beside its final name
/// and renamed into place only once all of them are complete, so a failure leaves the previous
/// dataset whole.
pub fn write(dataset: &Dataset, out_dir: &Path) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let mut files: Vec<(String, String)> = Vec::new();
    for split in SPLITS {
        let sft: Vec<String> =
            dataset.sft.iter().filter(|r| r.split == split).map(serde_json::to_string).collect::<Result<_, _>>()?;
        let dpo: Vec<String> =
            dataset.dpo.iter().filter(|r| r.split == split).map(serde_json::to_string).collect::<Result<_, _>>()?;
        files.push((format!("sft-{split}.jsonl"), lines(&sft)));
        files.push((format!("dpo-{split}.jsonl"), lines(&dpo)));
    }
    files.push(("data_card.json".into(), serde_json::to_string_pretty(&dataset.card)? + "\n"));
    files.push(("DATA_CARD.md".into(), render_card(&dataset.card)));
    let mut staged = Vec::new();
    for (name, body) in &files {
        let tmp = out_dir.join(format!(".{name}.tmp-{}", std::process::id()));
        std::fs::write(&tmp, body).with_context(|| format!("writing {}", tmp.display()))?;
        staged.push((tmp, out_dir.join(name)));
    }
    for (tmp, path) in &staged {
        std::fs::rename(tmp, path).with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))?;
    }
    Ok(staged.into_iter().map(|(_, p)| p).collect())
}

fn lines(rows: &[String]) -> String {
    rows.iter().map(|r| format!("{r}\n")).collect()
}

/// The data card as a page a person reads.
pub fn render_card(card: &DataCard) -> String {
    let mut s = format!("# Data card\n\nGenerated by `{}`.\n\n## Records\n\n", card.generated_by);
    s += "| kind | split | format | records |\n| --- | --- | --- | --- |\n";
    for (kind, splits) in &card.records {
        for (split, formats) in splits {
            if formats.is_empty() {
                s += &format!("| {kind} | {split} | - | 0 |\n");
            }
            for (format, n) in formats {
                s += &format!("| {kind} | {split} | {format} | {n} |\n");
            }
        }
    }
    s += &format!(
        "\nTasks: {}.\nSolved but wrong on the re-check (must be 0): {}. Duplicates dropped: {}.\n\n## Split\n\n{} \
         (heldout_percent = {}).\n\n## Sources\n\n| kind | path | items | SFT | DPO | licence |\n| --- | --- | --- | --- | --- | --- |\n",
        card.tasks.iter().map(|(s, t)| format!("{} {s}", t.len())).collect::<Vec<_>>().join(", "),
        card.solved_but_wrong,
        card.duplicates_dropped,
        card.split_rule,
        card.heldout_percent
    );
    for src in &card.sources {
        s += &format!(
            "| {} | `{}` | {} | {} | {} | {} (from {}) |\n",
            src.kind, src.path, src.items, src.sft_records, src.dpo_records, src.licence, src.licence_from
        );
    }
    s += "\n## Left out\n\n";
    if card.left_out.is_empty() {
        s += "Nothing.\n";
    }
    for (why, n) in &card.left_out {
        s += &format!("- {n}: {why}\n");
    }
    s += "\n## Notes\n\n";
    for n in &card.notes {
        s += &format!("- {n}\n");
    }
    s
}

/// `train` or `heldout`, from the task's description alone (see [`DataCard::split_rule`]).
pub fn split_of(description: &str, heldout_percent: u8) -> &'static str {
    let text = description.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase();
    let digest = Sha256::digest(format!("kingly-dataset-split\n{text}").as_bytes());
    let bucket = u16::from_be_bytes([digest[0], digest[1]]) % 100;
    if bucket < u16::from(heldout_percent) {
        "heldout"
    } else {
        "train"
    }
}

/// Program text with comments, blank lines and spacing differences removed: two programs that
/// normalise alike are the same training target.
pub fn normalise(text: &str) -> String {
    text.lines()
        .map(|l| {
            let code = l.split("//").next().unwrap_or("");
            let code =
                if code.trim_start().starts_with('#') && !code.trim_start().starts_with("#define") { "" } else { code };
            code.split_whitespace().collect::<Vec<_>>().join(" ")
        })
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The system and user turns for a record in `format`.
fn prompt(seen: &Task, format: &str) -> Vec<Message> {
    let spec = architect::spec(seen, None);
    vec![message("system", llm::system_prompt(format)), message("user", llm::user_prompt(seen, &spec, &[]))]
}

/// A reply as the `openai` backend expects it (llm::extract_code reads the first fenced block).
fn fenced(format: &str, text: &str) -> String {
    format!("```{format}\n{}\n```", text.trim_end())
}

/// The forms an attempt's program is logged in: (format, text).
fn forms(a: &Attempt) -> Vec<(String, String)> {
    let mut out = Vec::new();
    match a.language.as_str() {
        "dsl" => {
            if !a.source.is_empty() {
                out.push(("dsl".to_string(), a.source.clone()));
            }
            let asm = dsl_listing_assembly(&a.asm, &a.source);
            if !asm.trim().is_empty() {
                out.push(("asm".to_string(), asm));
            }
        }
        "asm" | "c" if !a.source.trim().is_empty() => out.push((a.language.clone(), a.source.clone())),
        _ => {}
    }
    out
}

/// A DSL candidate's compiled listing is `# <dsl line>` then the assembly: the assembly alone.
fn dsl_listing_assembly(listing: &str, dsl: &str) -> String {
    match listing.split_once('\n') {
        Some((first, rest)) if first.strip_prefix("# ") == Some(dsl) => rest.to_string(),
        _ => listing.to_string(),
    }
}

/// What the re-check compiles: the assembly (DSL and asm candidates) or the C.
fn recheck_source(a: &Attempt) -> Option<Source> {
    match a.language.as_str() {
        "dsl" => {
            let asm = dsl_listing_assembly(&a.asm, &a.source);
            // `lddw %rN, map:K` needs map definitions, which the listing does not carry.
            (!asm.trim().is_empty() && !asm.contains("map:")).then_some(Source::Asm(asm))
        }
        "asm" => (!a.source.contains("map:")).then(|| Source::Asm(a.source.clone())),
        "c" => Some(Source::C(a.source.clone())),
        _ => None,
    }
}

/// Re-verifies a program and runs it on every example of its task file, then the reference
/// examples, as `kingly code --eval` checks a solved program.
fn recheck(view: &View, source: &Source, work_dir: &Path) -> Result<(), String> {
    let candidate = Candidate { source: source.clone(), plausible: true, origin: "dataset recheck".into(), tokens: 0 };
    let compiled = stages::compile(&candidate, &view.task.layout, work_dir)?;
    let verified = stages::verify(&compiled, view.task.kind).map_err(|(_, m)| format!("re-verify: {m}"))?;
    for (examples, what) in [(&view.task.examples, "task file"), (&view.reference, "reference")] {
        if examples.is_empty() {
            continue;
        }
        let mut t = view.task.clone();
        t.examples = examples.clone();
        let report = stages::test(&verified, &t);
        if report.passed != report.total {
            return Err(format!(
                "{}/{} {what} examples pass; {}",
                report.passed,
                report.total,
                report.failures.first().cloned().unwrap_or_default()
            ));
        }
    }
    Ok(())
}

/// The view an attempt ran on: by task digest, or (logs written before the digest) by the task
/// name when exactly one task file has it with as many examples as the run saw.
fn find_view(views: &[View], by_digest: &HashMap<String, usize>, a: &Attempt) -> Result<usize, String> {
    if !a.task_digest.is_empty() {
        return by_digest
            .get(&a.task_digest)
            .copied()
            .ok_or_else(|| "attempt whose task is in none of the given task sets".to_string());
    }
    let named: Vec<usize> = views
        .iter()
        .enumerate()
        .filter(|(_, v)| v.task.name == a.task && v.seen.examples.len() == a.examples_total)
        .map(|(i, _)| i)
        .collect();
    let tasks: BTreeSet<&str> = named.iter().map(|i| views[*i].key.as_str()).collect();
    match tasks.len() {
        1 => Ok(named[0]),
        0 => Err("attempt (older log, no task digest) whose task name is in none of the given task sets".into()),
        _ => Err("attempt (older log, no task digest) whose task name is in several task sets".into()),
    }
}

/// `path` itself, or every `attempts.jsonl` below it.
fn find_logs(path: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let meta = std::fs::metadata(path).with_context(|| format!("attempt log {} does not exist", path.display()))?;
    if meta.is_file() {
        out.push(path.to_path_buf());
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
        .with_context(|| format!("reading {}", path.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for entry in entries {
        if entry.is_dir() {
            find_logs(&entry, out)?;
        } else if entry.file_name().is_some_and(|n| n == "attempts.jsonl") {
            out.push(entry);
        }
    }
    Ok(())
}

/// The licence of the files under `dir`: the first LICENSE/COPYING file in it or a parent
/// directory, else the `license` of the nearest Cargo.toml (its workspace's when inherited).
/// Returns (licence, where it was found).
pub fn licence_of(dir: &Path) -> (String, String) {
    let start = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let mut cargo_licence: Option<(String, String)> = None;
    for d in start.ancestors() {
        if let Ok(entries) = std::fs::read_dir(d) {
            let mut names: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
            names.sort();
            for p in names {
                let name = p.file_name().map(|n| n.to_string_lossy().to_uppercase()).unwrap_or_default();
                if name.starts_with("LICENSE") || name.starts_with("LICENCE") || name.starts_with("COPYING") {
                    let first = std::fs::read_to_string(&p)
                        .ok()
                        .and_then(|t| t.lines().find(|l| !l.trim().is_empty()).map(|l| l.trim().to_string()))
                        .unwrap_or_default();
                    return (first, p.display().to_string());
                }
            }
        }
        let manifest = d.join("Cargo.toml");
        if cargo_licence.is_none() {
            if let Some(l) = std::fs::read_to_string(&manifest)
                .ok()
                .and_then(|t| t.parse::<toml::Table>().ok())
                .and_then(|t| cargo_licence_field(&t))
            {
                cargo_licence = Some((l, manifest.display().to_string()));
            }
        }
        if d.join(".git").exists() {
            break;
        }
    }
    cargo_licence.unwrap_or_else(|| {
        ("unknown: no LICENSE file or Cargo.toml licence found; settle it before publishing".into(), "nowhere".into())
    })
}

fn cargo_licence_field(t: &toml::Table) -> Option<String> {
    // `license.workspace = true` is a table, not a string: then the workspace's own counts.
    let package = t.get("package").and_then(|p| p.get("license")).and_then(|l| l.as_str());
    let workspace = t.get("workspace").and_then(|w| w.get("package")).and_then(|p| p.get("license"));
    package.or(workspace.and_then(|l| l.as_str())).map(str::to_string)
}

/// A one-line summary of what was built, for the terminal.
pub fn summary(dataset: &Dataset) -> Value {
    json!({
        "sft": dataset.card.records.get("sft"),
        "dpo": dataset.card.records.get("dpo"),
        "tasks": dataset.card.tasks.iter().map(|(s, t)| (s.clone(), t.len())).collect::<BTreeMap<_, _>>(),
        "solved_but_wrong": dataset.card.solved_but_wrong,
        "duplicates_dropped": dataset.card.duplicates_dropped,
        "left_out": dataset.card.left_out,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalising_ignores_comments_and_spacing_only() {
        let a = "# return len(input)\nmov %r0, 1\n\n  exit  // done\n";
        let b = "mov  %r0,  1\nexit";
        assert_eq!(normalise(a), normalise(b));
        assert_ne!(normalise("mov %r0, 1\nexit"), normalise("mov %r0, 2\nexit"));
        assert_eq!(normalise("#define X 1\nreturn X;"), "#define X 1\nreturn X;");
    }

    #[test]
    fn split_is_by_normalised_description_and_stable() {
        let a = split_of("Count the spaces in the input.", 50);
        assert_eq!(a, split_of("  count the   spaces in the INPUT. ", 50));
        assert_eq!(split_of("anything", 0), "train");
        assert_eq!(split_of("anything", 100), "heldout");
        // About the asked share of a hundred different descriptions is held out.
        let held = (0..100).filter(|i| split_of(&format!("task number {i}"), 30) == "heldout").count();
        assert!((15..=45).contains(&held), "{held} of 100 held out at 30%");
    }

    #[test]
    fn an_older_log_line_still_reads() {
        // Written before `task_digest`, `source` and `asm` existed.
        let line = r#"{"task":"atoi","round":1,"origin":"branch decimal","candidate":"ab","backend":"offline","language":"dsl","compile":"ok","verify":"ok","test":"pass","examples_passed":5,"examples_total":5,"worst_case_insns":40,"budget_insns":262144,"error_class":null,"message":null,"memorising":null,"checked":"chosen, solved","ms":3,"tokens":0}"#;
        let a: Attempt = serde_json::from_str(line).unwrap();
        assert_eq!(a.task, "atoi");
        assert!(a.task_digest.is_empty() && a.source.is_empty());
        assert!(forms(&a).is_empty(), "no program text, so nothing to export");
    }

    #[test]
    fn a_dsl_listing_gives_both_forms() {
        let a = Attempt {
            language: "dsl".into(),
            source: "return len(input)".into(),
            asm: "# return len(input)\nldxdw %r2, [%r1+8]\nexit".into(),
            ..Attempt::default()
        };
        let f = forms(&a);
        assert_eq!(f[0], ("dsl".into(), "return len(input)".into()));
        assert_eq!(f[1], ("asm".into(), "ldxdw %r2, [%r1+8]\nexit".into()));
    }
}
