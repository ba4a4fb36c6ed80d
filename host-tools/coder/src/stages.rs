//! The checking stages every candidate goes through, whatever wrote it: compile, Safety (the
//! kernel's verifier), Tester (the host VM on the task's examples and on generated edge
//! cases) and Performance (worst-case path length against the hook's budget).

use std::path::Path;
use std::process::Command;

use kingly_bpf::hooks::{Kind, TOOL_MAX_INPUT_BYTES};
use kingly_bpf::isa::RawInsn;
use kingly_bpf::{
    asm, disasm, elf, isa, Env, FixedPlatform, Interpreter, Map, MapDef, Options, Program, VerifiedProgram,
};
use sha2::{Digest, Sha256};

use crate::codegen;
use crate::dsl::DslProgram;
use crate::task::{Input, Layout, Task};

/// What a candidate was written in.
#[derive(Clone, Debug)]
pub enum Source {
    Dsl(DslProgram),
    Asm(String),
    C(String),
}

impl Source {
    pub fn language(&self) -> &'static str {
        match self {
            Source::Dsl(_) => "dsl",
            Source::Asm(_) => "asm",
            Source::C(_) => "c",
        }
    }
}

/// A candidate program before checking.
#[derive(Clone, Debug)]
pub struct Candidate {
    pub source: Source,
    /// The generator's own confidence: false when it fits the examples only with constructs it
    /// considers coincidental (the loop then searches another round before settling for it).
    pub plausible: bool,
    /// Which generator branch (or LLM request) produced it.
    pub origin: String,
    /// LLM tokens spent on it (0 offline).
    pub tokens: u64,
}

/// A compiled candidate.
#[derive(Clone, Debug)]
pub struct Compiled {
    pub slots: Vec<RawInsn>,
    pub maps: Vec<MapDef>,
    /// Human-readable source (DSL rendering plus generated assembly, or what the LLM wrote).
    pub listing: String,
}

/// The C prelude prepended to LLM-written C: types, helpers, the context of each program type.
pub const C_PRELUDE: &str = r#"typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long long u64;
typedef signed long long s64;
struct bpf_map_def { u32 type; u32 key_size; u32 value_size; u32 max_entries; u32 map_flags; };
#define SEC(n) __attribute__((section(n), used))
#define BPF_MAP_TYPE_HASH 1
#define BPF_MAP_TYPE_ARRAY 2
static void *(*bpf_map_lookup_elem)(void *map, const void *key) = (void *)1;
static long (*bpf_map_update_elem)(void *map, const void *key, const void *value, u64 flags) = (void *)2;
static long (*bpf_map_delete_elem)(void *map, const void *key) = (void *)3;
static u64 (*bpf_ktime_get_ns)(void) = (void *)5;
static u32 (*bpf_get_prandom_u32)(void) = (void *)7;
static u32 (*bpf_get_smp_processor_id)(void) = (void *)8;
struct tool_ctx { u64 data; u64 data_end; };
struct decision_ctx { u32 hook; u32 cpu; u64 now_ns; u64 field[4]; };
struct timer_ctx { u32 cpu; u32 period_ms; u64 now_ns; u64 runs; };
"#;

/// Content hash of a program's bytecode (first 16 hex digits of SHA-256).
pub fn program_hash(slots: &[RawInsn], maps: &[MapDef]) -> String {
    let mut h = Sha256::new();
    h.update(isa::slots_to_bytes(slots));
    for m in maps {
        h.update(format!("{m:?}").as_bytes());
    }
    h.finalize().iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// Compiles a candidate to bytecode.
pub fn compile(candidate: &Candidate, layout: &Layout, work_dir: &Path) -> Result<Compiled, String> {
    match &candidate.source {
        Source::Dsl(program) => {
            let out = codegen::compile(program, layout).map_err(|e| format!("{e:#}"))?;
            let slots = asm::assemble(&out.asm).map_err(|e| format!("generated assembly: {e}"))?;
            let listing = format!("# {}\n{}", program.render(layout), out.asm);
            Ok(Compiled { slots, maps: out.maps, listing })
        }
        Source::Asm(text) => {
            let slots = asm::assemble(text).map_err(|e| format!("assembler: {e}"))?;
            Ok(Compiled { slots, maps: Vec::new(), listing: text.clone() })
        }
        Source::C(text) => {
            std::fs::create_dir_all(work_dir).map_err(|e| format!("creating {}: {e}", work_dir.display()))?;
            let stem = format!("cand-{}-{}", std::process::id(), program_hash_text(text));
            let c_path = work_dir.join(format!("{stem}.c"));
            let o_path = work_dir.join(format!("{stem}.o"));
            std::fs::write(&c_path, format!("{C_PRELUDE}{text}\nchar _license[] SEC(\"license\") = \"GPL\";\n"))
                .map_err(|e| format!("writing {}: {e}", c_path.display()))?;
            let output = Command::new("clang-14")
                .args(["-target", "bpf", "-O2", "-mcpu=v3", "-c"])
                .arg(&c_path)
                .arg("-o")
                .arg(&o_path)
                .output()
                .map_err(|e| format!("running clang-14 (install clang-14 to compile C candidates): {e}"))?;
            if !output.status.success() {
                let stderr = String::from_utf8_lossy(&output.stderr);
                let errors: Vec<&str> = stderr.lines().filter(|l| l.contains("error")).take(6).collect();
                return Err(format!("clang: {}", errors.join(" | ")));
            }
            let bytes = std::fs::read(&o_path).map_err(|e| format!("reading {}: {e}", o_path.display()))?;
            let object = elf::load(&bytes).map_err(|e| format!("ELF: {e}"))?;
            let program =
                object.programs.first().ok_or("ELF: no program section (put the function in SEC(\"prog\"))")?;
            Ok(Compiled { slots: program.slots.clone(), maps: object.map_defs(), listing: text.clone() })
        }
    }
}

fn program_hash_text(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    digest.iter().take(6).map(|b| format!("{b:02x}")).collect()
}

/// Safety: the same verifier the kernel runs. On refusal, the message names the instruction.
pub fn verify(compiled: &Compiled, kind: Kind) -> Result<VerifiedProgram, (String, String)> {
    Program::load_slots(compiled.slots.clone(), &kind.program_type(), &compiled.maps, &Options::default()).map_err(
        |e| {
            let class = format!("{:?}", e.kind);
            let class: String = class.chars().take_while(|c| c.is_ascii_alphanumeric()).collect();
            let insn = isa::decode_program(compiled.slots.clone())
                .ok()
                .and_then(|d| d.insns.get(e.pc).map(disasm::format_insn))
                .unwrap_or_default();
            (format!("verify:{class}"), format!("verifier rejected the program: {e} (instruction: `{insn}`)"))
        },
    )
}

/// The result of running a candidate on inputs.
#[derive(Clone, Debug, Default)]
pub struct TestReport {
    pub passed: usize,
    pub total: usize,
    /// Human lines describing failures (first few).
    pub failures: Vec<String>,
    pub runtime_error: bool,
    /// Edge-case findings that do not fail a candidate but rank it lower.
    pub warnings: Vec<String>,
    /// Edge-case findings that fail it (crashes, budget, non-deterministic decisions).
    pub edge_failures: Vec<String>,
    /// Most instructions one run took.
    pub max_run_insns: u64,
}

impl TestReport {
    pub fn ok(&self) -> bool {
        self.passed == self.total && self.edge_failures.is_empty()
    }
}

fn fresh_maps(defs: &[MapDef]) -> Vec<Map> {
    defs.iter().filter_map(|d| Map::new(*d, 1).ok()).collect()
}

fn run_one(
    prog: &VerifiedProgram,
    input: &Input,
    layout: &Layout,
    maps: &mut [Map],
    budget: u64,
    cpu: u32,
) -> Result<(u64, u64), String> {
    let (mut ctx, mut packet) = input.context(layout);
    let mut platform = FixedPlatform { cpu, ..FixedPlatform::default() };
    let mut env = Env { maps, platform: &mut platform, budget_insns: budget };
    let mut interp = Interpreter::new();
    let r = interp.run_with_packet(prog, &mut ctx, &mut packet, &mut env).map_err(|e| e.to_string())?;
    Ok((r, interp.last_run_insns()))
}

/// What the verified program returns on `probe` after running the task's examples (map state
/// carries over, as on the board); `None` when it stops with an error.
pub fn answer(prog: &VerifiedProgram, task: &Task, probe: &Input) -> Option<u64> {
    let budget = task.budget_insns().max(1);
    let mut maps = fresh_maps(prog.maps());
    let with_hook = |input: &Input| {
        let mut input = input.clone();
        if let (Input::Fields(v), Some(h)) = (&mut input, task.hook) {
            v[0] = h.id as u64;
        }
        input
    };
    if !prog.maps().is_empty() {
        for e in &task.examples {
            run_one(prog, &with_hook(&e.input), &task.layout, &mut maps, budget, 0).ok()?;
        }
    }
    run_one(prog, &with_hook(probe), &task.layout, &mut maps, budget, 0).ok().map(|(r, _)| r)
}

/// The same decision input seen on another core at another time.
fn elsewhere(input: &Input) -> Input {
    match input {
        Input::Fields(v) => {
            let mut v = v.clone();
            v[1] = 3;
            v[2] = 123_456_789;
            Input::Fields(v)
        }
        other => other.clone(),
    }
}

/// Inputs no example covers: empty, extreme, long, random, and each example's neighbours.
pub fn edge_inputs(task: &Task) -> Vec<Input> {
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    match task.kind {
        Kind::Tool => {
            let mut out = vec![
                Input::Bytes(vec![]),
                Input::Bytes(vec![0]),
                Input::Bytes(vec![0xff]),
                Input::Bytes(vec![0xff; TOOL_MAX_INPUT_BYTES]),
                Input::Bytes(vec![b'9'; TOOL_MAX_INPUT_BYTES]),
                Input::Bytes((0..TOOL_MAX_INPUT_BYTES).map(|_| next() as u8).collect()),
                Input::Bytes((0..17).map(|_| next() as u8).collect()),
            ];
            for e in &task.examples {
                if let Input::Bytes(b) = &e.input {
                    if !b.is_empty() {
                        out.push(Input::Bytes(b[..b.len() - 1].to_vec()));
                    }
                    let mut longer = b.clone();
                    longer.push(next() as u8);
                    out.push(Input::Bytes(longer));
                }
            }
            out
        }
        Kind::Decision | Kind::Timer => {
            let n = task.layout.fields().len();
            let hook_id = task.hook.map_or(0, |h| h.id as u64);
            let with_hook = |mut v: Vec<u64>| {
                if task.kind == Kind::Decision {
                    v[0] = hook_id;
                }
                Input::Fields(v)
            };
            let mut out = vec![with_hook(vec![0; n]), with_hook(vec![u64::MAX; n])];
            for _ in 0..6 {
                out.push(with_hook((0..n).map(|_| next() % 1000).collect()));
                out.push(with_hook((0..n).map(|_| next()).collect()));
            }
            out
        }
    }
}

/// Tester: the examples in order (they share maps: a call sequence), then edge cases.
pub fn test(prog: &VerifiedProgram, task: &Task) -> TestReport {
    let mut report = TestReport { total: task.examples.len(), ..TestReport::default() };
    let budget = task.budget_insns().max(1);
    let mut maps = fresh_maps(prog.maps());
    for e in &task.examples {
        let mut input = e.input.clone();
        if let (Input::Fields(v), Some(h)) = (&mut input, task.hook) {
            v[0] = h.id as u64;
        }
        match run_one(prog, &input, &task.layout, &mut maps, budget, 0) {
            Ok((r, insns)) => {
                report.max_run_insns = report.max_run_insns.max(insns);
                if r == e.output {
                    report.passed += 1;
                } else if report.failures.len() < 4 {
                    report.failures.push(format!(
                        "input {} expected {} got {}",
                        e.input.describe(&task.layout),
                        e.output,
                        r
                    ));
                }
            }
            Err(err) => {
                report.runtime_error = true;
                if report.failures.len() < 4 {
                    report.failures.push(format!("input {} stopped: {err}", e.input.describe(&task.layout)));
                }
            }
        }
    }
    let stateless = prog.maps().is_empty();
    // Tasks whose examples set cpu or now_ns decide on them on purpose.
    let uses_cpu_or_time = task.examples.iter().any(|e| matches!(&e.input, Input::Fields(v) if v[1] != 0 || v[2] != 0));
    for input in edge_inputs(task) {
        let mut maps = fresh_maps(prog.maps());
        match run_one(prog, &input, &task.layout, &mut maps, budget, 0) {
            Ok((r, insns)) => {
                report.max_run_insns = report.max_run_insns.max(insns);
                if let Some(max) = task.max_result() {
                    if r > max && report.warnings.len() < 3 {
                        report.warnings.push(format!(
                            "edge input {} gives {r}, above the hook's largest valid decision {max} (the kernel falls back to its default)",
                            input.describe(&task.layout)
                        ));
                    }
                }
                if task.kind == Kind::Decision && stateless && !uses_cpu_or_time {
                    let mut maps = fresh_maps(prog.maps());
                    if let Ok((again, _)) = run_one(prog, &elsewhere(&input), &task.layout, &mut maps, budget, 3) {
                        if again != r && report.edge_failures.len() < 3 {
                            report.edge_failures.push(format!(
                                "decision for {} changes with cpu/now_ns ({r} vs {again}): cached decisions must depend only on the fields",
                                input.describe(&task.layout)
                            ));
                        }
                    }
                }
            }
            Err(err) => {
                if report.edge_failures.len() < 3 {
                    report.edge_failures.push(format!("edge input {} stopped: {err}", input.describe(&task.layout)));
                }
            }
        }
    }
    report
}

/// Disassembly of verified bytecode.
pub fn disassembly(prog: &VerifiedProgram) -> String {
    disasm::format_program(prog.insns())
}
