//! The `openai` backend against a scripted OpenAI-compatible server on 127.0.0.1: the first
//! reply is a program the verifier rejects, the second a correct one. The loop must feed the
//! verifier's message back in the next request and recover.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::thread;

use kingly_coder::coder::{self, Settings};
use kingly_coder::{LlmConfig, LlmGenerator, Task};

/// Serves `replies` in order (one per request) and records each request body.
fn scripted_server(replies: Vec<(String, &'static str)>) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    thread::spawn(move || {
        for (i, stream) in listener.incoming().enumerate() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap();
                }
                if line == "\r\n" {
                    break;
                }
            }
            let mut body = vec![0u8; length];
            reader.read_exact(&mut body).unwrap();
            log.lock().unwrap().push(String::from_utf8(body).unwrap());
            let (content, finish) = replies.get(i).cloned().unwrap_or((String::new(), "stop"));
            let reply = serde_json::json!({
                "id": format!("chat-{i}"),
                "object": "chat.completion",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": finish}],
                "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120},
            })
            .to_string();
            let response = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{reply}",
                reply.len()
            );
            stream.write_all(response.as_bytes()).unwrap();
        }
    });
    (format!("http://{addr}/v1"), seen)
}

fn first_byte_task() -> Task {
    Task::parse(
        "first-byte",
        "description = \"Return the first input byte, or 255 when the input is empty.\"\ntype = \"tool\"\n\
         [[examples]]\ninput = \"07 01\"\noutput = 7\n[[examples]]\ninput = \"\"\noutput = 255\n[[examples]]\ninput = \"2a\"\noutput = 42\n",
    )
    .unwrap()
}

fn config(base_url: String, language: &str) -> LlmConfig {
    LlmConfig { base_url, model: "scripted".into(), language: language.into(), ..LlmConfig::default() }
}

const UNCHECKED_ASM: &str = "```asm\nldxdw %r2, [%r1+0]\nldxb %r0, [%r2+0]\nexit\n```";
const CHECKED_ASM: &str = "Fixed: the read is now checked.\n```asm\nldxdw %r2, [%r1+0]\nldxdw %r3, [%r1+8]\nmov %r4, %r2\nadd %r4, 1\njgt %r4, %r3, empty\nldxb %r0, [%r2+0]\nexit\nempty:\nmov %r0, 255\nexit\n```";

#[test]
fn verifier_error_is_fed_back_and_the_loop_recovers() {
    let (url, requests) = scripted_server(vec![(UNCHECKED_ASM.into(), "stop"), (CHECKED_ASM.into(), "stop")]);
    let out = std::env::temp_dir().join(format!("kingly-coder-openai-{}", std::process::id()));
    let settings = Settings { candidates: 1, max_rounds: 3, out_dir: out.clone(), ..Settings::default() };
    let mut generator = LlmGenerator::new(config(url, "asm"));
    let result = coder::run(&first_byte_task(), &mut generator, &settings, None).unwrap();

    let requests = requests.lock().unwrap();
    assert_eq!(requests.len(), 2, "one request per round until a candidate passes");
    assert_eq!(result.rounds, 2);
    let first: serde_json::Value = serde_json::from_str(&requests[0]).unwrap();
    assert_eq!(first["n"], 1);
    assert!(!requests[0].contains("verifier rejected"));
    // The second prompt carries the verifier's refusal of the first program, with the code.
    let second: serde_json::Value = serde_json::from_str(&requests[1]).unwrap();
    let prompt = second["messages"][1]["content"].as_str().unwrap();
    assert!(prompt.contains("verifier rejected the program"), "{prompt}");
    assert!(prompt.contains("packet access"), "{prompt}");
    assert!(prompt.contains("ldxb %r0, [%r2+0]"), "{prompt}");
    assert_ne!(first["seed"], second["seed"]);

    let chosen = result.chosen.expect("the second program passes");
    assert_eq!(chosen.round, 2);
    assert_eq!(chosen.report.passed, 3);
    assert_eq!(result.attempts[0].verify, "rejected");
    assert!(result.attempts[0].error_class.as_deref().unwrap().starts_with("verify:"));
    assert_eq!(result.attempts[1].test, "pass");
    assert_eq!(result.attempts[1].tokens, 120);

    // Every attempt is one JSON line in the log.
    let log = std::fs::read_to_string(&result.log_path).unwrap();
    let lines: Vec<serde_json::Value> = log.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["backend"], "openai");
    assert_eq!(lines[0]["verify"], "rejected");
    assert_eq!(lines[1]["test"], "pass");
    let _ = std::fs::remove_dir_all(out);
}

#[test]
fn truncated_replies_are_failed_candidates_and_c_compiles_with_clang() {
    let truncated =
        "```c\nSEC(\"prog\") u64 entry(struct tool_ctx *ctx) {\n  u8 *p = (u8 *)(long)ctx->data;".to_string();
    let good_c = "```c\nSEC(\"prog\") u64 entry(struct tool_ctx *ctx) {\n    u8 *p = (u8 *)(long)ctx->data;\n    u8 *end = (u8 *)(long)ctx->data_end;\n    if (p + 1 > end)\n        return 255;\n    return p[0];\n}\n```".to_string();
    let (url, requests) = scripted_server(vec![(truncated, "length"), (good_c, "stop")]);
    let out = std::env::temp_dir().join(format!("kingly-coder-openai-c-{}", std::process::id()));
    let settings = Settings { candidates: 2, max_rounds: 1, out_dir: out.clone(), ..Settings::default() };
    let mut generator = LlmGenerator::new(config(url, "c"));
    let result = coder::run(&first_byte_task(), &mut generator, &settings, None).unwrap();
    assert_eq!(requests.lock().unwrap().len(), 2, "K = 2 requests in one round");
    assert_eq!(result.attempts[0].error_class.as_deref(), Some("llm:truncated"));
    assert_eq!(result.attempts[1].language, "c");
    assert_eq!(result.attempts[1].test, "pass", "{:?}", result.attempts[1]);
    assert!(result.chosen.is_some());
    let _ = std::fs::remove_dir_all(out);
}

fn committee(url: String) -> coder::Committee {
    coder::Committee {
        members: vec![
            Box::new(LlmGenerator::new(config(url, "asm"))),
            Box::new(kingly_coder::OfflineGenerator::default()),
        ],
    }
}

/// "Largest byte" with examples whose largest byte is always the first: a model's first-byte
/// program fits them, but the synthesizer's max(bytes) fits too and disagrees elsewhere, so the
/// model's program is not solved: the run is ambiguous and asks about a separating input.
#[test]
fn a_models_program_that_fits_but_means_something_else_is_not_solved() {
    const FIRST_OR_ZERO: &str = "```asm\nldxdw %r2, [%r1+0]\nldxdw %r3, [%r1+8]\nmov %r4, %r2\nadd %r4, 1\njgt %r4, %r3, empty\nldxb %r0, [%r2+0]\nexit\nempty:\nmov %r0, 0\nexit\n```";
    let (url, _) = scripted_server(vec![(FIRST_OR_ZERO.into(), "stop")]);
    let task = Task::parse(
        "largest",
        "description = \"Return the largest input byte, or 0 for an empty input.\"\ntype = \"tool\"\n\
         [[examples]]\ninput = \"03 02 01\"\noutput = 3\n[[examples]]\ninput = \"05\"\noutput = 5\n\
         [[examples]]\ninput = \"\"\noutput = 0\n[[examples]]\ninput = \"20 10\"\noutput = 32\n",
    )
    .unwrap();
    let out = std::env::temp_dir().join(format!("kingly-coder-openai-committee-{}", std::process::id()));
    let settings = Settings { candidates: 4, max_rounds: 1, out_dir: out.clone(), ..Settings::default() };
    let result = coder::run(&task, &mut committee(url), &settings, None).unwrap();
    assert!(
        result.attempts.iter().any(|a| a.origin.starts_with("scripted") && a.test == "pass"),
        "the model's program fits"
    );
    assert_ne!(result.status, coder::Status::Solved, "{:?} {:?}", result.status, result.status_why);
    assert_eq!(result.status, coder::Status::Ambiguous, "{:?}", result.status_why);
    let q = &result.questions[0];
    assert!(q.answers.iter().any(|a| a.program.contains("max(bytes)")), "{q:?}");
    let _ = std::fs::remove_dir_all(out);
}

/// The same model program on a task that means it: the synthesizer agrees on every probe, so it
/// is solved; the model alone (no synthesizer beside it) is only unsure.
#[test]
fn a_models_program_is_solved_only_when_the_synthesizer_agrees() {
    let (url, _) = scripted_server(vec![(CHECKED_ASM.into(), "stop")]);
    let out = std::env::temp_dir().join(format!("kingly-coder-openai-agree-{}", std::process::id()));
    let settings = Settings { candidates: 4, max_rounds: 1, out_dir: out.clone(), ..Settings::default() };
    let result = coder::run(&first_byte_task(), &mut committee(url), &settings, None).unwrap();
    assert_eq!(result.status, coder::Status::Solved, "{:?}", result.status_why);

    let (url, _) = scripted_server(vec![(CHECKED_ASM.into(), "stop")]);
    let alone = coder::run(&first_byte_task(), &mut LlmGenerator::new(config(url, "asm")), &settings, None).unwrap();
    assert_eq!(alone.status, coder::Status::Unsure, "{:?}", alone.status_why);
    assert!(alone.status_why[0].contains("no synthesizer candidate confirms it"), "{:?}", alone.status_why);
    let _ = std::fs::remove_dir_all(out);
}
