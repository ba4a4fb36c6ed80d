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
    name already loaded replaces it.")]
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
pub struct AgentsArgs {
    /// Print the kernel's bpf_list answer as JSON.
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
    name.truncate(kingly_kernel::agents::MAX_NAME_BYTES);
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

/// Runs `kingly push`; exit 0 when attached, 2 when a verifier or the kernel refused.
pub fn run_push(args: &PushArgs) -> Result<i32> {
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
        Some(name) if kingly_kernel::agents::valid_name(name) => name.clone(),
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
                eprintln!("refused: {refusal}");
                return Ok(2);
            }
        }
    }
    if !args.no_local_verify {
        let slots = isa::slots_from_bytes(&program.bytecode).map_err(|e| anyhow::anyhow!("{e}"))?;
        match Program::load_slots(slots, &kind.program_type(), &program.maps, &Default::default()) {
            Ok(verified) => {
                let stats = verified.stats().copied().unwrap_or_default();
                if let Target::Decision(hook) = target {
                    if stats.worst_case_path_insns > hook.budget_insns {
                        eprintln!(
                            "rejected: worst case {} instructions exceeds {}'s budget of {}",
                            stats.worst_case_path_insns, hook.name, hook.budget_insns
                        );
                        return Ok(2);
                    }
                }
                eprintln!(
                    "verified locally: {} instructions, worst case {} executed",
                    verified.raw().len(),
                    stats.worst_case_path_insns
                );
            }
            Err(e) => {
                eprintln!("rejected: {e}");
                return Ok(2);
            }
        }
    }
    let key_dir = args.key_dir.clone().unwrap_or_else(keys::default_dir);
    let key = keys::load_signing(&key_dir)?;
    let mut client = args.connect.client()?;
    match push(&mut client, &key, kind, target, &name, &program, args.period_ms, args.cpu) {
        Ok(report) => {
            if args.json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print_report(&report);
            }
            Ok(0)
        }
        Err(e) if e.downcast_ref::<KernelRefused>().is_some() => {
            eprintln!("{e}");
            Ok(2)
        }
        Err(e) => Err(e),
    }
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
    kingly_kernel::agents::tools::encode_hex(&keys::sign(key, &message))
}

/// Loads (replacing a program of the same name), attaches and returns the kernel's answers.
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
    let listed = call(client, "bpf_list", json!({}), None)?;
    let programs = listed["programs"].as_array().cloned().unwrap_or_default();
    let old = programs.iter().find(|p| p["name"] == name).and_then(|p| p["id"].as_u64());
    // A tool is called by its name: the old one goes first. Other programs load under a fresh
    // name and replace the old one atomically at the hook.
    let load_name = match (target, old) {
        (Target::Tool, Some(id)) => {
            call(client, "bpf_unload", json!({"id": id}), None)?;
            name.to_string()
        }
        (_, Some(_)) => (2..)
            .map(|n| format!("{name}_{n}"))
            .find(|candidate| !programs.iter().any(|p| p["name"] == candidate.as_str()))
            .unwrap_or_else(|| name.to_string()),
        (_, None) => name.to_string(),
    };
    let signature = load_signature(key, kind, &load_name, &program.maps, &program.bytecode);
    let maps: Vec<Value> = program
        .maps
        .iter()
        .map(|m| {
            json!({
                "kind": kingly_kernel::agents::tools::map_kind_name(m.kind),
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
        "name": load_name,
        "signature": signature,
        "maps": maps,
    });
    let loaded = call(client, "bpf_load", args, Some(program.bytecode.clone()));
    client.on_send_progress = None;
    bar.finish_and_clear();
    let loaded = loaded?;
    let id = loaded["id"].as_u64().context("bpf_load answered without an id")?;
    let attached = match target {
        Target::Decision(hook) => Some(call(client, "bpf_attach", json!({"id": id, "hook": hook.name}), None)?),
        Target::Timer => Some(call(
            client,
            "bpf_attach",
            json!({"id": id, "hook": "timer", "period_ms": period_ms, "cpu": cpu}),
            None,
        )?),
        Target::Tool => None,
    };
    let mut unloaded = None;
    if let (Some(old_id), Target::Decision(_)) = (old, target) {
        // The old program is detached now (the attach replaced it) unless it sits elsewhere.
        if call(client, "bpf_unload", json!({"id": old_id}), None).is_ok() {
            unloaded = Some(old_id);
        }
    }
    Ok(json!({"loaded": loaded, "attached": attached, "unloaded": unloaded}))
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
    match &report["attached"] {
        Value::Null => println!("registered as tool {}", loaded["name"].as_str().unwrap_or("?")),
        attached => {
            let replaced = match &attached["replaced"] {
                Value::Null => String::new(),
                id => format!(" (replaced program {id})"),
            };
            println!("attached to {}{replaced}", attached["hook"].as_str().unwrap_or("?"));
        }
    }
    if let Some(id) = report["unloaded"].as_u64() {
        println!("unloaded the previous program {id}");
    }
}

/// Runs `kingly agents`.
pub fn run_agents(args: &AgentsArgs) -> Result<i32> {
    let mut client = args.connect.client()?;
    let list = call(&mut client, "bpf_list", json!({}), None)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(0);
    }
    println!("signing: {}", list["signing"].as_str().unwrap_or("?"));
    let programs = list["programs"].as_array().cloned().unwrap_or_default();
    if programs.is_empty() {
        println!("no programs loaded (every hook runs its default policy)");
        return Ok(0);
    }
    println!(
        "{:>4}  {:<24} {:<9} {:<16} {:<11} {:>9} {:>7} {:>10} {:>8}",
        "id", "name", "type", "attached", "engine", "runs", "errors", "max insns", "avg ns"
    );
    for p in programs {
        let runs = p["runs"].as_u64().unwrap_or(0);
        let avg_ns = p["total_ns"].as_u64().unwrap_or(0).checked_div(runs).unwrap_or(0);
        let attached: Vec<&str> =
            p["attached"].as_array().map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
        println!(
            "{:>4}  {:<24} {:<9} {:<16} {:<11} {:>9} {:>7} {:>10} {:>8}",
            p["id"],
            p["name"].as_str().unwrap_or("?"),
            p["type"].as_str().unwrap_or("?"),
            if attached.is_empty() { "-".to_string() } else { attached.join(",") },
            p["engine"].as_str().unwrap_or("?"),
            runs,
            p["errors"],
            p["max_insns"],
            avg_ns
        );
    }
    Ok(0)
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
