//! `kingly code` through the binary as a user runs it: `--json`, the exit status of each
//! outcome, `--ask` answering a question on stdin, and the chosen program run by
//! `kingly bpf run --type tool --input HEX`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kingly-code-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Sums and xors agree on these examples: the text ("checksum") names both.
const CHECKSUM_EXAMPLES: &str =
    "[[examples]]\ninput = \"01 02\"\noutput = 3\n[[examples]]\ninput = \"04\"\noutput = 4\n\
    [[examples]]\ninput = \"\"\noutput = 0\n[[examples]]\ninput = \"10 01 20\"\noutput = 0x31\n";

fn code(dir: &Path, text: &str, examples: &str, extra: &[&str], stdin: &str) -> (Output, serde_json::Value) {
    let file = dir.join("examples.toml");
    std::fs::write(&file, examples).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_kingly"))
        .arg("code")
        .arg(text)
        .arg("--examples")
        .arg(&file)
        .arg("--out")
        .arg(dir.join("out"))
        .arg("--json")
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("stdout is not one JSON object ({e}):\n{}\n{}", String::from_utf8_lossy(&out.stdout), stderr(&out))
    });
    (out, json)
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn bpf_run(program: &str, input: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_kingly"))
        .args(["bpf", "run", "--type", "tool", "--input", input, program])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    String::from_utf8_lossy(&out.stdout).lines().last().unwrap_or("").to_string()
}

#[test]
fn ambiguous_examples_exit_3_with_questions_and_ask_settles_them() {
    let dir = scratch("ask");
    let (out, json) = code(&dir, "Compute the checksum of the bytes.", CHECKSUM_EXAMPLES, &[], "");
    assert_eq!(out.status.code(), Some(3), "{json:#}\n{}", stderr(&out));
    assert_eq!(json["status"], "ambiguous");
    let question = &json["question_details"][0];
    assert!(json["questions"][0].as_str().unwrap().starts_with("what should"), "{json:#}");
    let answers: Vec<u64> =
        question["answers"].as_array().unwrap().iter().map(|a| a["returns"].as_u64().unwrap()).collect();
    assert_ne!(answers[0], answers[1], "{question:#}");
    // Every passing candidate says what the final checks made of it; the rival names the input.
    let checked: Vec<&str> =
        json["candidates"].as_array().unwrap().iter().filter_map(|c| c["checked"].as_str()).collect();
    assert!(checked.contains(&"chosen, ambiguous"), "{checked:?}");
    assert!(checked.iter().any(|c| c.contains("disagrees with the chosen program on")), "{checked:?}");
    let log = std::fs::read_to_string(json["log"].as_str().unwrap()).unwrap();
    assert!(log.contains("\"checked\":\"chosen, ambiguous\""), "{log}");
    for key in ["program", "type", "source", "asm", "confidence", "rounds", "candidates", "checks"] {
        assert!(!json[key].is_null(), "--json lacks {key}: {json:#}");
    }

    // The answer the xor reading gives; a bad answer first is asked again.
    let input = question["input"].as_str().unwrap().to_string();
    let bytes: Vec<u8> =
        (0..input.len()).step_by(2).map(|i| u8::from_str_radix(&input[i..i + 2], 16).unwrap()).collect();
    let xor = bytes.iter().fold(0u64, |a, b| a ^ u64::from(*b));
    let (out, json) =
        code(&dir, "Compute the checksum of the bytes.", CHECKSUM_EXAMPLES, &["--ask"], &format!("lots\n{xor}\n"));
    let err = stderr(&out);
    assert!(err.contains("is not a number"), "{err}");
    assert!(err.contains(&format!("What should {input} return?")), "{err}");
    assert_eq!(out.status.code(), Some(0), "{json:#}\n{err}");
    assert_eq!(json["status"], "solved", "{json:#}");
    assert_eq!(json["answered"][0]["answer"], xor);
    assert!(json["source"].as_str().unwrap().contains("xor(bytes)"), "{json:#}");

    // The chosen program runs as the kernel runs a tool agent, on inputs it never saw.
    let program = json["program"].as_str().unwrap();
    assert_eq!(bpf_run(program, "0f01"), "0xe");
    assert_eq!(bpf_run(program, "03030303"), "0x0");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn each_outcome_has_its_exit_status() {
    let dir = scratch("status");
    // The same input with two outputs: no program fits.
    let contradictory = "[[examples]]\ninput = \"01\"\noutput = 1\n[[examples]]\ninput = \"01\"\noutput = 2\n";
    let (out, json) = code(&dir, "Count the bytes.", contradictory, &[], "");
    assert_eq!((out.status.code(), json["status"].as_str()), (Some(1), Some("unsupported")), "{json:#}");
    assert!(json["program"].is_null());

    let spaces = "[[examples]]\ninput = \"20 61 20\"\noutput = 2\n[[examples]]\ninput = \"\"\noutput = 0\n\
        [[examples]]\ninput = \"61 62\"\noutput = 0\n[[examples]]\ninput = \"20 20 20 20\"\noutput = 4\n";
    let (out, json) = code(&dir, "Count the spaces.", spaces, &[], "");
    assert_eq!((out.status.code(), json["status"].as_str()), (Some(0), Some("solved")), "{json:#}");
    assert_eq!(bpf_run(json["program"].as_str().unwrap(), "2020612020"), "0x4");

    // Answers `--ask` does not get (EOF) leave the result ambiguous.
    let (out, json) = code(&dir, "Compute the checksum of the bytes.", CHECKSUM_EXAMPLES, &["--ask"], "");
    assert_eq!((out.status.code(), json["status"].as_str()), (Some(3), Some("ambiguous")), "{json:#}");
    let _ = std::fs::remove_dir_all(dir);
}
