//! The `openai` backend: any OpenAI-compatible chat-completions endpoint (llama.cpp server,
//! ollama, vLLM, ...). One request per candidate (`n = 1`, a different seed each), restricted C
//! compiled with `clang-14 -target bpf` or kingly-bpf assembly. A reply cut off by the token
//! limit (`finish_reason: "length"`) is a failed candidate, never a program.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use crate::architect::Spec;
use crate::catalog::EXEMPLARS;
use crate::coder::{Feedback, Generated, Generator};
use crate::stages::{Candidate, Source, C_PRELUDE};
use crate::task::Task;

/// Endpoint settings. Environment: `KINGLY_LLM_BASE_URL` (default `http://127.0.0.1:8080/v1`),
/// `KINGLY_LLM_MODEL`, `KINGLY_LLM_API_KEY`, `KINGLY_LLM_LANG` (`c` or `asm`),
/// `KINGLY_LLM_MAX_TOKENS`, `KINGLY_LLM_TEMPERATURE`; or a TOML file with the same keys in
/// lower case without the prefix (`base_url = ...`), named by `KINGLY_LLM_CONFIG`.
#[derive(Clone, Debug)]
pub struct LlmConfig {
    pub base_url: String,
    pub model: String,
    pub api_key: Option<String>,
    pub language: String,
    pub max_tokens: u64,
    pub temperature: f64,
    pub timeout: Duration,
}

impl Default for LlmConfig {
    fn default() -> Self {
        LlmConfig {
            base_url: "http://127.0.0.1:8080/v1".into(),
            model: "default".into(),
            api_key: None,
            language: "c".into(),
            max_tokens: 1024,
            temperature: 0.7,
            timeout: Duration::from_secs(120),
        }
    }
}

impl LlmConfig {
    /// Defaults, then the config file (if `KINGLY_LLM_CONFIG` names one), then the environment.
    pub fn from_env() -> Result<LlmConfig> {
        let mut c = LlmConfig::default();
        if let Ok(path) = std::env::var("KINGLY_LLM_CONFIG") {
            c.apply_file(Path::new(&path))?;
        }
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        if let Some(v) = var("KINGLY_LLM_BASE_URL") {
            c.base_url = v;
        }
        if let Some(v) = var("KINGLY_LLM_MODEL") {
            c.model = v;
        }
        if let Some(v) = var("KINGLY_LLM_API_KEY") {
            c.api_key = Some(v);
        }
        if let Some(v) = var("KINGLY_LLM_LANG") {
            c.language = v;
        }
        if let Some(v) = var("KINGLY_LLM_MAX_TOKENS") {
            c.max_tokens = v.parse().context("KINGLY_LLM_MAX_TOKENS must be a number")?;
        }
        if let Some(v) = var("KINGLY_LLM_TEMPERATURE") {
            c.temperature = v.parse().context("KINGLY_LLM_TEMPERATURE must be a number")?;
        }
        c.check()?;
        Ok(c)
    }

    pub fn apply_file(&mut self, path: &Path) -> Result<()> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading LLM config {}", path.display()))?;
        let t: toml::Table = toml::from_str(&text).with_context(|| format!("{} is not valid TOML", path.display()))?;
        let s = |k: &str| t.get(k).and_then(|v| v.as_str()).map(str::to_string);
        if let Some(v) = s("base_url") {
            self.base_url = v;
        }
        if let Some(v) = s("model") {
            self.model = v;
        }
        if let Some(v) = s("api_key") {
            self.api_key = Some(v);
        }
        if let Some(v) = s("lang") {
            self.language = v;
        }
        if let Some(v) = t.get("max_tokens").and_then(|v| v.as_integer()) {
            self.max_tokens = v.max(1) as u64;
        }
        if let Some(v) = t.get("temperature").and_then(|v| v.as_float()) {
            self.temperature = v;
        }
        Ok(())
    }

    fn check(&self) -> Result<()> {
        if !matches!(self.language.as_str(), "c" | "asm") {
            bail!("KINGLY_LLM_LANG must be `c` or `asm`, not `{}`", self.language);
        }
        if self.base_url.starts_with("https://") && !cfg!(feature = "https") {
            bail!(
                "{} needs TLS: build kingly with `--features kingly-coder/https`, or use an http:// endpoint",
                self.base_url
            );
        }
        if !self.base_url.starts_with("http://") && !self.base_url.starts_with("https://") {
            bail!("KINGLY_LLM_BASE_URL must start with http:// (got `{}`)", self.base_url);
        }
        Ok(())
    }
}

/// Something that answers a chat: an HTTP endpoint ([`HttpChat`]) or a model run in-process
/// (`kingly code --backend local`). Every backend shares the prompts, the reply parsing and the
/// checks of [`LlmGenerator`].
pub trait ChatModel {
    /// One chat completion of `messages` (`[{"role", "content"}]`): (content, finish_reason,
    /// tokens). `finish_reason` is `length` when the reply hit the token limit.
    fn complete(&mut self, messages: &Value, seed: u64) -> Result<(String, String, u64)>;
}

/// An OpenAI-compatible chat-completions endpoint.
pub struct HttpChat {
    config: LlmConfig,
    agent: ureq::Agent,
}

/// The generator that asks a chat model.
pub struct LlmGenerator {
    pub config: LlmConfig,
    model: Box<dyn ChatModel>,
    backend: &'static str,
}

impl LlmGenerator {
    /// The `openai` backend: `config`'s endpoint.
    pub fn new(config: LlmConfig) -> LlmGenerator {
        let agent = ureq::Agent::new_with_config(
            ureq::Agent::config_builder().timeout_global(Some(config.timeout)).http_status_as_error(false).build(),
        );
        let model = Box::new(HttpChat { config: config.clone(), agent });
        LlmGenerator { config, model, backend: "openai" }
    }

    /// Another backend (`backend` names it in the attempt log) with the same prompts and checks;
    /// `config.model` names the model in each attempt's origin.
    pub fn with_model(config: LlmConfig, model: Box<dyn ChatModel>, backend: &'static str) -> LlmGenerator {
        LlmGenerator { config, model, backend }
    }
}

impl ChatModel for HttpChat {
    /// One chat completion: (content, finish_reason, total tokens).
    fn complete(&mut self, messages: &Value, seed: u64) -> Result<(String, String, u64)> {
        let url = format!("{}/chat/completions", self.config.base_url.trim_end_matches('/'));
        let body = json!({
            "model": self.config.model,
            "messages": messages,
            "n": 1,
            "seed": seed,
            "temperature": self.config.temperature,
            "max_tokens": self.config.max_tokens,
        });
        let mut request = self.agent.post(&url).header("Content-Type", "application/json");
        if let Some(key) = &self.config.api_key {
            request = request.header("Authorization", &format!("Bearer {key}"));
        }
        let mut response = request.send(body.to_string()).with_context(|| format!("POST {url}"))?;
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().context("reading the response body")?;
        if status != 200 {
            bail!("{url} answered HTTP {status}: {}", text.chars().take(200).collect::<String>());
        }
        let v: Value = serde_json::from_str(&text).context("response is not JSON")?;
        let choice = v["choices"].get(0).context("response has no choices")?;
        let content = choice["message"]["content"].as_str().unwrap_or("").to_string();
        let finish = choice["finish_reason"].as_str().unwrap_or("").to_string();
        let tokens = v["usage"]["total_tokens"].as_u64().unwrap_or(0);
        Ok((content, finish, tokens))
    }
}

/// The system prompt: what a Kingly program is and how to answer.
pub fn system_prompt(language: &str) -> String {
    if language == "dsl" {
        // Only `kingly dataset` asks for this form: the coder's synthesizer writes it, and no
        // backend reads it back yet.
        return "You describe eBPF extensions for Kingly in its program notation: answer with exactly one \
                ```dsl fenced block holding one line `return EXPR`, where EXPR combines features of the \
                input (len(input), count(b in CLASS), input[i], le16(input[a..b]), leading_decimal(input), \
                context field names, ...) with arithmetic, comparisons and `if c then a else b`."
            .to_string();
    }
    let how = if language == "asm" {
        "Answer with exactly one ```asm fenced block in kingly-bpf assembly (gcc style: `mov %r0, 1`, \
         `ldxdw %r2, [%r1+0]`, `jgt %r3, %r4, label`, `lddw %r1, map:0`, `call 1`, `exit`)."
    } else {
        "Answer with exactly one ```c fenced block: restricted C for `clang -target bpf -O2`. Write one \
         function in SEC(\"prog\") taking the context pointer and returning u64, e.g. \
         `SEC(\"prog\") u64 entry(struct tool_ctx *ctx)` (do not name it `prog`). The prelude below is \
         already included; do not repeat it. Loops need a constant bound; check every packet read \
         against data_end first; check map lookups for NULL."
    };
    format!(
        "You write eBPF extensions for Kingly, a kernel that verifies them with a strict verifier \
         before loading. {how}\n\nPrelude (already included for C):\n{C_PRELUDE}"
    )
}

/// The user prompt: task, spec, retrieved context, examples and the previous round's failures.
pub fn user_prompt(task: &Task, spec: &Spec, feedback: &[Feedback]) -> String {
    let mut p = format!("Task: {}\n\nSpec: {}\n", task.description, spec.summary());
    match &task.layout {
        crate::task::Layout::Packet => p += "Context: struct tool_ctx { u64 data; u64 data_end; } around the input bytes (at most 4096). Return the result in r0.\n",
        crate::task::Layout::Struct { fields, .. } => {
            let f: Vec<String> = fields.iter().map(|f| format!("{} u{} @{}", f.name, 8 * f.size_bytes, f.offset)).collect();
            p += &format!("Context (read-only): {}. Return the result in r0.\n", f.join(", "));
        }
    }
    p += "\nReference:\n";
    for c in &spec.catalog {
        p += &format!("- {c}\n");
    }
    for (id, _) in &spec.exemplars {
        if let Some(e) = EXEMPLARS.iter().find(|e| e.id == *id) {
            p += &format!("- idiom: {}\n", e.text);
        }
    }
    for x in &spec.extra {
        p += &format!("- {x}\n");
    }
    p += "\nExamples (input -> expected r0):\n";
    for e in task.examples.iter().take(10) {
        p += &format!("- {} -> {}\n", e.input.describe(&task.layout), e.output);
    }
    if !feedback.is_empty() {
        p += "\nEarlier attempts failed. Fix these problems:\n";
        for f in feedback.iter().rev().take(4) {
            p += &format!("- attempt ({}) failed [{}]: {}\n", f.origin, f.error_class, f.message);
            if !f.source.is_empty() {
                p += &format!("  its code was:\n{}\n", f.source.lines().take(40).collect::<Vec<_>>().join("\n"));
            }
        }
    }
    p
}

/// The first fenced code block and its language tag.
pub fn extract_code(reply: &str) -> Option<(String, String)> {
    let start = reply.find("```")?;
    let rest = &reply[start + 3..];
    let newline = rest.find('\n')?;
    let tag = rest[..newline].trim().to_ascii_lowercase();
    let body = &rest[newline + 1..];
    let end = body.find("```").unwrap_or(body.len());
    Some((tag, body[..end].to_string()))
}

impl Generator for LlmGenerator {
    fn name(&self) -> &'static str {
        self.backend
    }

    fn generate(&mut self, task: &Task, spec: &Spec, round: usize, k: usize, feedback: &[Feedback]) -> Vec<Generated> {
        let messages = json!([
            {"role": "system", "content": system_prompt(&self.config.language)},
            {"role": "user", "content": user_prompt(task, spec, feedback)},
        ]);
        (0..k)
            .map(|i| {
                let started = Instant::now();
                let origin = format!("{} request {} of round {round}", self.config.model, i + 1);
                let seed = (round as u64) * 1000 + i as u64;
                let fail = |class: &str, message: String, tokens: u64| Generated {
                    candidate: None,
                    origin: origin.clone(),
                    error: Some((class.to_string(), message)),
                    tokens,
                    ms: started.elapsed().as_millis() as u64,
                    reflection: None,
                };
                let (content, finish, tokens) = match self.model.complete(&messages, seed) {
                    Ok(r) => r,
                    Err(e) => {
                        return fail(
                            if self.backend == "openai" { "llm:http" } else { "llm:local" },
                            format!("{e:#}"),
                            0,
                        )
                    }
                };
                if finish == "length" {
                    return fail("llm:truncated", "the reply hit max_tokens before the program ended".into(), tokens);
                }
                let Some((tag, code)) = extract_code(&content) else {
                    return fail("llm:no_code", "the reply has no fenced code block".into(), tokens);
                };
                let source =
                    if tag.starts_with("asm") || tag == "s" || (tag.is_empty() && self.config.language == "asm") {
                        Source::Asm(code)
                    } else {
                        Source::C(code)
                    };
                Generated {
                    candidate: Some(Candidate { source, plausible: true, origin: origin.clone(), tokens }),
                    origin,
                    error: None,
                    tokens,
                    ms: started.elapsed().as_millis() as u64,
                    reflection: None,
                }
            })
            .collect()
    }
}
