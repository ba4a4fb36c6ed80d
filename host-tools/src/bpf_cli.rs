//! `kingly bpf …`: assemble, disassemble, verify, run and test eBPF programs with kingly-bpf.
//!
//! Input files are recognised by extension: `.s` assembly (maps from `#map` lines), `.data`
//! bpf_conformance tests, `.o` ELF objects from `clang -target bpf`, anything else raw
//! little-endian bytecode. Every verb that takes a program takes its type (`--type`, `--hook`);
//! an ELF's `SEC()` names it by default. `run` builds the context the way the kernel does
//! (kernel/src/agents/mod.rs: `evaluate`, `run_tool`, `run_timers`, `run`).

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use kingly_bpf::conformance::{self, Expect};
use kingly_bpf::hooks::{self, Hook, Kind, HOOKS};
use kingly_bpf::{
    asm, disasm, isa, ContextKind, Env, FixedPlatform, Interpreter, Map, MapDef, Program, ProgramType, RunError,
    VerifiedProgram,
};

/// Exit code for a program the verifier refused.
const EXIT_REJECTED: i32 = 2;
/// Exit code for a run that stopped with a run-time error.
const EXIT_RUN_ERROR: i32 = 1;
/// Cores the kernel sizes per-CPU maps for (`kingly_kernel::cpu::MAX_CPUS`, which this file
/// cannot name: it builds without the kernel crate).
const KERNEL_CPUS: u32 = 4;
/// Instruction budget of a run the kernel would never make: host-only types and `--no-verify`.
const HOST_BUDGET_INSNS: u64 = 1 << 26;
/// Bytes of the `generic` type's context.
const GENERIC_CTX_BYTES: usize = 64;
/// Bytes of the `packet` type's context: `data u64 @0, data_end u64 @8`.
const PACKET_CTX_BYTES: usize = 16;
/// `period_ms` of a timer context when `--ctx` gives none (`kingly push`'s default period).
const DEFAULT_TIMER_PERIOD_MS: u32 = 100;
/// Names of the timer context's fields, in layout order (hooks.rs).
const TIMER_FIELDS: [&str; 4] = ["cpu", "period_ms", "now_ns", "runs"];

#[derive(clap::Args, Debug)]
pub struct BpfArgs {
    #[command(subcommand)]
    pub command: BpfCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum BpfCommand {
    /// Assemble a `.s` file into raw bytecode.
    Asm {
        file: PathBuf,
        #[arg(short = 'o', long = "output")]
        output: PathBuf,
    },
    /// Print a program as assembly, with the context its type gives r1.
    #[command(after_long_help = long_help(Verb::Disasm))]
    Disasm {
        /// The program: .o, .s, .data or raw bytecode.
        file: PathBuf,
        #[command(flatten)]
        select: Select,
    },
    /// Verify a program for its type: exit 0 when accepted, 2 when rejected.
    #[command(after_long_help = long_help(Verb::Verify))]
    Verify {
        /// The program: .o, .s, .data or raw bytecode.
        file: PathBuf,
        #[command(flatten)]
        select: Select,
    },
    /// Verify and run a program as the kernel would, and print r0 last.
    #[command(after_long_help = long_help(Verb::Run))]
    Run(RunArgs),
    /// Run every `.data` file in a directory.
    Test { dir: PathBuf },
    /// Verify a program for its type and print the AArch64 code the JIT makes for each instruction.
    #[command(after_long_help = long_help(Verb::JitDisasm))]
    JitDisasm {
        /// The program: .o, .s, .data or raw bytecode.
        file: PathBuf,
        #[command(flatten)]
        select: Select,
    },
}

/// Which program of a file, and what type it is.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct Select {
    /// Program type: conformance, generic, packet, decision, tool or timer [default: the ELF's
    /// SEC(), else conformance].
    #[arg(long = "type", value_name = "TYPE", value_parser = TypeName::parse)]
    pub prog_type: Option<TypeName>,
    /// Hook of a decision program: sched_slice, sched_cpu or mcp_admit [default: the ELF's SEC()].
    #[arg(long, value_name = "HOOK", value_parser = parse_hook)]
    pub hook: Option<Hook>,
    /// ELF section of the program, needed when the object has several.
    #[arg(long, value_name = "NAME")]
    pub section: Option<String>,
    /// The context: name=value,… for decision and timer; hex bytes for generic and conformance
    /// (a conformance program is verified for a buffer of that many bytes).
    #[arg(long, value_name = "CTX")]
    pub ctx: Option<String>,
    /// The input bytes, as hex, of a tool or packet program (at most 4096 bytes).
    #[arg(long, value_name = "HEX")]
    pub input: Option<String>,
}

/// Options of `kingly bpf run`.
#[derive(clap::Args, Debug, Clone)]
pub struct RunArgs {
    /// The program: .o, .s, .data or raw bytecode.
    pub file: PathBuf,
    /// interp on this host; the JIT runs only inside the kernel.
    #[arg(long, default_value = "interp")]
    pub engine: String,
    /// Skip the verifier (the interpreter's run-time checks still apply).
    #[arg(long)]
    pub no_verify: bool,
    #[command(flatten)]
    pub select: Select,
}

/// The program types `kingly bpf` knows: the kernel's three and three for testing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TypeName {
    Conformance,
    Generic,
    Packet,
    Decision,
    Tool,
    Timer,
}

impl TypeName {
    pub const ALL: [TypeName; 6] = [
        TypeName::Conformance,
        TypeName::Generic,
        TypeName::Packet,
        TypeName::Decision,
        TypeName::Tool,
        TypeName::Timer,
    ];

    pub fn name(self) -> &'static str {
        match self {
            TypeName::Conformance => "conformance",
            TypeName::Generic => "generic",
            TypeName::Packet => "packet",
            TypeName::Decision => "decision",
            TypeName::Tool => "tool",
            TypeName::Timer => "timer",
        }
    }

    pub fn from_name(name: &str) -> Option<TypeName> {
        TypeName::ALL.into_iter().find(|t| t.name() == name)
    }

    /// `--type`'s parser; the error lists the known types.
    pub fn parse(name: &str) -> std::result::Result<TypeName, String> {
        TypeName::from_name(name).ok_or_else(|| {
            let known: Vec<&str> = TypeName::ALL.iter().map(|t| t.name()).collect();
            let hint = if Hook::by_name(name).is_some() {
                format!("; {name} is a hook: use --type decision --hook {name}")
            } else {
                String::new()
            };
            format!("unknown program type {name:?}; the types are {}{hint}", known.join(", "))
        })
    }

    /// The kind the kernel runs, for the kernel's types.
    pub fn kernel_kind(self) -> Option<Kind> {
        Kind::from_name(self.name())
    }
}

/// `--hook`'s parser; the error lists the hooks.
pub fn parse_hook(name: &str) -> std::result::Result<Hook, String> {
    Hook::by_name(name).ok_or_else(|| match name {
        "tool" | "timer" => {
            format!("{name} is a program type, not a decision hook: use --type {name} (without --hook)")
        }
        _ => format!("unknown hook {name:?}; decision hooks are {}", hook_names()),
    })
}

fn hook_names() -> String {
    HOOKS.iter().map(|h| h.name).collect::<Vec<_>>().join(", ")
}

/// A program's type as `kingly bpf` treats it: the type and, for a decision, its hook.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Target {
    pub kind: TypeName,
    pub hook: Option<Hook>,
}

/// What an ELF section name says about its program: `SEC("tool")`, `SEC("timer")`,
/// `SEC("decision")`, `SEC("decision/HOOK")` or `SEC("HOOK")` (and the host-only type names).
/// Other names (`prog`, `.text`, …) say nothing.
pub fn section_target(section: &str) -> Result<Option<Target>> {
    if let Some(kind) = TypeName::from_name(section) {
        return Ok(Some(Target { kind, hook: None }));
    }
    if let Some(hook) = Hook::by_name(section) {
        return Ok(Some(Target { kind: TypeName::Decision, hook: Some(hook) }));
    }
    if let Some(name) = section.strip_prefix("decision/") {
        let hook = Hook::by_name(name)
            .with_context(|| format!("SEC(\"{section}\") names no hook; the decision hooks are {}", hook_names()))?;
        return Ok(Some(Target { kind: TypeName::Decision, hook: Some(hook) }));
    }
    Ok(None)
}

/// A `--hook` that a program's `SEC()` contradicts, refused by the `bpf` verbs and `kingly push`.
#[derive(Debug)]
pub struct HookContradiction(String);

impl std::fmt::Display for HookContradiction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for HookContradiction {}

/// Refuses a `--hook HOOK` that asks for `wanted` when `program`'s `SEC("section")` says `named`
/// (from [`section_target`]): another type, or another decision hook. `SEC("decision")` leaves
/// the hook to `--hook`. `hook_required`: the command has no default for `--hook` (`kingly push`),
/// so the advice is the hook the section names rather than dropping `--hook`.
pub fn check_hook_against_section(
    program: &str,
    section: &str,
    named: Target,
    hook: &str,
    wanted: Target,
    hook_required: bool,
) -> Result<(), HookContradiction> {
    let same_kind = named.kind == wanted.kind;
    if same_kind && (named.hook.is_none() || named.hook == wanted.hook) {
        return Ok(());
    }
    let says = match (same_kind, named.hook) {
        (true, Some(named_hook)) => format!("names hook {}", named_hook.name),
        _ => match wanted.kind {
            TypeName::Decision => format!("makes it a {} program, not a decision", named.kind.name()),
            other => format!("makes it a {} program, not a {} program", named.kind.name(), other.name()),
        },
    };
    let rebuild = match wanted.hook {
        Some(wanted_hook) => format!("decision/{}", wanted_hook.name),
        None => wanted.kind.name().to_string(),
    };
    let instead = match (hook_required, named.hook) {
        (false, _) => "drop --hook".to_string(),
        (true, Some(named_hook)) => format!("push it with --hook {}", named_hook.name),
        (true, None) if named.kind == TypeName::Decision => "push it with a decision hook".to_string(),
        (true, None) => format!("push it with --hook {}", named.kind.name()),
    };
    Err(HookContradiction(format!(
        "--hook {hook} contradicts {program}: its SEC(\"{section}\") {says}; {instead}, or rebuild it with \
         SEC(\"{rebuild}\")"
    )))
}

/// The verifier's view of a type; `mem_len` is a conformance program's memory.
fn program_type(kind: TypeName, mem_len: usize) -> Result<ProgramType> {
    Ok(match kind {
        TypeName::Conformance => {
            let len = u32::try_from(mem_len).context("conformance memory larger than 4 GiB")?;
            ProgramType::conformance(len)
        }
        TypeName::Generic => ProgramType::with_struct_context("generic", GENERIC_CTX_BYTES as u32),
        TypeName::Packet => ProgramType {
            name: "packet",
            context: ContextKind::Packet {
                size_bytes: PACKET_CTX_BYTES as u32,
                data_offset: 0,
                data_end_offset: 8,
                writable_packet: true,
            },
            ..ProgramType::with_struct_context("packet", PACKET_CTX_BYTES as u32)
        },
        TypeName::Decision => Kind::Decision.program_type(),
        TypeName::Tool => Kind::Tool.program_type(),
        TypeName::Timer => Kind::Timer.program_type(),
    })
}

/// A program read from disk, with what it needs to load.
struct Loaded {
    slots: Vec<isa::RawInsn>,
    maps: Vec<MapDef>,
    mem: Vec<u8>,
    expect: Expect,
    name: String,
    /// The ELF section it came from.
    section: Option<String>,
}

fn read_programs(path: &Path) -> Result<Vec<Loaded>> {
    let bytes = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    let name = path.display().to_string();
    let single =
        |slots, maps, mem, expect| Ok(vec![Loaded { slots, maps, mem, expect, name: name.clone(), section: None }]);
    match ext {
        "s" | "asm" => {
            let text = String::from_utf8(bytes).context("assembly is not UTF-8")?;
            let slots = asm::assemble(&text).with_context(|| name.clone())?;
            let maps = asm::map_directives(&text).with_context(|| name.clone())?;
            single(slots, maps, Vec::new(), Expect::Nothing)
        }
        "data" => {
            let text = String::from_utf8(bytes).context("test file is not UTF-8")?;
            let case = conformance::parse(&text).map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
            single(case.program, Vec::new(), case.mem, case.expect)
        }
        "o" => {
            let object = kingly_bpf::elf::load(&bytes).map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
            let maps = object.map_defs();
            Ok(object
                .programs
                .into_iter()
                .map(|p| Loaded {
                    slots: p.slots,
                    maps: maps.clone(),
                    mem: Vec::new(),
                    expect: Expect::Nothing,
                    name: format!("{name}:{}", p.section),
                    section: Some(p.section),
                })
                .collect())
        }
        _ => {
            let slots = isa::slots_from_bytes(&bytes).map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
            single(slots, Vec::new(), Vec::new(), Expect::Nothing)
        }
    }
}

fn section_list(programs: &[Loaded]) -> String {
    programs.iter().filter_map(|p| p.section.as_deref()).collect::<Vec<_>>().join(", ")
}

/// The programs `--section` picks: that one, or every one.
fn pick_programs(path: &Path, section: Option<&str>) -> Result<Vec<Loaded>> {
    let programs = read_programs(path)?;
    let Some(section) = section else { return Ok(programs) };
    if programs.iter().all(|p| p.section.is_none()) {
        bail!("--section {section}: {} is not an ELF object, so it holds one program; drop --section", path.display());
    }
    let sections = section_list(&programs);
    match programs.into_iter().find(|p| p.section.as_deref() == Some(section)) {
        Some(program) => Ok(vec![program]),
        None => bail!("{}: no section {section:?}; its programs are in {sections}", path.display()),
    }
}

/// The one program `run` and `jit-disasm` work on.
fn pick_one(path: &Path, section: Option<&str>) -> Result<Loaded> {
    let mut programs = pick_programs(path, section)?;
    match programs.len() {
        1 => Ok(programs.remove(0)),
        0 => bail!("{}: no program", path.display()),
        _ => bail!(
            "{} holds several programs (sections {}); pick one with --section NAME",
            path.display(),
            section_list(&programs)
        ),
    }
}

/// The type of `program`: `--type`/`--hook` where given, else its `SEC()`, else conformance.
/// A `--hook` that its `SEC()` contradicts is refused, never silently preferred.
fn resolve(select: &Select, program: &Loaded) -> Result<Target> {
    let section = program.section.as_deref();
    let from_section = match section {
        Some(name) => section_target(name).with_context(|| program.name.clone())?,
        None => None,
    };
    let kind = select.prog_type.or(from_section.map(|t| t.kind)).unwrap_or(TypeName::Conformance);
    if let (Some(chosen), Some(sec), Some(named)) = (select.prog_type, section, from_section) {
        if chosen != named.kind {
            eprintln!("note: {}: --type {} overrides SEC(\"{sec}\")", program.name, chosen.name());
        }
    }
    let Some(hook) = select.hook else {
        let hook = if kind == TypeName::Decision { from_section.and_then(|t| t.hook) } else { None };
        return Ok(Target { kind, hook });
    };
    if let (Some(sec), Some(named)) = (section, from_section) {
        // Without --type the section decides the type; with --type decision only its hook counts.
        if select.prog_type.is_none() || (kind == TypeName::Decision && named.kind == TypeName::Decision) {
            let wanted = Target { kind: TypeName::Decision, hook: Some(hook) };
            check_hook_against_section(&program.name, sec, named, hook.name, wanted, false)?;
        }
    }
    if kind != TypeName::Decision {
        match select.prog_type {
            Some(chosen) => bail!(
                "--hook {} is for decision programs, but --type {} was given: use --type decision --hook {}, \
                 or drop --hook ({} programs attach to no hook)",
                hook.name,
                chosen.name(),
                hook.name,
                chosen.name()
            ),
            None => bail!(
                "--hook {} needs --type decision: without it {} is a conformance program (only an ELF's \
                 SEC() names a type); add --type decision",
                hook.name,
                program.name
            ),
        }
    }
    Ok(Target { kind, hook: Some(hook) })
}

fn load(
    p: &Loaded,
    prog_type: &ProgramType,
    verify: bool,
) -> std::result::Result<VerifiedProgram, kingly_bpf::VerifyError> {
    if verify {
        Program::load_slots(p.slots.clone(), prog_type, &p.maps, &Default::default())
    } else {
        Program::load_unverified(&isa::slots_to_bytes(&p.slots), prog_type, &p.maps)
    }
}

/// Why the kernel would refuse a verified program: a decision whose worst case exceeds its
/// hook's budget cannot attach.
fn over_budget(target: Target, prog: &VerifiedProgram) -> Option<String> {
    let hook = target.hook?;
    let worst_case = prog.stats()?.worst_case_path_insns;
    (worst_case > hook.budget_insns).then(|| {
        format!(
            "worst-case path of {worst_case} instructions exceeds {}'s budget of {}: the kernel refuses to attach it",
            hook.name, hook.budget_insns
        )
    })
}

/// What one run gets besides the program: the context and packet bytes, and the platform's
/// core and clock.
#[derive(Debug, Default)]
struct RunInput {
    ctx: Vec<u8>,
    packet: Vec<u8>,
    cpu: u32,
    now_ns: u64,
}

/// Parses hex bytes (`0a1b2c`) given to `flag`, at most `max_bytes` of them.
fn parse_hex(flag: &str, text: &str, max_bytes: usize, limit: &str) -> Result<Vec<u8>> {
    if let Some((at, c)) = text.char_indices().find(|(_, c)| !c.is_ascii_hexdigit()) {
        bail!("{flag}: {c:?} at position {at} is not a hex digit; give bytes as hex digits, e.g. {flag} 0a1b2c");
    }
    if !text.len().is_multiple_of(2) {
        bail!("{flag}: {} hex digits is an odd count; each byte takes two (0a, not a)", text.len());
    }
    let bytes: Vec<u8> = text
        .as_bytes()
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap_or("?"), 16))
        .collect::<std::result::Result<_, _>>()
        .with_context(|| format!("{flag}: not hex"))?;
    if bytes.len() > max_bytes {
        bail!("{flag}: {} bytes is more than {limit} ({max_bytes} bytes)", bytes.len());
    }
    Ok(bytes)
}

/// Parses a `name=value,…` context for `what`, whose fields are `names`; values are decimal or
/// `0x` hex. Returns each field's value in `names` order, `None` when not given.
fn parse_fields(text: &str, names: &[&str], what: &str) -> Result<Vec<Option<u64>>> {
    let mut values = vec![None; names.len()];
    for item in text.split(',').map(str::trim).filter(|item| !item.is_empty()) {
        let Some((name, value)) = item.split_once('=') else {
            bail!(
                "--ctx {item:?}: {what} takes name=value pairs, e.g. --ctx {}=1 (fields: {})",
                names[0],
                names.join(", ")
            );
        };
        let (name, value) = (name.trim(), value.trim());
        let index = names
            .iter()
            .position(|n| *n == name)
            .with_context(|| format!("--ctx: {what} has no field {name:?}; its fields are {}", names.join(", ")))?;
        let parsed = match value.strip_prefix("0x").or_else(|| value.strip_prefix("0X")) {
            Some(hex) => u64::from_str_radix(hex, 16),
            None => value.parse::<u64>(),
        };
        let parsed = parsed.map_err(|_| {
            anyhow::anyhow!("--ctx {name}={value}: not a number; write a decimal or 0x hex value below 2^64")
        })?;
        if values[index].replace(parsed).is_some() {
            bail!("--ctx: {name} is given twice");
        }
    }
    Ok(values)
}

fn u32_field(name: &str, value: Option<u64>, default: u32) -> Result<u32> {
    match value {
        None => Ok(default),
        Some(v) => u32::try_from(v).map_err(|_| anyhow::anyhow!("--ctx {name}={v}: {name} is 32 bits in the context")),
    }
}

/// Builds the context (and packet) of a run the way the kernel does for `target`.
fn run_input(target: Target, program: &Loaded, ctx: Option<&str>, input: Option<&str>) -> Result<RunInput> {
    let kind = target.kind.name();
    if input.is_some() && !matches!(target.kind, TypeName::Tool | TypeName::Packet) {
        let instead = match target.kind {
            TypeName::Decision => "its hook's fields as --ctx name=value,…",
            TypeName::Timer => "--ctx cpu=…,period_ms=…,now_ns=…,runs=…",
            _ => "its context as --ctx HEX",
        };
        bail!("--input is for tool and packet programs; a {kind} program takes {instead}");
    }
    match target.kind {
        TypeName::Conformance => {
            let mem = match ctx {
                Some(hex) => parse_hex("--ctx", hex, usize::MAX, "fits")?,
                None => program.mem.clone(),
            };
            Ok(RunInput { ctx: mem, ..Default::default() })
        }
        TypeName::Generic => {
            let mut bytes = parse_hex("--ctx", ctx.unwrap_or(""), GENERIC_CTX_BYTES, "a generic context holds")?;
            bytes.resize(GENERIC_CTX_BYTES, 0);
            Ok(RunInput { ctx: bytes, ..Default::default() })
        }
        TypeName::Packet | TypeName::Tool => {
            if ctx.is_some() {
                bail!(
                    "--ctx is not for {kind} programs: their context is {{data, data_end}} around the input \
                     bytes; give those as --input HEX"
                );
            }
            let packet =
                parse_hex("--input", input.unwrap_or(""), hooks::TOOL_MAX_INPUT_BYTES, "a tool program receives")?;
            let ctx_bytes = if target.kind == TypeName::Tool { hooks::TOOL_CTX_BYTES } else { PACKET_CTX_BYTES };
            Ok(RunInput { ctx: vec![0; ctx_bytes], packet, ..Default::default() })
        }
        TypeName::Decision => {
            // Without a hook the context is sched_slice's: its field names and hook id 0.
            let hook = target.hook.unwrap_or(hooks::SCHED_SLICE);
            let mut names: Vec<&str> = hook.fields.iter().copied().filter(|f| !f.is_empty()).collect();
            names.extend(["cpu", "now_ns"]);
            let values = parse_fields(ctx.unwrap_or(""), &names, hook.name)?;
            let value = |name: &str| names.iter().position(|n| *n == name).and_then(|i| values[i]);
            let mut fields = [0u64; hooks::DECISION_FIELDS];
            for (slot, name) in fields.iter_mut().zip(hook.fields) {
                *slot = if name.is_empty() { 0 } else { value(name).unwrap_or(0) };
            }
            let cpu = u32_field("cpu", value("cpu"), 0)?;
            let now_ns = value("now_ns").unwrap_or(0);
            let ctx = hooks::decision_context(hook.id, cpu, now_ns, fields).to_vec();
            Ok(RunInput { ctx, packet: Vec::new(), cpu, now_ns })
        }
        TypeName::Timer => {
            let values = parse_fields(ctx.unwrap_or(""), &TIMER_FIELDS, "a timer")?;
            let cpu = u32_field("cpu", values[0], 0)?;
            let period_ms = u32_field("period_ms", values[1], DEFAULT_TIMER_PERIOD_MS)?;
            let now_ns = values[2].unwrap_or(0);
            let ctx = hooks::timer_context(cpu, period_ms, now_ns, values[3].unwrap_or(0)).to_vec();
            Ok(RunInput { ctx, packet: Vec::new(), cpu, now_ns })
        }
    }
}

/// What `kingly bpf run` found.
#[derive(Debug)]
pub enum RunOutcome {
    /// The program returned r0; `notes` are printed before it (a decision's verdict).
    Returned { r0: u64, notes: Vec<String> },
    /// The verifier (or the hook's budget) refused the program: the reason.
    Rejected(String),
    /// The run stopped with an error.
    Failed(RunError),
}

/// Loads and runs the program of `args` the way the kernel runs its type: the context of
/// `hooks::decision_context`/`timer_context` or the input as a packet, fresh maps, and a budget
/// of twice the verifier's worst case (at least 1024 instructions).
pub fn run_program(args: &RunArgs) -> Result<RunOutcome> {
    if args.engine == "jit" {
        bail!(
            "the JIT emits AArch64 code, which runs only inside the kernel on aarch64; on this host use \
             --engine interp, `kingly bpf jit-disasm FILE` to see the code, or \
             `kingly boot --test bpf-jit-conformance` to run the conformance suite under the JIT in QEMU"
        );
    }
    if args.engine != "interp" {
        bail!("engine {:?} is not available (interp, or jit inside the kernel)", args.engine);
    }
    let program = pick_one(&args.file, args.select.section.as_deref())?;
    let target = resolve(&args.select, &program)?;
    let mut input = run_input(target, &program, args.select.ctx.as_deref(), args.select.input.as_deref())?;
    let prog_type = program_type(target.kind, input.ctx.len())?;
    let prog = match load(&program, &prog_type, !args.no_verify) {
        Ok(prog) => prog,
        Err(e) => return Ok(RunOutcome::Rejected(format!("{} (pc {})", e.kind, e.pc))),
    };
    if let Some(reason) = over_budget(target, &prog) {
        return Ok(RunOutcome::Rejected(reason));
    }
    let budget_insns = match (target.kind.kernel_kind(), prog.stats()) {
        (Some(_), Some(stats)) => stats.worst_case_path_insns.saturating_mul(2).max(1024),
        _ => HOST_BUDGET_INSNS,
    };
    let cpus = KERNEL_CPUS.max(input.cpu.saturating_add(1));
    let mut maps = prog
        .maps()
        .iter()
        .map(|d| Map::new(*d, cpus))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| anyhow::anyhow!("{}: map: {e}", program.name))?;
    let mut platform = FixedPlatform { now_ns: input.now_ns, cpu: input.cpu, ..FixedPlatform::default() };
    let mut env = Env { maps: &mut maps, platform: &mut platform, budget_insns };
    let r0 = match Interpreter::new().run_with_packet(&prog, &mut input.ctx, &mut input.packet, &mut env) {
        Ok(r0) => r0,
        Err(e) => return Ok(RunOutcome::Failed(e)),
    };
    let mut notes = Vec::new();
    if let (TypeName::Decision, Some(hook)) = (target.kind, target.hook) {
        notes.push(if r0 <= hook.max_decision {
            format!("{}: the kernel would use {r0} (at most {}: {})", hook.name, hook.max_decision, hook.returns)
        } else {
            format!(
                "{}: {r0} is above the largest valid decision {}: the kernel would fall back to its default policy",
                hook.name, hook.max_decision
            )
        });
    }
    Ok(RunOutcome::Returned { r0, notes })
}

/// What r1 (and r2) hold for `target`, as one line.
fn context_layout(target: Target) -> String {
    match target.kind {
        TypeName::Conformance => "r1 = memory (read-write), r2 = its length".into(),
        TypeName::Generic => format!("r1 = {GENERIC_CTX_BYTES}-byte read-only context"),
        TypeName::Packet | TypeName::Tool => "r1 = {data u64 @0, data_end u64 @8} around the input bytes".into(),
        TypeName::Decision => {
            let fields: Vec<String> = match target.hook {
                Some(hook) => hook
                    .fields
                    .iter()
                    .enumerate()
                    .map(|(i, f)| {
                        let at = hooks::DECISION_FIELDS_OFFSET + 8 * i;
                        if f.is_empty() {
                            format!("unused u64 @{at}")
                        } else {
                            format!("{f} u64 @{at}")
                        }
                    })
                    .collect(),
                None => (0..hooks::DECISION_FIELDS)
                    .map(|i| format!("field[{i}] u64 @{}", hooks::DECISION_FIELDS_OFFSET + 8 * i))
                    .collect(),
            };
            format!("r1 = {{hook u32 @0, cpu u32 @4, now_ns u64 @8, {}}} (read-only)", fields.join(", "))
        }
        TypeName::Timer => "r1 = {cpu u32 @0, period_ms u32 @4, now_ns u64 @8, runs u64 @16} (read-only)".into(),
    }
}

fn describe(target: Target) -> String {
    match target.hook {
        Some(hook) => format!("type {}, hook {}", target.kind.name(), hook.name),
        None => format!("type {}", target.kind.name()),
    }
}

/// Runs `kingly bpf …` and returns the process exit code.
pub fn run(args: BpfArgs) -> Result<i32> {
    match args.command {
        BpfCommand::Asm { file, output } => {
            let text = fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
            let slots = asm::assemble(&text).with_context(|| file.display().to_string())?;
            fs::write(&output, isa::slots_to_bytes(&slots)).with_context(|| format!("writing {}", output.display()))?;
            Ok(0)
        }
        BpfCommand::Disasm { file, select } => {
            for p in pick_programs(&file, select.section.as_deref())? {
                let target = resolve(&select, &p)?;
                let decoded = isa::decode_program(p.slots.clone()).map_err(|e| anyhow::anyhow!("{}: {e}", p.name))?;
                println!("{}:", p.name);
                println!("# {}: {}", describe(target), context_layout(target));
                print!("{}", disasm::format_program(&decoded.insns));
            }
            Ok(0)
        }
        BpfCommand::Verify { file, select } => {
            let mut code = 0;
            for p in pick_programs(&file, select.section.as_deref())? {
                let target = resolve(&select, &p)?;
                let input = run_input(target, &p, select.ctx.as_deref(), select.input.as_deref())?;
                let ty = program_type(target.kind, input.ctx.len())?;
                match load(&p, &ty, true) {
                    Ok(prog) => {
                        if let Some(reason) = over_budget(target, &prog) {
                            eprintln!("rejected: {reason}");
                            code = EXIT_REJECTED;
                        } else if let Some(s) = prog.stats() {
                            println!(
                                "{}: accepted ({} insns processed, {} states, worst-case path {} insns)",
                                p.name, s.insns_processed, s.states_stored, s.worst_case_path_insns
                            );
                        }
                    }
                    Err(e) => {
                        eprintln!("rejected: {} (pc {})", e.kind, e.pc);
                        code = EXIT_REJECTED;
                    }
                }
            }
            Ok(code)
        }
        BpfCommand::Run(args) => match run_program(&args)? {
            RunOutcome::Returned { r0, notes } => {
                for note in notes {
                    println!("{note}");
                }
                println!("{r0:#x}");
                Ok(0)
            }
            RunOutcome::Rejected(reason) => {
                eprintln!("rejected: {reason}");
                Ok(EXIT_REJECTED)
            }
            RunOutcome::Failed(e) => {
                eprintln!("error: {e}");
                Ok(EXIT_RUN_ERROR)
            }
        },
        BpfCommand::JitDisasm { file, select } => {
            let p = pick_one(&file, select.section.as_deref())?;
            let target = resolve(&select, &p)?;
            let input = run_input(target, &p, select.ctx.as_deref(), select.input.as_deref())?;
            let ty = program_type(target.kind, input.ctx.len())?;
            let prog = match load(&p, &ty, true) {
                Ok(prog) => prog,
                Err(e) => {
                    eprintln!("rejected: {} (pc {})", e.kind, e.pc);
                    return Ok(EXIT_REJECTED);
                }
            };
            let code = kingly_bpf::jit::aarch64::compile(&prog)?;
            print!("{}", kingly_bpf::jit::aarch64::listing(&prog, &code));
            Ok(0)
        }
        BpfCommand::Test { dir } => {
            let mut files: Vec<PathBuf> = fs::read_dir(&dir)
                .with_context(|| format!("reading {}", dir.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "data"))
                .collect();
            files.sort();
            let (mut passed, mut failed) = (0usize, 0usize);
            for file in &files {
                let ok = test_one(file);
                if !ok {
                    println!("FAIL {}", file.display());
                }
                if ok {
                    passed += 1;
                } else {
                    failed += 1;
                }
            }
            println!("{passed} passed, {failed} failed");
            Ok(if failed == 0 { 0 } else { 1 })
        }
    }
}

fn test_one(file: &Path) -> bool {
    let text = match fs::read_to_string(file) {
        Ok(t) => t,
        Err(_) => return false,
    };
    let expects_error = text.lines().any(|l| l.contains("--") && l.contains("error"));
    let case = match conformance::parse(&text) {
        Ok(c) => c,
        Err(_) => return expects_error,
    };
    let loaded = Loaded {
        slots: case.program,
        maps: Vec::new(),
        mem: case.mem,
        expect: case.expect,
        name: String::new(),
        section: None,
    };
    let Ok(ty) = program_type(TypeName::Conformance, loaded.mem.len()) else {
        return false;
    };
    let outcome = load(&loaded, &ty, true).map_err(|_| ()).and_then(|p| {
        let mut maps = Vec::new();
        let mut platform = FixedPlatform::default();
        let mut env = Env { maps: &mut maps, platform: &mut platform, budget_insns: HOST_BUDGET_INSNS };
        let mut mem = loaded.mem.clone();
        Interpreter::new().run(&p, &mut mem, &mut env).map_err(|_| ())
    });
    match (&loaded.expect, outcome) {
        (Expect::Result(want), Ok(r0)) => r0 == *want,
        (Expect::Error(_), Err(())) => true,
        _ => false,
    }
}

/// The verbs whose long help teaches the program types.
#[derive(Clone, Copy)]
enum Verb {
    Disasm,
    Verify,
    Run,
    JitDisasm,
}

/// `--help` text after the options: the types, the hooks, the files, one example per type.
fn long_help(verb: Verb) -> String {
    let mut text = format!(
        "Program types (--type; default: the ELF's SEC(), else conformance):\n  \
         conformance  r1 = memory (--ctx HEX, or a .data file's own), r2 = its length;\n               \
         helper 5 = unwind\n  \
         generic      r1 = {GENERIC_CTX_BYTES}-byte read-only context (--ctx HEX, zero-padded)\n  \
         packet       r1 = {{data, data_end}} around --input HEX (a writable packet)\n  \
         tool         as the kernel runs an MCP tool: r1 = {{data, data_end}} around --input HEX\n               \
         (at most {max_input} bytes)\n  \
         decision     as the kernel decides at --hook HOOK: r1 = {{hook, cpu, now_ns, 4 fields}};\n               \
         --ctx NAME=VALUE,... sets its fields, cpu, now_ns (decimal or 0x hex; unset = 0)\n  \
         timer        as the kernel's timer tick: r1 = {{cpu, period_ms, now_ns, runs}};\n               \
         --ctx cpu=..,period_ms=..,now_ns=..,runs=.. (period_ms {DEFAULT_TIMER_PERIOD_MS} unless set, the rest 0)\n\n\
         Decision hooks (--hook):\n",
        max_input = hooks::TOOL_MAX_INPUT_BYTES
    );
    for hook in HOOKS {
        let fields: Vec<&str> = hook.fields.iter().copied().filter(|f| !f.is_empty()).collect();
        text.push_str(&format!(
            "  {:<12} fields {}\n               returns {}; above {} the kernel uses its default\n",
            hook.name,
            fields.join(", "),
            hook.returns,
            hook.max_decision
        ));
    }
    text.push_str(
        "\nFILE: an ELF object (.o, from clang-14 -target bpf -O2 -c), assembly (.s; maps from lines\n\
         like `#map hash key=4 value=8 max=64`), a bpf_conformance test (.data) or raw bytecode (.bin).\n\
         In an ELF, SEC(\"tool\"), SEC(\"timer\"), SEC(\"decision\"), SEC(\"decision/HOOK\") and\n\
         SEC(\"HOOK\") name the type (and hook); --hook may not contradict them. An object with\n\
         several programs needs --section NAME for run and jit-disasm; verify checks every one.\n\n\
         Examples, one per type:\n",
    );
    let examples: &[&str] = match verb {
        Verb::Run => &[
            "kingly bpf run ../shared/conformance/bpf_conformance/tests/add.data",
            "kingly bpf run --type generic stats.s --ctx 2a000000",
            "kingly bpf run --type packet parse.s --input 4500001c",
            "kingly bpf run --type tool crc32.o --input 68656c6c6f",
            "kingly bpf run --type decision --hook sched_slice slice.s --ctx class=2,nice=0x13,cpu=1",
            "kingly bpf run --type timer stats.o --ctx cpu=1,period_ms=250,runs=3",
            "kingly bpf run agents.o --section decision/sched_cpu --ctx prev_cpu=2",
        ],
        Verb::Verify => &[
            "kingly bpf verify ../shared/conformance/bpf_conformance/tests/add.data",
            "kingly bpf verify --type generic counter.o",
            "kingly bpf verify --type packet parse.s",
            "kingly bpf verify --type tool crc32.s",
            "kingly bpf verify --type decision --hook sched_slice slice.s   # also checks the hook's budget",
            "kingly bpf verify --type timer stats.bin",
            "kingly bpf verify agents.o   # every program, each typed by its SEC()",
        ],
        Verb::Disasm => &[
            "kingly bpf disasm ../shared/conformance/bpf_conformance/tests/add.data",
            "kingly bpf disasm --type generic counter.o",
            "kingly bpf disasm --type packet parse.bin",
            "kingly bpf disasm --type tool crc32.o",
            "kingly bpf disasm --type decision --hook mcp_admit admit.o",
            "kingly bpf disasm --type timer stats.o",
        ],
        Verb::JitDisasm => &[
            "kingly bpf jit-disasm ../shared/conformance/bpf_conformance/tests/add.data",
            "kingly bpf jit-disasm --type generic counter.o",
            "kingly bpf jit-disasm --type packet parse.s",
            "kingly bpf jit-disasm --type tool crc32.o",
            "kingly bpf jit-disasm --type decision --hook sched_slice slice.s",
            "kingly bpf jit-disasm --type timer stats.o",
            "kingly bpf jit-disasm agents.o --section tool",
        ],
    };
    for example in examples {
        text.push_str("  ");
        text.push_str(example);
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser};
    use std::sync::OnceLock;

    /// `kingly bpf` as clap parses it.
    #[derive(clap::Parser, Debug)]
    struct Cli {
        #[command(subcommand)]
        command: BpfCommand,
    }

    fn command(line: &[&str]) -> BpfCommand {
        Cli::try_parse_from(std::iter::once("bpf").chain(line.iter().copied()))
            .unwrap_or_else(|e| panic!("{line:?}: {e}"))
            .command
    }

    /// Runs `kingly bpf run …` and returns what it found.
    fn run_line(line: &[&str]) -> Result<RunOutcome> {
        match command(&[&["run"][..], line].concat()) {
            BpfCommand::Run(args) => run_program(&args),
            other => panic!("{other:?}"),
        }
    }

    fn r0_of(line: &[&str]) -> (u64, Vec<String>) {
        match run_line(line) {
            Ok(RunOutcome::Returned { r0, notes }) => (r0, notes),
            other => panic!("{line:?}: {other:?}"),
        }
    }

    fn error_of(line: &[&str]) -> String {
        match run_line(line) {
            Err(e) => format!("{e:#}"),
            Ok(outcome) => panic!("{line:?} should fail, got {outcome:?}"),
        }
    }

    fn exit_code(line: &[&str]) -> i32 {
        run(BpfArgs { command: command(line) }).unwrap()
    }

    fn shared(path: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance/bpf_conformance").join(path)
    }

    /// A fresh directory for one test (this module is compiled by two crates, which may run at once).
    fn scratch(test: &str) -> PathBuf {
        let crate_name = env!("CARGO_PKG_NAME");
        let dir = std::env::temp_dir().join(format!("kingly-bpf-cli-{crate_name}-{}-{test}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn write(dir: &Path, name: &str, text: &str) -> String {
        let path = dir.join(name);
        fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_string()
    }

    fn compile(source: &str) -> PathBuf {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../bpf/tests/c").join(source);
        let obj = scratch("clang").join(source.replace(".c", ".o"));
        let status = std::process::Command::new("clang-14")
            .args(["-O2", "-target", "bpf", "-c"])
            .arg(&src)
            .arg("-o")
            .arg(&obj)
            .status()
            .expect("clang-14 is required (installed by .ci/setup)");
        assert!(status.success(), "{source}");
        obj
    }

    /// bpf/tests/c/sections.c: a decision (SEC("decision/sched_cpu")), a tool and a timer.
    fn sections_object() -> &'static str {
        static OBJECT: OnceLock<String> = OnceLock::new();
        OBJECT.get_or_init(|| compile("sections.c").to_str().unwrap().to_string())
    }

    #[test]
    fn test_command_passes_the_whole_suite() {
        let args = BpfArgs { command: BpfCommand::Test { dir: shared("tests") } };
        assert_eq!(run(args).unwrap(), 0);
    }

    #[test]
    fn test_command_on_the_negative_files() {
        // "50 passed, 10 failed": the 45 unused-field encodings and 5 files expecting an error
        // pass; files expecting a result from text that does not assemble, the empty files and
        // the runner self-test (deliberately wrong result) fail, as upstream's runner reports.
        let args = BpfArgs { command: BpfCommand::Test { dir: shared("negative") } };
        assert_eq!(run(args).unwrap(), 1);
    }

    #[test]
    fn verify_rejects_with_exit_2() {
        let dir = scratch("verify_rejects");
        let src = write(&dir, "bad.s", "mov %r0, %r3\nexit\n");
        let bin = dir.join("bad.bin");
        assert_eq!(run(BpfArgs { command: BpfCommand::Asm { file: src.into(), output: bin.clone() } }).unwrap(), 0);
        assert_eq!(exit_code(&["verify", bin.to_str().unwrap()]), EXIT_REJECTED);
        assert_eq!(exit_code(&["run", bin.to_str().unwrap()]), EXIT_REJECTED);
    }

    #[test]
    fn verify_and_disasm_accept_clang_objects() {
        let obj = compile("counter.c");
        let obj = obj.to_str().unwrap();
        assert_eq!(exit_code(&["verify", "--type", "generic", obj]), 0);
        assert_eq!(exit_code(&["disasm", obj]), 0);
    }

    #[test]
    fn run_prints_r0() {
        assert_eq!(r0_of(&[shared("tests/prime.data").to_str().unwrap()]).0, 1);
        assert_eq!(exit_code(&["run", shared("tests/prime.data").to_str().unwrap()]), 0);
    }

    #[test]
    fn a_tool_program_sums_its_input() {
        let dir = scratch("tool_sum");
        // At most 64 bytes, each proved inside the packet before it is read.
        let sum = write(
            &dir,
            "sum.s",
            "ldxdw %r2, [%r1+0]\nldxdw %r3, [%r1+8]\nmov %r0, 0\nmov %r6, 0\nloop:\njge %r6, 64, done\n\
             mov %r4, %r2\nadd %r4, 1\njgt %r4, %r3, done\nldxb %r5, [%r2+0]\nadd %r0, %r5\nmov %r2, %r4\n\
             add %r6, 1\nja loop\ndone:\nexit\n",
        );
        assert_eq!(r0_of(&["--type", "tool", "--input", "01020304ff", &sum]).0, 265);
        assert_eq!(r0_of(&["--type", "tool", "--input", "", &sum]).0, 0);
        assert_eq!(r0_of(&["--type", "tool", &sum]).0, 0);
        assert_eq!(r0_of(&["--type", "packet", "--input", "0A0b", &sum]).0, 21);
        assert_eq!(exit_code(&["run", "--type", "tool", "--input", "0102", &sum]), 0);
        // The whole 4096-byte input reaches the program (it reads the first 64).
        let full = "01".repeat(hooks::TOOL_MAX_INPUT_BYTES);
        assert_eq!(r0_of(&["--type", "tool", "--input", &full, &sum]).0, 64);
    }

    #[test]
    fn a_decision_reads_named_fields_from_ctx() {
        let dir = scratch("decision_fields");
        let nice = hooks::SCHED_SLICE.field_offset("nice").unwrap();
        let nice = write(&dir, "nice.s", &format!("ldxdw %r0, [%r1+{nice}]\nexit\n"));
        let (r0, notes) = r0_of(&["--type", "decision", "--hook", "sched_slice", "--ctx", "nice=19,class=2", &nice]);
        assert_eq!(r0, 19);
        assert!(notes[0].contains("would use 19"), "{notes:?}");
        assert_eq!(r0_of(&["--type", "decision", "--hook", "sched_slice", "--ctx", "nice=0x13", &nice]).0, 0x13);
        assert_eq!(r0_of(&["--type", "decision", "--hook", "sched_slice", "--ctx", "runnable=4", &nice]).0, 0);
        // The same offset is another hook's field.
        assert_eq!(r0_of(&["--type", "decision", "--hook", "sched_cpu", "--ctx", "prev_cpu=3", &nice]).0, 3);

        let header = write(&dir, "header.s", "ldxw %r0, [%r1+0]\nlsh %r0, 8\nldxw %r2, [%r1+4]\nor %r0, %r2\nexit\n");
        let line = ["--type", "decision", "--hook", "mcp_admit", "--ctx", "cpu=3", &header];
        assert_eq!(r0_of(&line).0, (u64::from(hooks::MCP_ADMIT.id) << 8) | 3);
        let now = write(&dir, "now.s", "ldxdw %r0, [%r1+8]\nexit\n");
        let line = ["--type", "decision", "--hook", "mcp_admit", "--ctx", "now_ns=123456789", &now];
        let (r0, notes) = r0_of(&line);
        assert_eq!(r0, 123_456_789);
        assert!(notes[0].contains("fall back") && notes[0].contains(" 2:"), "{notes:?}");
    }

    #[test]
    fn a_decision_over_its_hook_budget_is_rejected() {
        let dir = scratch("decision_budget");
        let slow = write(&dir, "slow.s", "mov %r0, 0\nmov %r2, 0\nadd %r2, 1\njlt %r2, 5000, -2\nexit\n");
        let line = ["--type", "decision", "--hook", "sched_slice", &slow];
        match run_line(&line).unwrap() {
            RunOutcome::Rejected(reason) => assert!(reason.contains("budget of 4096"), "{reason}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(exit_code(&[&["verify"][..], &line[..]].concat()), EXIT_REJECTED);
        // mcp_admit allows 16384 instructions.
        assert_eq!(exit_code(&["verify", "--type", "decision", "--hook", "mcp_admit", &slow]), 0);
    }

    #[test]
    fn a_timer_sees_its_context() {
        let dir = scratch("timer_ctx");
        // cpu << 32 | runs * 1000 + period_ms
        let timer = write(
            &dir,
            "timer.s",
            "ldxdw %r0, [%r1+16]\nmul %r0, 1000\nldxw %r2, [%r1+4]\nadd %r0, %r2\nldxw %r3, [%r1+0]\n\
             lsh %r3, 32\nadd %r0, %r3\nexit\n",
        );
        let line = ["--type", "timer", "--ctx", "cpu=2,period_ms=250,runs=7", &timer];
        assert_eq!(r0_of(&line).0, (2 << 32) + 7250);
        assert_eq!(r0_of(&["--type", "timer", &timer]).0, u64::from(DEFAULT_TIMER_PERIOD_MS));
        let now = write(&dir, "now.s", "ldxdw %r0, [%r1+8]\nexit\n");
        assert_eq!(r0_of(&["--type", "timer", "--ctx", "now_ns=0xabcdef", &now]).0, 0xab_cdef);
        let error = error_of(&["--type", "timer", "--ctx", "nice=1", &now]);
        assert!(error.contains("cpu, period_ms, now_ns, runs"), "{error}");
    }

    #[test]
    fn generic_and_conformance_take_hex_contexts() {
        let dir = scratch("hex_ctx");
        let second = write(&dir, "second.s", "ldxb %r0, [%r1+1]\nexit\n");
        assert_eq!(r0_of(&["--type", "generic", "--ctx", "00ff", &second]).0, 255);
        assert_eq!(r0_of(&["--type", "generic", &second]).0, 0);
        let error = error_of(&["--type", "generic", "--ctx", &"00".repeat(65), &second]);
        assert!(error.contains("65 bytes") && error.contains("64"), "{error}");
        // Conformance: r1 = the bytes, r2 = their count.
        let length = write(&dir, "length.s", "mov %r0, %r2\nexit\n");
        assert_eq!(r0_of(&["--ctx", "0102030405", &length]).0, 5);
        assert_eq!(r0_of(&["--ctx", "00ff", &second]).0, 255);
        // Without --ctx the buffer is empty, so reading it is refused.
        assert!(matches!(run_line(&[&second]).unwrap(), RunOutcome::Rejected(_)));
    }

    #[test]
    fn run_time_errors_exit_1_with_the_pc() {
        let dir = scratch("run_errors");
        let oob = write(&dir, "oob.s", "mov %r0, 0\nldxdw %r0, [%r1+64]\nexit\n");
        let line = ["--type", "decision", "--hook", "sched_slice", "--no-verify", &oob];
        match run_line(&line).unwrap() {
            RunOutcome::Failed(e) => assert_eq!(e.pc, 1, "{e}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(exit_code(&[&["run"][..], &line[..]].concat()), EXIT_RUN_ERROR);
        // Verified, it never runs.
        let verified = ["--type", "decision", "--hook", "sched_slice", &oob];
        assert!(matches!(run_line(&verified).unwrap(), RunOutcome::Rejected(_)));
    }

    #[test]
    fn a_decision_without_a_hook_gets_sched_slice_fields() {
        let dir = scratch("no_hook");
        let nice = write(&dir, "nice.s", "ldxdw %r0, [%r1+32]\nexit\n");
        match run_line(&["--type", "decision", "--ctx", "nice=7", &nice]).unwrap() {
            RunOutcome::Returned { r0, .. } => assert_eq!(r0, 7),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn verify_takes_the_run_inputs_too() {
        // A conformance program is verified for the buffer --ctx gives, as `run` would run it.
        let dir = scratch("verify_inputs");
        let leak = write(&dir, "leak.s", "mov %r0, %r1\ndiv %r0, 1\nexit\n");
        let verify = |extra: &[&str]| {
            let args: Vec<&str> = [&["verify", "--type", "conformance"][..], extra, &[&leak[..]]].concat();
            exit_code(&args)
        };
        assert_eq!(verify(&[]), 0, "without memory r1 is the number 0");
        assert_eq!(verify(&["--ctx", "0000000000000000"]), EXIT_REJECTED, "with memory r1 is an address");
    }

    #[test]
    fn bad_inputs_and_contexts_are_explained() {
        let dir = scratch("bad_inputs");
        let exit = write(&dir, "exit.s", "mov %r0, 0\nexit\n");
        let error = error_of(&["--type", "tool", "--input", "zz", &exit]);
        assert!(error.contains("not a hex digit"), "{error}");
        let error = error_of(&["--type", "tool", "--input", "abc", &exit]);
        assert!(error.contains("odd"), "{error}");
        let too_long = "00".repeat(hooks::TOOL_MAX_INPUT_BYTES + 1);
        let error = error_of(&["--type", "tool", "--input", &too_long, &exit]);
        assert!(error.contains("4097 bytes") && error.contains("4096"), "{error}");
        let error = error_of(&["--type", "decision", "--hook", "sched_slice", "--ctx", "prio=1", &exit]);
        assert!(error.contains("\"prio\"") && error.contains("class, task, nice, runnable, cpu, now_ns"), "{error}");
        let error = error_of(&["--type", "decision", "--hook", "sched_slice", "--ctx", "nice=ten", &exit]);
        assert!(error.contains("nice=ten") && error.contains("not a number"), "{error}");
        let error = error_of(&["--type", "decision", "--hook", "mcp_admit", "--ctx", "cpu=0x100000000", &exit]);
        assert!(error.contains("32 bits"), "{error}");
        let error = error_of(&["--type", "decision", "--hook", "sched_slice", "--input", "00", &exit]);
        assert!(error.contains("--input is for tool") && error.contains("--ctx"), "{error}");
        let error = error_of(&["--type", "tool", "--ctx", "00", &exit]);
        assert!(error.contains("--input HEX"), "{error}");
        let error = error_of(&["--hook", "sched_slice", &exit]);
        assert!(error.contains("needs --type decision"), "{error}");
        let error = error_of(&["--type", "tool", "--hook", "sched_slice", &exit]);
        assert!(error.contains("--type tool") && error.contains("decision"), "{error}");
        let error = error_of(&["--section", "tool", &exit]);
        assert!(error.contains("not an ELF"), "{error}");
    }

    #[test]
    fn unknown_types_and_hooks_list_the_known_ones() {
        let error = Cli::try_parse_from(["bpf", "verify", "--type", "xdp", "x.s"]).unwrap_err().to_string();
        assert!(error.contains("conformance, generic, packet, decision, tool, timer"), "{error}");
        let error = Cli::try_parse_from(["bpf", "run", "--hook", "sched", "x.s"]).unwrap_err().to_string();
        assert!(error.contains("sched_slice, sched_cpu, mcp_admit"), "{error}");
        assert!(parse_hook("tool").unwrap_err().contains("--type tool"));
        assert!(TypeName::parse("sched_cpu").unwrap_err().contains("--type decision --hook sched_cpu"));
    }

    #[test]
    fn the_type_defaults_from_the_elf_section() {
        let obj = sections_object();
        // Each program is verified for its own SEC(): as conformance programs all three would be
        // refused (they read a context that an empty buffer does not have).
        assert_eq!(exit_code(&["verify", obj]), 0);
        assert_eq!(exit_code(&["verify", "--type", "conformance", "--section", "tool", obj]), EXIT_REJECTED);
        let (r0, notes) = r0_of(&["--section", "decision/sched_cpu", "--ctx", "waker_cpu=3", obj]);
        assert_eq!(r0, 3);
        assert!(notes[0].starts_with("sched_cpu:"), "{notes:?}");
        assert_eq!(
            r0_of(&["--section", "decision/sched_cpu", "--hook", "sched_cpu", "--ctx", "waker_cpu=1", obj]).0,
            1
        );
        assert_eq!(r0_of(&["--section", "tool", "--input", "2a07", obj]).0, 42);
        assert_eq!(r0_of(&["--section", "tool", obj]).0, 0xff);
        assert_eq!(r0_of(&["--section", "timer", "--ctx", "runs=9", obj]).0, 9);
        assert_eq!(exit_code(&["disasm", "--section", "timer", obj]), 0);
        assert_eq!(exit_code(&["jit-disasm", "--section", "tool", obj]), 0);
    }

    #[test]
    fn several_programs_need_a_section_and_hooks_may_not_contradict_it() {
        let obj = sections_object();
        let error = error_of(&[obj]);
        assert!(error.contains("--section") && error.contains("decision/sched_cpu, tool, timer"), "{error}");
        let error = error_of(&["--section", "xdp", obj]);
        assert!(error.contains("no section \"xdp\""), "{error}");
        let error = error_of(&["--section", "decision/sched_cpu", "--hook", "sched_slice", obj]);
        assert!(error.contains("--hook sched_slice") && error.contains("sched_cpu"), "{error}");
        let error = error_of(&["--section", "tool", "--hook", "sched_slice", "--input", "00", obj]);
        assert!(error.contains("SEC(\"tool\")") && error.contains("sched_slice"), "{error}");
        let jit = Cli::try_parse_from(["bpf", "jit-disasm", obj]).unwrap();
        assert!(run(BpfArgs { command: jit.command }).unwrap_err().to_string().contains("--section"));
    }

    #[test]
    fn section_names_map_to_types_and_hooks() {
        let target = |name| section_target(name).unwrap();
        assert_eq!(target("tool"), Some(Target { kind: TypeName::Tool, hook: None }));
        assert_eq!(target("timer"), Some(Target { kind: TypeName::Timer, hook: None }));
        assert_eq!(target("decision"), Some(Target { kind: TypeName::Decision, hook: None }));
        let slice = Some(Target { kind: TypeName::Decision, hook: Some(hooks::SCHED_SLICE) });
        assert_eq!(target("decision/sched_slice"), slice);
        assert_eq!(target("sched_slice"), slice);
        assert_eq!(target("prog"), None);
        assert_eq!(target(".text"), None);
        assert!(section_target("decision/nope").unwrap_err().to_string().contains("sched_slice"));
    }

    #[test]
    fn help_teaches_every_type() {
        Cli::command().debug_assert();
        for verb in ["run", "verify", "disasm", "jit-disasm"] {
            let mut cli = Cli::command();
            let help = cli.find_subcommand_mut(verb).unwrap().render_long_help().to_string();
            for kind in TypeName::ALL {
                assert!(help.contains(&format!("\n  {}", kind.name())), "{verb}: {kind:?}");
                if kind != TypeName::Conformance {
                    assert!(help.contains(&format!("kingly bpf {verb} --type {}", kind.name())), "{verb}: {kind:?}");
                }
            }
            assert!(help.contains("--hook"), "{verb}");
        }
    }
}
