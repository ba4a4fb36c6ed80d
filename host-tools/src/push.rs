//! `kingly push`, `kingly agents` and `kingly keygen`: put a verified, signed agent on a running
//! kernel and see what runs there.

use crate::bpf_cli::{self, TypeName};
use crate::call::ConnectArgs;
use crate::client::{content_json, Client};
use crate::keys;
use anyhow::{bail, Context, Result};
use kingly_bpf::hooks::{Hook, Kind};
use kingly_bpf::{asm, isa, MapDef, Program};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// Options of `kingly push`.
#[derive(clap::Args, Debug, Clone)]
#[command(after_help = "Examples:\n  \
    kingly push examples/agents/slice_latency.o --hook sched_slice --connect unix:/tmp/kingly.sock\n  \
    kingly push examples/agents/crc32.s --hook tool --name crc32 --connect /dev/ttyUSB0\n  \
    kingly push stats.o --hook timer --period-ms 100 --cpu 1 --connect unix:/tmp/kingly.sock\n\n\
    FILE is an ELF object from `clang -target bpf -O2 -c` (.o; add -g for BTF-defined maps in\n\
    SEC(\".maps\")), Kingly assembly (.s; declare maps with lines like `#map hash key=4 value=8\n\
    max=64`), or raw bytecode (.bin). The program is verified here first (the kernel verifies it\n\
    again), signed with your key (kingly keygen), uploaded and attached. Pushing a program with a\n\
    name already loaded replaces it in place: the kernel verifies and loads the new one, moves\n\
    each hook (and timer) of the old one to it in one pointer swap, then unloads the old one, so a\n\
    hook never runs without a policy and `kingly agents` lists one program under the name. With\n\
    --json, a refusal prints {\"error\": …, \"status\": \"rejected\"|\"refused\"|\"error\", \"exit\": N}\n\
    on stdout.")]
pub struct PushArgs {
    /// The program: .o, .s or .bin.
    pub file: PathBuf,
    /// Where it runs: sched_slice, sched_cpu, mcp_admit (decision programs), timer, or tool
    /// (registers an MCP tool under --name).
    #[arg(long)]
    pub hook: String,
    /// Program type; derived from --hook when omitted.
    #[arg(long = "type", value_name = "TYPE")]
    pub kind: Option<String>,
    /// Name in bpf_list (and the tool's name for --hook tool); defaults to the file name.
    #[arg(long)]
    pub name: Option<String>,
    /// ELF section holding the program, when the object has several.
    #[arg(long)]
    pub section: Option<String>,
    /// Timer period in milliseconds (--hook timer).
    #[arg(long, default_value_t = 100)]
    pub period_ms: u32,
    /// Core a timer runs on (--hook timer).
    #[arg(long, default_value_t = 0)]
    pub cpu: u32,
    /// Skip the local verifier (the kernel's own verifier still decides).
    #[arg(long)]
    pub no_local_verify: bool,
    /// Directory of the signing key (default: $KINGLY_KEY_DIR or ~/.config/kingly).
    #[arg(long, value_name = "DIR")]
    pub key_dir: Option<PathBuf>,
    /// Print the kernel's answers as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

/// Options of `kingly agents`.
#[derive(clap::Args, Debug, Clone)]
#[command(
    subcommand_negates_reqs = true,
    args_conflicts_with_subcommands = true,
    after_help = "Columns: xlated = eBPF instructions the kernel verified; jited, a64 = bytes and\n\
    instructions of the A64 code the JIT made (- under the interpreter); max run = most\n\
    instructions one run executed (only the interpreter counts them); avg ns = time per run.\n\n\
    Examples:\n  \
    kingly agents --connect unix:/tmp/kingly.sock\n  \
    kingly agents dump slice_latency --xlated --connect unix:/tmp/kingly.sock\n  \
    kingly agents dump 3 --jited --connect unix:/tmp/kingly.sock"
)]
pub struct AgentsArgs {
    #[command(subcommand)]
    pub command: Option<AgentsCommand>,
    /// Print the kernel's bpf_list answer as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub connect: Option<ConnectArgs>,
}

/// What `kingly agents` does besides listing.
#[derive(clap::Subcommand, Debug, Clone)]
pub enum AgentsCommand {
    /// Print a loaded program's code, like `bpftool prog dump`: --xlated, the eBPF instructions
    /// the kernel verified; --jited, the A64 code its JIT made (hex words under each eBPF
    /// instruction, as `kingly bpf jit-disasm` prints them).
    Dump(DumpArgs),
}

/// Options of `kingly agents dump`.
#[derive(clap::Args, Debug, Clone)]
#[command(group = clap::ArgGroup::new("part").required(true).args(["xlated", "jited"]))]
pub struct DumpArgs {
    /// The program: its id or its name (see `kingly agents`).
    #[arg(value_name = "ID|NAME")]
    pub program: String,
    /// The verified eBPF instructions, disassembled.
    #[arg(long)]
    pub xlated: bool,
    /// The A64 code the kernel's JIT made, listed under each eBPF instruction.
    #[arg(long)]
    pub jited: bool,
    /// Print the dump as JSON (instructions as text lines, code as hex).
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

/// Options of `kingly unload`.
#[derive(clap::Args, Debug, Clone)]
#[command(after_help = "A program still attached to a hook or timer is refused: detach it first\n\
    (kingly detach ID|NAME), or give --force to detach it from everything and unload it in one go.\n\
    An unloaded program is freed once no core can still be running it.\n\n\
    Examples:\n  \
    kingly unload slice_latency --connect unix:/tmp/kingly.sock\n  \
    kingly unload 3 --force --connect unix:/tmp/kingly.sock")]
pub struct UnloadArgs {
    /// The program: its id or its name (see `kingly agents`).
    #[arg(value_name = "ID|NAME")]
    pub program: String,
    /// Detach it from its hooks and timer first (each hook's default policy answers again).
    #[arg(long)]
    pub force: bool,
    /// Print the kernel's answers (or the error) as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

/// Options of `kingly detach`.
#[derive(clap::Args, Debug, Clone)]
#[command(after_help = "Without --hook the program is detached from every hook and timer it is attached to;\n\
    the hook's default policy answers again. The program stays loaded (kingly unload removes it).\n\
    Only that program is detached: if another one has replaced it at the hook meanwhile, the\n\
    kernel refuses rather than detach the newer one.\n\n\
    Examples:\n  \
    kingly detach slice_latency --connect unix:/tmp/kingly.sock\n  \
    kingly detach 3 --hook sched_slice --connect unix:/tmp/kingly.sock")]
pub struct DetachArgs {
    /// The program: its id or its name (see `kingly agents`).
    #[arg(value_name = "ID|NAME")]
    pub program: String,
    /// Only this hook: sched_slice, sched_cpu, mcp_admit or timer.
    #[arg(long)]
    pub hook: Option<String>,
    /// Print the kernel's answers (or the error) as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

/// Options of `kingly keygen`.
#[derive(clap::Args, Debug, Clone)]
#[command(after_help = "The public key is built into every kernel `kingly boot` and `kingly image` build;\n\
    `kingly push` signs with the secret key. A new key needs a rebuilt (and reflashed) kernel.")]
pub struct KeygenArgs {
    /// Where to write kingly.key and kingly.pub (default: $KINGLY_KEY_DIR or ~/.config/kingly).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Replace an existing key pair.
    #[arg(long)]
    pub force: bool,
}

/// A program read from a file, ready to verify and sign.
#[derive(Debug, Clone)]
pub struct AgentProgram {
    pub bytecode: Vec<u8>,
    pub maps: Vec<MapDef>,
}

/// Reads `.o`, `.s` or raw bytecode.
pub fn read_program(path: &Path, section: Option<&str>) -> Result<AgentProgram> {
    Ok(read_program_and_section(path, section)?.0)
}

/// As [`read_program`], with the ELF section the program came from (`None` for `.s` and `.bin`).
pub fn read_program_and_section(path: &Path, section: Option<&str>) -> Result<(AgentProgram, Option<String>)> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "o" => {
            let object = kingly_bpf::elf::load(&bytes).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            let program = match section {
                Some(name) => object.program(name).with_context(|| {
                    let names: Vec<&str> = object.programs.iter().map(|p| p.section.as_str()).collect();
                    format!("{}: no section {name}; it has {}", path.display(), names.join(", "))
                })?,
                None => match object.programs.as_slice() {
                    [one] => one,
                    [] => bail!("{}: no program section", path.display()),
                    many => bail!(
                        "{}: several programs ({}); pick one with --section",
                        path.display(),
                        many.iter().map(|p| p.section.as_str()).collect::<Vec<_>>().join(", ")
                    ),
                },
            };
            let agent = AgentProgram { bytecode: isa::slots_to_bytes(&program.slots), maps: object.map_defs() };
            Ok((agent, Some(program.section.clone())))
        }
        "s" | "asm" => {
            let text = String::from_utf8(bytes).context("assembly is not UTF-8")?;
            let slots = asm::assemble(&text).with_context(|| path.display().to_string())?;
            let maps = asm::map_directives(&text).with_context(|| path.display().to_string())?;
            Ok((AgentProgram { bytecode: isa::slots_to_bytes(&slots), maps }, None))
        }
        _ => Ok((AgentProgram { bytecode: bytes, maps: Vec::new() }, None)),
    }
}

/// What `--hook` means: a decision hook, a timer or a tool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Decision(Hook),
    Timer,
    Tool,
}

impl Target {
    pub fn parse(name: &str) -> Result<Target> {
        match name {
            "timer" => Ok(Target::Timer),
            "tool" => Ok(Target::Tool),
            _ => Hook::by_name(name).map(Target::Decision).with_context(|| {
                format!("unknown hook {name:?}; hooks: sched_slice, sched_cpu, mcp_admit, timer, tool")
            }),
        }
    }

    /// The same target in the `bpf` verbs' terms, to check it against a `SEC()`.
    fn as_bpf_target(self) -> bpf_cli::Target {
        match self {
            Target::Decision(hook) => bpf_cli::Target { kind: TypeName::Decision, hook: Some(hook) },
            Target::Timer => bpf_cli::Target { kind: TypeName::Timer, hook: None },
            Target::Tool => bpf_cli::Target { kind: TypeName::Tool, hook: None },
        }
    }

    fn kind(self) -> Kind {
        match self {
            Target::Decision(_) => Kind::Decision,
            Target::Timer => Kind::Timer,
            Target::Tool => Kind::Tool,
        }
    }
}

/// A name the kernel accepts, made from a file name.
pub fn name_from_path(path: &Path) -> String {
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("agent");
    let mut name: String =
        stem.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' }).collect();
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        name.insert_str(0, "agent_");
    }
    name.truncate(kingly_proto::contract::MAX_NAME_BYTES);
    name
}

fn call(client: &mut Client, tool: &str, args: Value, bytes: Option<Vec<u8>>) -> Result<Value> {
    let result = client.call_tool(tool, &args.to_string(), bytes)?;
    let value = content_json(&result.content);
    if result.is_error {
        let text = value.as_str().map_or_else(|| value.to_string(), str::to_string);
        bail!(KernelRefused(format!("{tool}: {text}")));
    }
    Ok(value)
}

/// The kernel answered with an error (exit status 2, like a verifier rejection).
#[derive(Debug)]
pub struct KernelRefused(pub String);

impl std::fmt::Display for KernelRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the kernel refused: {}", self.0)
    }
}

impl std::error::Error for KernelRefused {}

/// A check on this side said no before (or instead of) asking the kernel: the local verifier
/// (`rejected`), or a hook, section or program that does not fit (`refused`). Exit status 2.
#[derive(Debug)]
pub struct Refusal {
    /// `rejected` (a verifier) or `refused` (anything else).
    pub status: &'static str,
    pub message: String,
}

impl Refusal {
    fn rejected(message: impl Into<String>) -> Self {
        Refusal { status: "rejected", message: message.into() }
    }
    fn refused(message: impl Into<String>) -> Self {
        Refusal { status: "refused", message: message.into() }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.status, self.message)
    }
}

impl std::error::Error for Refusal {}

/// Exit status and JSON `status` of an error: 2 for a refusal (here or by the kernel), 1 else.
pub fn error_status(error: &anyhow::Error) -> (i32, &'static str) {
    if let Some(refusal) = error.downcast_ref::<Refusal>() {
        (2, refusal.status)
    } else if error.downcast_ref::<KernelRefused>().is_some() {
        (2, "refused")
    } else {
        (1, "error")
    }
}

/// The JSON object a `--json` command prints on stdout when it fails.
pub fn error_json(error: &anyhow::Error) -> Value {
    let (exit, status) = error_status(error);
    json!({"error": format!("{error:#}"), "status": status, "exit": exit})
}

/// Ends a command: a refusal is printed (on stderr, or as a JSON object on stdout with
/// `--json`) and exits 2; any other error exits 1, as JSON on stdout with `--json`, else it is
/// left to `main` to print.
pub fn finish(json: bool, result: Result<i32>) -> Result<i32> {
    let error = match result {
        Ok(code) => return Ok(code),
        Err(error) => error,
    };
    let (exit, _) = error_status(&error);
    if json {
        println!("{}", serde_json::to_string_pretty(&error_json(&error))?);
        return Ok(exit);
    }
    if exit == 2 {
        eprintln!("{error:#}");
        return Ok(2);
    }
    Err(error)
}

/// Runs `kingly push`; exit 0 when attached, 2 when a verifier or the kernel refused.
pub fn run_push(args: &PushArgs) -> Result<i32> {
    finish(args.json, push_command(args))
}

fn push_command(args: &PushArgs) -> Result<i32> {
    let target = Target::parse(&args.hook)?;
    let kind = match &args.kind {
        Some(name) => {
            let kind = Kind::from_name(name)
                .with_context(|| format!("unknown type {name:?}; types: decision, tool, timer"))?;
            if kind != target.kind() {
                bail!("--type {name} does not fit --hook {}: it needs a {} program", args.hook, target.kind().name());
            }
            kind
        }
        None => target.kind(),
    };
    let name = match &args.name {
        Some(name) if kingly_proto::contract::valid_name(name) => name.clone(),
        Some(name) => bail!("bad --name {name:?}: use a-z, 0-9 and '_', starting with a letter (at most 48)"),
        None => name_from_path(&args.file),
    };
    let (program, section) = read_program_and_section(&args.file, args.section.as_deref())?;
    if let Some(section) = &section {
        if let Some(named) = bpf_cli::section_target(section).with_context(|| args.file.display().to_string())? {
            let program_name = args.file.display().to_string();
            let wanted = target.as_bpf_target();
            if let Err(refusal) =
                bpf_cli::check_hook_against_section(&program_name, section, named, &args.hook, wanted, true)
            {
                bail!(Refusal::refused(refusal.to_string()));
            }
        }
    }
    if !args.no_local_verify {
        let slots = isa::slots_from_bytes(&program.bytecode).map_err(|e| anyhow::anyhow!("{e}"))?;
        match Program::load_slots(slots, &kind.program_type(), &program.maps, &Default::default()) {
            Ok(verified) => {
                let stats = *verified.stats();
                if let Target::Decision(hook) = target {
                    if stats.worst_case_path_insns > hook.budget_insns {
                        bail!(Refusal::rejected(format!(
                            "worst case {} instructions exceeds {}'s budget of {}",
                            stats.worst_case_path_insns, hook.name, hook.budget_insns
                        )));
                    }
                }
                eprintln!(
                    "verified locally: {} instructions, worst case {} executed",
                    verified.raw().len(),
                    stats.worst_case_path_insns
                );
            }
            Err(e) => bail!(Refusal::rejected(e.to_string())),
        }
    }
    let key_dir = args.key_dir.clone().unwrap_or_else(keys::default_dir);
    let key = keys::load_signing(&key_dir)?;
    let mut client = args.connect.client()?;
    let report = push(&mut client, &key, kind, target, &name, &program, args.period_ms, args.cpu)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(&report);
    }
    Ok(0)
}

/// The `signature` argument of `bpf_load` (128 lowercase hex digits): the Ed25519 signature
/// with `key` over [`kingly_bpf::hooks::signed_message`], the bytes the kernel checks:
///
/// ```text
/// "kingly-bpf-load-v1\0"
/// u32 len, type name ("decision" | "tool" | "timer")
/// u32 len, program name
/// u32 map count, then per map: u32 kind (Linux numbers: 1 hash, 2 array, 6 percpu_array),
///     u32 key_size, u32 value_size, u32 max_entries
/// u32 len, bytecode (8-byte eBPF instruction slots)
/// ```
///
/// every integer little-endian. `kingly push` and `kingly mcp --allow-load` both sign here.
pub fn load_signature(
    key: &ed25519_dalek::SigningKey,
    kind: Kind,
    name: &str,
    maps: &[MapDef],
    bytecode: &[u8],
) -> String {
    let message = kingly_bpf::hooks::signed_message(kind, name, maps, bytecode);
    kingly_proto::contract::encode_hex(&keys::sign(key, &message))
}

/// Loads, attaches and returns the kernel's answers. A program of the same name is replaced in
/// place by the kernel (`bpf_load` with `replace`): the new one is verified and loaded, takes
/// over the old one's hooks and timer (one pointer swap per hook, so no decision is ever made
/// without a policy), and the old one is unloaded; nothing changes when the kernel refuses it.
#[allow(clippy::too_many_arguments)]
pub fn push(
    client: &mut Client,
    key: &ed25519_dalek::SigningKey,
    kind: Kind,
    target: Target,
    name: &str,
    program: &AgentProgram,
    period_ms: u32,
    cpu: u32,
) -> Result<Value> {
    let signature = load_signature(key, kind, name, &program.maps, &program.bytecode);
    let maps: Vec<Value> = program
        .maps
        .iter()
        .map(|m| {
            json!({
                "kind": kingly_proto::contract::MapKind::from(m.kind).as_str(),
                "key_size": m.key_size_bytes,
                "value_size": m.value_size_bytes,
                "max_entries": m.max_entries,
            })
        })
        .collect();
    let bar = indicatif::ProgressBar::new(program.bytecode.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("uploading {bytes}/{total_bytes} [{bar:30}] {bytes_per_sec}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let progress = bar.clone();
    client.on_send_progress = Some(Box::new(move |acked, _total| progress.set_position(u64::from(acked))));
    let args = json!({
        "type": kind.name(),
        "name": name,
        "signature": signature,
        "maps": maps,
        "replace": true,
    });
    let loaded = call(client, "bpf_load", args, Some(program.bytecode.clone()));
    client.on_send_progress = None;
    bar.finish_and_clear();
    let loaded = loaded?;
    let id = loaded["id"].as_u64().context("bpf_load answered without an id")?;
    let replaced = loaded["replaced"].clone();
    let took_over = |hook: &str| loaded["attached"].as_array().is_some_and(|a| a.iter().any(|h| h == hook));
    let attached = match target {
        // The kernel moved the old program's hook to the new one already.
        Target::Decision(hook) if took_over(hook.name) => {
            Some(json!({"attached": id, "hook": hook.name, "replaced": replaced["id"]}))
        }
        Target::Decision(hook) => Some(call(client, "bpf_attach", json!({"id": id, "hook": hook.name}), None)?),
        // Attached again even when the timer moved over: --period-ms and --cpu may have changed.
        Target::Timer => Some(call(
            client,
            "bpf_attach",
            json!({"id": id, "hook": "timer", "period_ms": period_ms, "cpu": cpu}),
            None,
        )?),
        Target::Tool => None,
    };
    Ok(json!({"loaded": loaded, "attached": attached, "replaced": replaced, "unloaded": replaced["id"]}))
}

fn print_report(report: &Value) {
    let loaded = &report["loaded"];
    let v = &loaded["verifier"];
    println!(
        "loaded {} as program {} ({}, {} instructions, engine {})",
        loaded["name"].as_str().unwrap_or("?"),
        loaded["id"],
        loaded["type"].as_str().unwrap_or("?"),
        loaded["insns"],
        loaded["engine"].as_str().unwrap_or("?")
    );
    println!(
        "kernel verifier: {} instructions processed, {} states stored, {} paths pruned, worst case {} instructions",
        v["insns_processed"], v["states_stored"], v["paths_pruned"], v["worst_case_path_insns"]
    );
    if let Some(old) = report["replaced"]["id"].as_u64() {
        let hooks = strings(&report["replaced"]["hooks"]);
        let moved = if hooks.is_empty() { String::new() } else { format!(" on {}", hooks.join(", ")) };
        println!("replaced program {old}{moved} in place and unloaded it");
    }
    match &report["attached"] {
        Value::Null => println!("registered as tool {}", loaded["name"].as_str().unwrap_or("?")),
        attached => {
            // Said once: a program replaced in place was reported above.
            let replaced = match &attached["replaced"] {
                Value::Null => String::new(),
                id if *id == report["replaced"]["id"] => String::new(),
                id => format!(" (replaced program {id})"),
            };
            println!("attached to {}{replaced}", attached["hook"].as_str().unwrap_or("?"));
        }
    }
}

fn strings(value: &Value) -> Vec<&str> {
    value.as_array().map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default()
}

/// The program `selector` (an id, else a name) names in a `bpf_list` answer; when none does,
/// a refusal that lists what is loaded.
pub fn resolve<'a>(list: &'a Value, selector: &str) -> Result<&'a Value> {
    let programs = list["programs"].as_array().map(Vec::as_slice).unwrap_or_default();
    let by_id = selector.parse::<u64>().ok().and_then(|id| programs.iter().find(|p| p["id"].as_u64() == Some(id)));
    if let Some(program) = by_id.or_else(|| programs.iter().find(|p| p["name"] == selector)) {
        return Ok(program);
    }
    let loaded: Vec<String> = programs
        .iter()
        .map(|p| {
            let attached = strings(&p["attached"]);
            let at = if attached.is_empty() { String::new() } else { format!(" ({})", attached.join(", ")) };
            format!("{} {}{at}", p["id"], p["name"].as_str().unwrap_or("?"))
        })
        .collect();
    let what = if selector.parse::<u64>().is_ok() { "with id" } else { "named" };
    bail!(Refusal::refused(if loaded.is_empty() {
        format!("no program {what} {selector} is loaded; nothing is loaded")
    } else {
        format!("no program {what} {selector} is loaded; loaded: {}", loaded.join(", "))
    }))
}

/// Detaches program `selector` from `hook`, or from every hook and timer it is attached to.
pub fn detach(client: &mut Client, selector: &str, hook: Option<&str>) -> Result<Value> {
    let list = call(client, "bpf_list", json!({}), None)?;
    let program = resolve(&list, selector)?;
    detach_program(client, program, hook)
}

fn detach_program(client: &mut Client, program: &Value, hook: Option<&str>) -> Result<Value> {
    let id = program["id"].as_u64().context("bpf_list answered without an id")?;
    let name = program["name"].as_str().unwrap_or("?");
    let attached = strings(&program["attached"]);
    let hooks: Vec<&str> = match hook {
        Some(hook) if !["sched_slice", "sched_cpu", "mcp_admit", "timer"].contains(&hook) => {
            bail!("unknown hook {hook:?}; hooks: sched_slice, sched_cpu, mcp_admit, timer")
        }
        Some(hook) if !attached.contains(&hook) => bail!(Refusal::refused(if attached.is_empty() {
            format!("program {id} ({name}) is not attached to {hook}; it is attached to nothing")
        } else {
            format!("program {id} ({name}) is not attached to {hook}; it is attached to {}", attached.join(", "))
        })),
        Some(hook) => vec![hook],
        None if attached.is_empty() => {
            bail!(Refusal::refused(format!("program {id} ({name}) is not attached to anything")))
        }
        None => attached,
    };
    for hook in &hooks {
        call(client, "bpf_detach", json!({"hook": hook, "id": id}), None)?;
    }
    Ok(json!({"detached": id, "name": name, "hooks": hooks}))
}

/// Unloads program `selector`; one still attached is refused unless `force`, which detaches
/// it from everything first.
pub fn unload(client: &mut Client, selector: &str, force: bool) -> Result<Value> {
    let list = call(client, "bpf_list", json!({}), None)?;
    let program = resolve(&list, selector)?;
    let id = program["id"].as_u64().context("bpf_list answered without an id")?;
    let name = program["name"].as_str().unwrap_or("?");
    let attached = strings(&program["attached"]);
    let detached = match (attached.is_empty(), force) {
        (true, _) => Vec::new(),
        (false, false) => bail!(Refusal::refused(format!(
            "program {id} ({name}) is attached to {}; detach it first (kingly detach {name}) or unload it with --force",
            attached.join(", ")
        ))),
        (false, true) => {
            let detached = detach_program(client, program, None)?;
            strings(&detached["hooks"]).into_iter().map(str::to_string).collect()
        }
    };
    call(client, "bpf_unload", json!({"id": id}), None)?;
    Ok(json!({"unloaded": id, "name": name, "detached": detached}))
}

/// Runs `kingly unload`.
pub fn run_unload(args: &UnloadArgs) -> Result<i32> {
    finish(
        args.json,
        (|| {
            let mut client = args.connect.client()?;
            let report = unload(&mut client, &args.program, args.force)?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                let detached = strings(&report["detached"]);
                if !detached.is_empty() {
                    println!("detached {} from {}", report["name"].as_str().unwrap_or("?"), detached.join(", "));
                }
                println!("unloaded program {} ({})", report["unloaded"], report["name"].as_str().unwrap_or("?"));
            }
            Ok(0)
        })(),
    )
}

/// Runs `kingly detach`.
pub fn run_detach(args: &DetachArgs) -> Result<i32> {
    finish(
        args.json,
        (|| {
            let mut client = args.connect.client()?;
            let report = detach(&mut client, &args.program, args.hook.as_deref())?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                println!(
                    "detached program {} ({}) from {}; it stays loaded",
                    report["detached"],
                    report["name"].as_str().unwrap_or("?"),
                    strings(&report["hooks"]).join(", ")
                );
            }
            Ok(0)
        })(),
    )
}

/// Runs `kingly agents` and `kingly agents dump`.
pub fn run_agents(args: &AgentsArgs) -> Result<i32> {
    if let Some(AgentsCommand::Dump(dump_args)) = &args.command {
        return run_dump(dump_args);
    }
    finish(
        args.json,
        (|| {
            let connect = args.connect.as_ref().context("--connect is required: where the kernel's UART is")?;
            let mut client = connect.client()?;
            let list = call(&mut client, "bpf_list", json!({}), None)?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                print!("{}", agents_table(&list));
            }
            Ok(0)
        })(),
    )
}

/// `kingly agents` as text: the signing mode, then one aligned row per program (each column as
/// wide as its widest cell). `xlated` counts the verified eBPF instructions; `jited` and
/// `a64` the bytes and instructions of the JIT's code; `max run` the most instructions one
/// run executed, which only the interpreter counts.
pub fn agents_table(list: &Value) -> String {
    let mut out = format!("signing: {}\n", list["signing"].as_str().unwrap_or("?"));
    let programs = list["programs"].as_array().cloned().unwrap_or_default();
    if programs.is_empty() {
        out.push_str("no programs loaded (every hook runs its default policy)\n");
        return out;
    }
    const HEADER: [&str; 12] =
        ["id", "name", "type", "attached", "engine", "xlated", "jited", "a64", "runs", "errors", "max run", "avg ns"];
    // Text columns are left-aligned, numbers right-aligned.
    const LEFT: [bool; 12] = [false, true, true, true, true, false, false, false, false, false, false, false];
    let number = |v: &Value| v.as_u64().map_or_else(|| "-".to_string(), |n| n.to_string());
    let rows: Vec<[String; 12]> = programs
        .iter()
        .map(|p| {
            let runs = p["runs"].as_u64().unwrap_or(0);
            let avg_ns = p["total_ns"].as_u64().unwrap_or(0).checked_div(runs).unwrap_or(0);
            let attached = strings(&p["attached"]);
            let interpreted = p["engine"] == "interpreter";
            [
                number(&p["id"]),
                p["name"].as_str().unwrap_or("?").to_string(),
                p["type"].as_str().unwrap_or("?").to_string(),
                if attached.is_empty() { "-".to_string() } else { attached.join(",") },
                p["engine"].as_str().unwrap_or("?").to_string(),
                number(if p["xlated_insns"].is_null() { &p["insns"] } else { &p["xlated_insns"] }),
                number(&p["jited_bytes"]),
                number(&p["jited_insns"]),
                runs.to_string(),
                number(&p["errors"]),
                if interpreted { number(&p["max_insns"]) } else { "-".to_string() },
                avg_ns.to_string(),
            ]
        })
        .collect();
    let mut widths = HEADER.map(str::len);
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut line = |cells: &[String]| {
        let mut text = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i > 0 {
                text.push_str("  ");
            }
            let pad = " ".repeat(widths[i] - cell.chars().count());
            if LEFT[i] {
                text.push_str(cell);
                text.push_str(&pad);
            } else {
                text.push_str(&pad);
                text.push_str(cell);
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(&HEADER.map(str::to_string));
    for row in &rows {
        line(row);
    }
    out
}

/// Which code `kingly agents dump` shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DumpPart {
    /// The verified eBPF instructions.
    Xlated,
    /// The JIT's A64 code under each eBPF instruction.
    Jited,
}

/// One part of a program's code from `bpf_dump`, fetched chunk by chunk; the last chunk's
/// JSON comes with it.
fn dump_part(client: &mut Client, id: u64, part: &str) -> Result<(Value, Vec<u8>)> {
    let mut bytes = Vec::new();
    loop {
        let args = json!({"id": id, "part": part, "offset": bytes.len()});
        let result = client.call_tool("bpf_dump", &args.to_string(), None)?;
        let mut meta = Value::Null;
        let mut chunk = None;
        for item in &result.content {
            match item {
                kingly_proto::Content::Bytes { data, .. } => chunk = Some(data),
                other => meta = content_json(std::slice::from_ref(other)),
            }
        }
        if result.is_error {
            let text = meta.as_str().map_or_else(|| meta.to_string(), str::to_string);
            bail!(KernelRefused(format!("bpf_dump: {text}")));
        }
        let chunk = chunk.context("bpf_dump answered without bytes")?;
        let total = meta["total_bytes"].as_u64().context("bpf_dump answered without total_bytes")? as usize;
        if chunk.is_empty() && bytes.len() < total {
            bail!("bpf_dump of program {id} stopped at byte {} of {total} ({part})", bytes.len());
        }
        bytes.extend_from_slice(chunk);
        if bytes.len() >= total {
            bytes.truncate(total);
            return Ok((meta, bytes));
        }
    }
}

/// `kingly agents dump`: the program's listing and what the kernel said about it.
pub fn dump(client: &mut Client, selector: &str, part: DumpPart) -> Result<Value> {
    let list = call(client, "bpf_list", json!({}), None)?;
    let program = resolve(&list, selector)?;
    let id = program["id"].as_u64().context("bpf_list answered without an id")?;
    let (meta, xlated) = dump_part(client, id, "xlated")?;
    let slots = isa::slots_from_bytes(&xlated).map_err(|e| anyhow::anyhow!("bpf_dump's xlated bytes: {e}"))?;
    let decoded = isa::decode_program(slots).map_err(|e| anyhow::anyhow!("bpf_dump's xlated bytes: {e}"))?;
    let mut report = json!({
        "id": id,
        "name": meta["name"],
        "type": meta["type"],
        "engine": meta["engine"],
        "xlated_insns": decoded.insns.len(),
    });
    let listing = match part {
        DumpPart::Xlated => kingly_bpf::disasm::format_program(&decoded.insns),
        DumpPart::Jited => {
            let (code_meta, code) = dump_part(client, id, "jited")?;
            let (_, offsets) = dump_part(client, id, "jited_slots")?;
            let words: Vec<u32> = code.chunks_exact(4).map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]])).collect();
            let slot_offsets: Vec<u32> =
                offsets.chunks_exact(4).map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]])).collect();
            if slot_offsets.len() != decoded.insns.len() {
                bail!("bpf_dump gave {} slot offsets for {} instructions", slot_offsets.len(), decoded.insns.len());
            }
            let stubs_offset = code_meta["stubs_offset"].as_u64().map_or(words.len() as u32, |o| o as u32);
            // The listing indexes the words by these offsets: check them before trusting them.
            let in_order = slot_offsets.windows(2).all(|pair| pair[0] <= pair[1]);
            let last = slot_offsets.last().copied().unwrap_or(0);
            if !in_order || last > stubs_offset || stubs_offset as usize > words.len() {
                bail!("bpf_dump gave slot offsets that do not fit its {} words of code", words.len());
            }
            report["jited_bytes"] = json!(code.len());
            report["jited_insns"] = json!(words.len());
            let code = kingly_bpf::jit::aarch64::Code { words, slot_offsets, stubs_offset, leaf: false };
            kingly_bpf::jit::aarch64::listing_insns(&decoded.insns, &code)
        }
    };
    report["part"] = json!(match part {
        DumpPart::Xlated => "xlated",
        DumpPart::Jited => "jited",
    });
    report["listing"] = json!(listing);
    Ok(report)
}

/// Runs `kingly agents dump`.
pub fn run_dump(args: &DumpArgs) -> Result<i32> {
    finish(
        args.json,
        (|| {
            let part = if args.jited { DumpPart::Jited } else { DumpPart::Xlated };
            let mut client = args.connect.client()?;
            let report = dump(&mut client, &args.program, part)?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&report)?);
                return Ok(0);
            }
            let header = match part {
                DumpPart::Xlated => format!("{} eBPF instructions (xlated)", report["xlated_insns"]),
                DumpPart::Jited => format!(
                    "{} bytes, {} A64 instructions (jited) for {} eBPF instructions",
                    report["jited_bytes"], report["jited_insns"], report["xlated_insns"]
                ),
            };
            println!(
                "program {} ({}, {}, engine {}): {header}",
                report["id"],
                report["name"].as_str().unwrap_or("?"),
                report["type"].as_str().unwrap_or("?"),
                report["engine"].as_str().unwrap_or("?")
            );
            print!("{}", report["listing"].as_str().unwrap_or(""));
            Ok(0)
        })(),
    )
}

/// Runs `kingly keygen`: makes the key pair, or shows the one there (the first `kingly boot`
/// makes it too, so "once" may already have happened). Exit 0 either way; `--force` replaces.
pub fn run_keygen(args: &KeygenArgs) -> Result<i32> {
    let default_dir = keys::default_dir();
    let dir = args.dir.clone().unwrap_or_else(|| default_dir.clone());
    let existing = dir.join("kingly.key").exists() && !args.force;
    let public = if existing { keys::load_signing(&dir)?.verifying_key() } else { keys::generate(&dir, args.force)? };
    if existing {
        println!("a key pair is already in {} (kept; --force makes a new one)", dir.display());
    } else {
        println!("wrote {} and kingly.pub", dir.join("kingly.key").display());
    }
    println!("public key: {}", keys::public_hex(&public));
    if same_dir(&dir, &default_dir) {
        println!("kernels built by `kingly boot`/`kingly image` embed it and accept programs signed with it");
        if args.force {
            println!("kernels built before now refuse programs signed with it: rebuild (and reflash) them");
        }
    } else {
        println!(
            "kernels embed the key in {} (KINGLY_KEY_DIR or the default), not this one: to use this \
             one, set KINGLY_KEY_DIR={} for `kingly boot`/`kingly image` and push with --key-dir {}",
            default_dir.display(),
            dir.display(),
            dir.display()
        );
    }
    Ok(0)
}

fn same_dir(a: &Path, b: &Path) -> bool {
    a == b || matches!((a.canonicalize(), b.canonicalize()), (Ok(x), Ok(y)) if x == y)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assembly_declares_its_maps_with_map_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("counter.s");
        std::fs::write(&path, "#map hash key=4 value=16 max=64\n#map array key=4 value=8 max=1\nmov %r0, 0\nexit\n")
            .unwrap();
        let program = read_program(&path, None).unwrap();
        assert_eq!(program.maps.len(), 2);
        let hash = MapDef { kind: kingly_bpf::MapKind::Hash, key_size_bytes: 4, value_size_bytes: 16, max_entries: 64 };
        assert_eq!(program.maps[0], hash);
        assert_eq!(program.bytecode.len(), 16);
        std::fs::write(&path, "#map tree key=4 value=8 max=1\nexit\n").unwrap();
        let error = format!("{:#}", read_program(&path, None).unwrap_err());
        assert!(error.contains("counter.s") && error.contains("map kind"), "{error}");
    }

    #[test]
    fn names_and_targets() {
        assert_eq!(name_from_path(Path::new("dir/Slice-Latency.o")), "slice_latency");
        assert_eq!(name_from_path(Path::new("9lives.s")), "agent_9lives");
        assert_eq!(Target::parse("sched_cpu").unwrap(), Target::Decision(kingly_bpf::hooks::SCHED_CPU));
        assert_eq!(Target::parse("tool").unwrap(), Target::Tool);
        assert!(Target::parse("sched").unwrap_err().to_string().contains("hooks:"));
    }
}
