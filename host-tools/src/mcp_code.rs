//! The bridge's `code` tool: `kingly code` for MCP clients. A task in English plus examples
//! becomes a verified eBPF program through the offline coder; when the examples do not decide
//! between programs the bridge asks the user through MCP elicitation (`elicitation/create`)
//! what a separating input should return, and runs again with the answer as a new example.

use anyhow::{bail, Context, Result};
use kingly_coder::coder::{self, Answered, Generator, OfflineGenerator, Question, RunResult, Settings};
use kingly_coder::task::Task;
use serde_json::{json, Value};

/// The tool as `tools/list` shows it.
pub fn tool() -> Value {
    json!({
        "name": "code",
        "title": "Write a verified eBPF extension",
        "description": "Turn a task in English plus input/output examples into a verified eBPF program, \
            with the offline coder (no network). The result's status is solved, ambiguous, unsure or \
            unsupported; only solved means the program does what the text says as far as every check \
            can tell. When the examples do not decide between programs, a client that supports \
            elicitation is asked what a separating input should return (at most 5 questions); other \
            clients get status ambiguous with the questions: add the answers as examples and call again.",
        "inputSchema": {
            "type": "object",
            "properties": {
                "description": {"type": "string", "description": "What the program computes, in English, e.g. \"Count the bytes equal to 0x20 (spaces)\"."},
                "examples": {
                    "type": "array", "minItems": 1,
                    "description": "Input/output pairs. Tool programs: {\"input\": \"hex bytes\", \"output\": N}. Decision and timer programs: the context's fields by name plus output, e.g. {\"runnable\": 3, \"output\": 2}.",
                    "items": {"type": "object", "properties": {
                        "input": {"type": "string", "description": "The input packet as hex bytes (tool programs), or s:TEXT for literal text."},
                        "output": {"type": ["integer", "string"], "description": "What the program must return (a number, or 0x-hex)."}
                    }, "required": ["output"]}
                },
                "type": {"type": "string", "enum": ["tool", "decision", "timer"], "description": "Program type (default tool)."},
                "hook": {"type": "string", "enum": ["sched_slice", "sched_cpu", "mcp_admit"], "description": "The decision hook (type decision only)."}
            },
            "required": ["description", "examples"],
            "additionalProperties": false
        },
        "outputSchema": {
            "type": "object",
            "properties": {
                "status": {"enum": ["solved", "ambiguous", "unsure", "unsupported"], "description": "Only solved means the program does what the text says, as far as every check can tell."},
                "program": {"type": ["string", "null"], "description": "Path of the chosen program (raw bytecode), runnable by kingly bpf run."},
                "program_hex": {"type": "string", "description": "The chosen program's bytecode in hex, as bpf_load's bytes_hex takes it."},
                "type": {"type": "string", "description": "Program type."},
                "source": {"type": ["string", "null"], "description": "Source of the chosen program."},
                "asm": {"type": ["string", "null"], "description": "Its disassembly."},
                "confidence": {"type": "number", "description": "How sure the coder is, 0 to 1."},
                "rounds": {"type": "integer", "description": "Synthesis rounds run."},
                "candidates": {"type": "array", "items": {"type": "object"}, "description": "Every candidate and its verdict."},
                "checks": {"type": "array", "items": {"type": "object"}, "description": "The checks the chosen program passed or failed."},
                "questions": {"type": "array", "items": {"type": "string"}, "description": "What to answer when ambiguous."},
                "answered": {"type": "array", "description": "Questions answered by elicitation."}
            },
            "required": ["status", "questions"]
        },
        "annotations": {"title": "Write a verified eBPF extension", "readOnlyHint": true, "destructiveHint": false, "idempotentHint": true, "openWorldHint": false},
    })
}

/// Builds the task from the tool's arguments (the same TOML a task file holds).
pub fn task_from_arguments(arguments: &Value) -> Result<Task> {
    let object = arguments.as_object().context("arguments must be an object")?;
    if let Some(bad) = object.keys().find(|k| !["description", "examples", "type", "hook"].contains(&k.as_str())) {
        bail!("unexpected argument `{bad}`: code takes description, examples, type and hook");
    }
    let description = object
        .get("description")
        .and_then(Value::as_str)
        .filter(|d| !d.trim().is_empty())
        .context("code needs `description`: the task in English")?;
    let examples = object
        .get("examples")
        .and_then(Value::as_array)
        .filter(|e| !e.is_empty())
        .context("code needs `examples`: a non-empty array of {\"input\": \"hex\", \"output\": N} objects")?;
    let mut doc = toml::Table::new();
    doc.insert("description".into(), toml::Value::String(description.into()));
    for key in ["type", "hook"] {
        if let Some(v) = object.get(key) {
            let s = v.as_str().with_context(|| format!("`{key}` must be a string"))?;
            doc.insert(key.into(), toml::Value::String(s.into()));
        }
    }
    if object.contains_key("hook") && !object.contains_key("type") {
        doc.insert("type".into(), toml::Value::String("decision".into()));
    }
    let mut list = Vec::new();
    for (i, example) in examples.iter().enumerate() {
        let fields = example.as_object().with_context(|| format!("example {} is not an object", i + 1))?;
        let mut table = toml::Table::new();
        for (key, value) in fields {
            let v = match value {
                Value::String(s) => toml::Value::String(s.clone()),
                Value::Bool(b) => toml::Value::Boolean(*b),
                Value::Number(n) => match (n.as_i64(), n.as_u64()) {
                    (Some(i), _) => toml::Value::Integer(i),
                    (None, Some(u)) => toml::Value::String(format!("{u:#x}")),
                    _ => bail!("example {}: `{key}` must be a whole number, not {n}", i + 1),
                },
                other => bail!("example {}: `{key}` must be a number or a string, not {other}", i + 1),
            };
            table.insert(key.clone(), v);
        }
        list.push(toml::Value::Table(table));
    }
    doc.insert("examples".into(), toml::Value::Array(list));
    Task::parse("mcp_task", &toml::to_string(&doc)?)
}

/// The elicitation request for `question`: one integer, what the separating input returns.
pub fn elicitation_params(question: &Question) -> Value {
    let input = if question.input.is_empty() { "the empty input".to_string() } else { question.input.clone() };
    json!({
        "mode": "form",
        "message": format!("Kingly's coder found programs that fit every example but disagree: {}. \
                            Which answer is right?", question.text),
        "requestedSchema": {
            "type": "object",
            "properties": {"output": {
                "type": "integer",
                "title": "Output",
                "description": format!("What the program should return on {input}")
            }},
            "required": ["output"]
        }
    })
}

/// The answer in an `elicitation/create` response, if the user accepted and gave a number.
pub fn elicited_answer(response: &Value) -> Option<u64> {
    let result = response.get("result")?;
    if result["action"] != "accept" {
        return None;
    }
    let v = &result["content"]["output"];
    v.as_u64()
        .or_else(|| v.as_str().and_then(crate::code_cli::parse_answer))
        .or_else(|| v.as_f64().filter(|f| f.fract() == 0.0 && *f >= 0.0).map(|f| f as u64))
}

/// Runs the coder on the tool's arguments; `ask` is the elicitation round trip (`None` when the
/// client cannot elicit or the user declined).
pub fn run(
    arguments: &Value,
    out_dir: std::path::PathBuf,
    ask: &mut dyn FnMut(&Question) -> Option<u64>,
) -> Result<Value> {
    let mut task = match task_from_arguments(arguments) {
        Ok(task) => task,
        Err(e) => return Ok(error_result(format!("{e:#}"))),
    };
    let settings = Settings { out_dir, ..Settings::default() };
    let mut make = || Box::new(OfflineGenerator::default()) as Box<dyn Generator>;
    let (result, answered) =
        coder::run_asking(&mut task, &mut make, &settings, None, ask, crate::code_cli::MAX_QUESTIONS)?;
    let bin = settings.out_dir.join("program.bin");
    let _ = std::fs::remove_file(&bin);
    if let Some(chosen) = &result.chosen {
        let bytes = kingly_bpf::isa::slots_to_bytes(&chosen.compiled.slots);
        std::fs::write(&bin, bytes).with_context(|| format!("writing {}", bin.display()))?;
    }
    let mut structured = crate::code_cli::result_json(&task, &result, &answered, &bin);
    if let Some(chosen) = &result.chosen {
        let hex: String =
            kingly_bpf::isa::slots_to_bytes(&chosen.compiled.slots).iter().map(|b| format!("{b:02x}")).collect();
        structured["program_hex"] = Value::String(hex);
    }
    Ok(json!({
        "content": [{"type": "text", "text": summary(&result, &answered)}],
        "structuredContent": structured,
        "isError": false,
    }))
}

fn summary(result: &RunResult, answered: &[Answered]) -> String {
    let mut s = format!("status: {} ({})", result.status.name(), result.status_why.join("; "));
    for a in answered {
        s += &format!("\nanswered: `{}` returns {}", a.question.input, a.answer);
    }
    for q in &result.questions {
        s += &format!("\nquestion: {}", q.text);
    }
    if let Some(chosen) = &result.chosen {
        s += &format!("\n--- source ---\n{}", chosen.compiled.listing.trim_end());
    }
    s
}

fn error_result(message: String) -> Value {
    json!({"content": [{"type": "text", "text": message}], "isError": true})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_become_a_task_and_bad_ones_say_why() {
        let task = task_from_arguments(&json!({
            "description": "Count the spaces.",
            "examples": [{"input": "20 61 20", "output": 2}, {"input": "", "output": 0}]
        }))
        .unwrap();
        assert_eq!(task.examples.len(), 2);
        let decision = task_from_arguments(&json!({
            "description": "Twice the queue length.", "hook": "sched_slice",
            "examples": [{"runnable": 3, "output": 6}]
        }))
        .unwrap();
        assert_eq!(decision.kind, kingly_bpf::Kind::Decision);
        for (args, says) in [
            (json!({"examples": [{"input": "", "output": 0}]}), "description"),
            (json!({"description": "x", "examples": []}), "examples"),
            (json!({"description": "x", "examples": [{"input": "zz", "output": 0}]}), "hex"),
            (json!({"description": "x", "examples": [{"input": "", "output": 0.5}]}), "whole number"),
            (json!({"description": "x", "examples": [1]}), "not an object"),
            (json!({"description": "x", "bogus": 1, "examples": [{"input": "", "output": 0}]}), "bogus"),
            (json!({"description": "x", "type": "decision", "examples": [{"output": 0}]}), "hook"),
        ] {
            let e = format!("{:#}", task_from_arguments(&args).unwrap_err());
            assert!(e.contains(says), "{args}: {e}");
        }
    }

    #[test]
    fn reads_accepted_answers_only() {
        let accept = |content: Value| json!({"result": {"action": "accept", "content": {"output": content}}});
        assert_eq!(elicited_answer(&accept(json!(3))), Some(3));
        assert_eq!(elicited_answer(&accept(json!("0x10"))), Some(16));
        assert_eq!(elicited_answer(&accept(json!(2.0))), Some(2));
        assert_eq!(elicited_answer(&accept(json!(-1))), None);
        assert_eq!(elicited_answer(&json!({"result": {"action": "decline"}})), None);
        assert_eq!(elicited_answer(&json!({"error": {"code": -1, "message": "no"}})), None);
    }
}
