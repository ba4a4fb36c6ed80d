//! `kingly dataset` on a real coder run: the offline synthesizer runs `--eval` on a committed
//! task set (as offline_eval.rs does), and the dataset built from its attempt log must keep its
//! promises: the splits share no task, nothing is duplicated, every SFT target is a program the
//! coder chose as solved that really verifies and passes every example of its task file, the
//! user turn is the `openai` backend's own prompt, a solved-but-wrong line is caught, and an
//! older log (no task digest) still reads.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use kingly_coder::coder::{Attempt, Generator, OfflineGenerator, Settings};
use kingly_coder::dataset::{self, normalise, Dataset, Options};
use kingly_coder::stages::{self, Candidate, Source};
use kingly_coder::{architect, eval, llm, Task};

const SET: &str = "tasks/coder-fresh";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn options(logs: &Path, dir: &Path) -> Options {
    Options {
        logs: vec![logs.to_path_buf()],
        task_sets: vec![repo().join(SET)],
        heldout_percent: 30,
        work_dir: dir.join("work"),
    }
}

/// The program inside an assistant turn.
fn code(content: &str) -> String {
    llm::extract_code(content).expect("a fenced block").1
}

fn task_named(tasks: &[Task], key: &str) -> Task {
    let name = key.rsplit('/').next().unwrap();
    tasks.iter().find(|t| t.name == name).cloned().unwrap()
}

/// Assembles, verifies and runs `asm` on every example and reference example of `task`.
fn passes_everything(task: &Task, asm: &str) -> Result<(), String> {
    let candidate = Candidate { source: Source::Asm(asm.into()), plausible: true, origin: "test".into(), tokens: 0 };
    let compiled = stages::compile(&candidate, &task.layout, Path::new("unused"))?;
    let verified = stages::verify(&compiled, task.kind).map_err(|(_, m)| m)?;
    for examples in [task.examples.clone(), task.reference_examples().unwrap()] {
        let mut t = task.clone();
        t.examples = examples;
        let report = stages::test(&verified, &t);
        if report.passed != report.total {
            return Err(format!("{}/{}: {:?}", report.passed, report.total, report.failures.first()));
        }
    }
    Ok(())
}

fn check_promises(dataset: &Dataset, tasks: &[Task], log: &[Attempt]) {
    // Splits never share a task, by file or by description.
    let sides = |split: &str| -> BTreeSet<String> {
        let sft = dataset.sft.iter().filter(|r| r.split == split).map(|r| r.task.clone());
        sft.chain(dataset.dpo.iter().filter(|r| r.split == split).map(|r| r.task.clone())).collect()
    };
    let (train, heldout) = (sides("train"), sides("heldout"));
    assert!(!train.is_empty() && !heldout.is_empty(), "both splits have tasks: {train:?} / {heldout:?}");
    assert!(train.is_disjoint(&heldout), "a task on both sides: {:?}", train.intersection(&heldout));
    let descriptions = |keys: &BTreeSet<String>| -> BTreeSet<String> {
        keys.iter().map(|k| task_named(tasks, k).description.to_lowercase()).collect()
    };
    assert!(descriptions(&train).is_disjoint(&descriptions(&heldout)));

    // No duplicates.
    let mut seen = BTreeSet::new();
    for r in &dataset.sft {
        let key = (r.task.clone(), r.format.clone(), normalise(&code(&r.messages[2].content)));
        assert!(seen.insert(key), "duplicate SFT record for {}", r.task);
        assert!(seen.insert((r.task.clone(), r.format.clone(), r.candidate.clone())), "{}: one bytecode twice", r.task);
    }
    let mut pairs = BTreeSet::new();
    for r in &dataset.dpo {
        let key = (r.task.clone(), r.format.clone(), code(&r.chosen[0].content), code(&r.rejected[0].content));
        assert!(pairs.insert(key), "duplicate DPO pair for {}", r.task);
        assert!(!r.reason.is_empty(), "a rejected program without its reason: {r:?}");
    }

    // Every SFT target: chosen as solved by the coder, and really right.
    for r in &dataset.sft {
        assert_eq!(r.messages.iter().map(|m| m.role.as_str()).collect::<Vec<_>>(), ["system", "user", "assistant"]);
        let line = log
            .iter()
            .find(|a| a.candidate == r.candidate && a.checked.as_deref() == Some("chosen, solved"))
            .unwrap_or_else(|| panic!("{}: no log line chose {} as solved", r.task, r.candidate));
        assert_eq!(line.test, "pass");
        assert_eq!(line.verify, "ok");
        let task = task_named(tasks, &r.task);
        if r.format == "asm" && r.rechecked {
            passes_everything(&task, &code(&r.messages[2].content)).unwrap_or_else(|e| panic!("{}: {e}", r.task));
        }
        // The user turn is the openai backend's prompt for what the run saw.
        let seen = eval::coder_view(&task);
        let spec = architect::spec(&seen, None);
        assert_eq!(r.messages[1].content, llm::user_prompt(&seen, &spec, &[]), "{}", r.task);
        assert_eq!(r.messages[0].content, llm::system_prompt(&r.format));
    }
    assert!(dataset.sft.iter().any(|r| r.format == "asm") && dataset.sft.iter().any(|r| r.format == "dsl"));
}

fn read_log(path: &Path) -> Vec<Attempt> {
    std::fs::read_to_string(path).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn a_dataset_from_a_real_offline_run_keeps_its_promises() {
    let dir = std::env::temp_dir().join(format!("kingly-dataset-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let run_dir = dir.join("run");
    let tasks = Task::load_dir(&repo().join(SET)).unwrap();
    let settings = Settings { out_dir: run_dir.clone(), ..Settings::default() };
    let mut make = || Box::new(OfflineGenerator::default()) as Box<dyn Generator>;
    let report = eval::evaluate(&tasks, &mut make, &settings, |_| {}).unwrap();
    let log_path = run_dir.join("attempts.jsonl");
    let log = read_log(&log_path);

    let built = dataset::build(&options(&run_dir, &dir)).unwrap();
    eprintln!("{}", dataset::render_card(&built.card));
    check_promises(&built, &tasks, &log);
    assert_eq!(built.card.solved_but_wrong, 0);
    // One target task per correct task, at most (a run may solve a task that `--eval` marks wrong
    // only through the re-check, which the card would count).
    let sft_tasks: BTreeSet<&str> = built.sft.iter().map(|r| r.task.as_str()).collect();
    assert_eq!(sft_tasks.len(), report.correct(), "{}", report.summary());

    // The files: one JSON object a line, train and heldout apart, the card beside them.
    let out = dir.join("out");
    dataset::write(&built, &out).unwrap();
    let rows = |name: &str| std::fs::read_to_string(out.join(name)).unwrap().lines().count();
    assert_eq!(rows("sft-train.jsonl") + rows("sft-heldout.jsonl"), built.sft.len());
    assert_eq!(rows("dpo-train.jsonl") + rows("dpo-heldout.jsonl"), built.dpo.len());
    let card: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("data_card.json")).unwrap()).unwrap();
    assert_eq!(card["sources"][0]["licence"], "MIT OR Apache-2.0", "the task set's licence is the workspace's");
    assert!(std::fs::read_dir(&out).unwrap().all(|e| !e.unwrap().file_name().to_string_lossy().contains(".tmp-")));

    // A solved line whose program is wrong (as a corrupted or hand-edited log would have) never
    // becomes a target: the re-check catches it and it becomes a rejected program.
    let solved = log.iter().find(|a| a.checked.as_deref() == Some("chosen, solved")).expect("a solved task").clone();
    let mut forged = solved.clone();
    forged.candidate = "forged".into();
    forged.source = "return 48879".into();
    forged.asm = "# return 48879\nmov %r0, 48879\nexit".into();
    let tampered = dir.join("tampered");
    std::fs::create_dir_all(&tampered).unwrap();
    let mut lines = std::fs::read_to_string(&log_path).unwrap();
    lines += &(serde_json::to_string(&forged).unwrap() + "\n");
    std::fs::write(tampered.join("attempts.jsonl"), lines).unwrap();
    let caught = dataset::build(&options(&tampered, &dir)).unwrap();
    assert_eq!(caught.card.solved_but_wrong, 1);
    assert!(caught.sft.iter().all(|r| r.candidate != "forged"));
    assert_eq!(caught.sft.len(), built.sft.len());
    let pair = caught.dpo.iter().find(|r| code(&r.rejected[0].content).contains("48879")).expect("a pair");
    assert_eq!(pair.rejected_stage, "recheck");
    assert!(pair.reason.contains("examples pass"), "{}", pair.reason);

    // A second run that wrote the same programs (here: a copy of the log) adds no record.
    let twice = dir.join("twice");
    for run in ["a", "b"] {
        std::fs::create_dir_all(twice.join(run)).unwrap();
        std::fs::copy(&log_path, twice.join(run).join("attempts.jsonl")).unwrap();
    }
    let deduplicated = dataset::build(&options(&twice, &dir)).unwrap();
    assert_eq!(deduplicated.sft.len(), built.sft.len());
    assert_eq!(deduplicated.dpo.len(), built.dpo.len());
    assert!(deduplicated.card.duplicates_dropped >= built.card.duplicates_dropped + built.sft.len() + built.dpo.len());

    // An older log, written before lines carried the task digest, gives the same targets.
    let old = dir.join("old");
    std::fs::create_dir_all(&old).unwrap();
    let stripped: String = std::fs::read_to_string(&log_path)
        .unwrap()
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            v.as_object_mut().unwrap().remove("task_digest");
            format!("{v}\n")
        })
        .collect();
    std::fs::write(old.join("attempts.jsonl"), stripped).unwrap();
    let from_old = dataset::build(&options(&old, &dir)).unwrap();
    assert_eq!(from_old.sft.len(), built.sft.len());
    let _ = std::fs::remove_dir_all(&dir);
}
