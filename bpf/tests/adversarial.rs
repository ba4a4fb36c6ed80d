//! The adversarial corpus in `tests/adversarial/`: every `unsafe/*.s` must be refused by the
//! verifier, every `safe/*.s` accepted and run to its expected r0. The format is described in
//! `tests/adversarial/README.md`. Failures are collected and reported together, one line per
//! file, so a run shows the whole picture rather than the first mismatch.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use kingly_bpf::hooks::{self, Hook, Kind};
use kingly_bpf::{asm, Env, FixedPlatform, Interpreter, Map, MapDef, MapKind, Options, Program, ProgramType};

/// One `.s` file with its header.
struct Case {
    /// `unsafe/name.s` or `safe/name.s`.
    name: String,
    source: String,
    /// `# key: value` lines of the leading comment block, in order.
    headers: Vec<(String, String)>,
}

impl Case {
    fn header(&self, key: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    fn require(&self, key: &str) -> Result<&str, String> {
        self.header(key).ok_or_else(|| format!("missing `# {key}:` header"))
    }
}

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("adversarial")
}

fn read_cases(sub: &str) -> Vec<Case> {
    let dir = corpus_dir().join(sub);
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "s"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let source = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let name = format!("{sub}/{}", path.file_name().unwrap().to_string_lossy());
            let headers = parse_headers(&source);
            Case { name, source, headers }
        })
        .collect()
}

/// `# key: value` lines before the first instruction (`#map` lines are read separately).
fn parse_headers(source: &str) -> Vec<(String, String)> {
    let mut headers = Vec::new();
    for line in source.lines() {
        let line = line.trim();
        if line.is_empty() || line.split_whitespace().next() == Some("#map") {
            continue;
        }
        let Some(comment) = line.strip_prefix('#') else { break };
        if let Some((key, value)) = comment.split_once(':') {
            headers.push((key.trim().to_string(), value.trim().to_string()));
        }
    }
    headers
}

/// `#map KIND key=N value=N max=N` lines, in order: map N is the Nth line. The same syntax as
/// `kingly push` and `kingly bpf` read (a local copy: the crate's own parser was not committed
/// when this corpus was written).
fn map_directives(source: &str) -> Result<Vec<MapDef>, String> {
    let mut maps = Vec::new();
    for (index, line) in source.lines().enumerate() {
        let mut words = line.split_whitespace();
        if words.next() != Some("#map") {
            continue;
        }
        let at = index + 1;
        let kind = match words.next() {
            Some("hash") => MapKind::Hash,
            Some("array") => MapKind::Array,
            Some("percpu_array") => MapKind::PerCpuArray,
            other => return Err(format!("line {at}: unknown map kind {other:?}")),
        };
        let (mut key, mut value, mut max) = (None, None, None);
        for word in words {
            let (field, number) = word.split_once('=').ok_or_else(|| format!("line {at}: `{word}` is not field=N"))?;
            let n = asm::parse_int(number)
                .and_then(|(n, _)| u32::try_from(n).ok())
                .ok_or_else(|| format!("line {at}: bad number in `{word}`"))?;
            match field {
                "key" => key = Some(n),
                "value" => value = Some(n),
                "max" => max = Some(n),
                _ => return Err(format!("line {at}: unknown map field `{field}`")),
            }
        }
        match (key, value, max) {
            (Some(key_size_bytes), Some(value_size_bytes), Some(max_entries)) => {
                maps.push(MapDef { kind, key_size_bytes, value_size_bytes, max_entries })
            }
            _ => return Err(format!("line {at}: a map needs key=, value= and max=")),
        }
    }
    Ok(maps)
}

fn parse_u64(text: &str) -> Result<u64, String> {
    match asm::parse_int(text) {
        Some((v, _)) if v >= i64::MIN as i128 && v <= u64::MAX as i128 => Ok(v as u64),
        _ => Err(format!("`{text}` is not a number")),
    }
}

fn parse_hex(text: &str) -> Result<Vec<u8>, String> {
    let digits: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    if !digits.len().is_multiple_of(2) {
        return Err(format!("odd number of hex digits in `{text}`"));
    }
    (0..digits.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&digits[i..i + 2], 16).map_err(|_| format!("bad hex byte in `{text}`")))
        .collect()
}

/// `name=value,…` pairs of a `# ctx:` header.
fn ctx_fields(case: &Case) -> Result<Vec<(String, u64)>, String> {
    let Some(text) = case.header("ctx") else { return Ok(Vec::new()) };
    text.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').ok_or_else(|| format!("ctx entry `{pair}` is not name=value"))?;
            Ok((name.trim().to_string(), parse_u64(value)?))
        })
        .collect()
}

fn mem_bytes(case: &Case) -> Result<Vec<u8>, String> {
    case.header("mem").map_or(Ok(Vec::new()), parse_hex)
}

/// Bytes of the `generic` type's read-only context.
const GENERIC_CTX_BYTES: u32 = 16;

/// The program type a `# type:` header names.
fn program_type(case: &Case) -> Result<ProgramType, String> {
    Ok(match case.require("type")? {
        "decision" => Kind::Decision.program_type(),
        "tool" => Kind::Tool.program_type(),
        "timer" => Kind::Timer.program_type(),
        "conformance" => ProgramType::conformance(mem_bytes(case)?.len() as u32),
        "generic" => ProgramType::with_struct_context("generic", GENERIC_CTX_BYTES),
        other => return Err(format!("unknown type `{other}`")),
    })
}

/// The context bytes and packet for a run of a safe case.
fn run_inputs(case: &Case) -> Result<(Vec<u8>, Vec<u8>), String> {
    let fields = ctx_fields(case)?;
    let packet = case.header("input").map_or(Ok(Vec::new()), parse_hex)?;
    if !packet.is_empty() && case.header("type") != Some("tool") {
        return Err("`# input:` is only for tool programs".into());
    }
    let ctx = match case.require("type")? {
        "decision" => {
            let hook_name = case.header("hook").unwrap_or("sched_slice");
            let hook = Hook::by_name(hook_name).ok_or_else(|| format!("unknown hook `{hook_name}`"))?;
            let (mut cpu, mut now_ns, mut values) = (0u32, 0u64, [0u64; hooks::DECISION_FIELDS]);
            for (name, value) in fields {
                match name.as_str() {
                    "cpu" => cpu = value as u32,
                    "now_ns" => now_ns = value,
                    _ => {
                        let i = hook
                            .field_index(&name)
                            .ok_or_else(|| format!("hook {} has no field `{name}`", hook.name))?;
                        values[i] = value;
                    }
                }
            }
            hooks::decision_context(hook.id, cpu, now_ns, values).to_vec()
        }
        "timer" => {
            let (mut cpu, mut period_ms, mut now_ns, mut runs) = (0u32, 0u32, 0u64, 0u64);
            for (name, value) in fields {
                match name.as_str() {
                    "cpu" => cpu = value as u32,
                    "period_ms" => period_ms = value as u32,
                    "now_ns" => now_ns = value,
                    "runs" => runs = value,
                    _ => return Err(format!("timer context has no field `{name}`")),
                }
            }
            hooks::timer_context(cpu, period_ms, now_ns, runs).to_vec()
        }
        "tool" => {
            if packet.len() > hooks::TOOL_MAX_INPUT_BYTES {
                return Err("input longer than TOOL_MAX_INPUT_BYTES".into());
            }
            vec![0; hooks::TOOL_CTX_BYTES]
        }
        "conformance" => mem_bytes(case)?,
        "generic" => {
            let mut ctx = mem_bytes(case)?;
            if ctx.len() > GENERIC_CTX_BYTES as usize {
                return Err("generic context is 16 bytes".into());
            }
            ctx.resize(GENERIC_CTX_BYTES as usize, 0);
            ctx
        }
        other => return Err(format!("unknown type `{other}`")),
    };
    Ok((ctx, packet))
}

/// What became of one file.
enum Outcome {
    /// Behaved as the corpus says (refused, or accepted with the right r0); the detail line.
    Pass(String),
    /// Did not; the reason.
    Fail(String),
}

fn check_common(case: &Case) -> Result<(Vec<kingly_bpf::isa::RawInsn>, ProgramType, Vec<MapDef>), String> {
    for key in ["class", "why"] {
        case.require(key)?;
    }
    let prog_type = program_type(case)?;
    let maps = map_directives(&case.source)?;
    let slots = asm::assemble(&case.source).map_err(|e| format!("does not assemble: {e}"))?;
    Ok((slots, prog_type, maps))
}

fn check_unsafe(case: &Case) -> Outcome {
    let (slots, prog_type, maps) = match check_common(case) {
        Ok(parts) => parts,
        Err(e) => return Outcome::Fail(format!("corpus error: {e}")),
    };
    match Program::load_slots(slots, &prog_type, &maps, &Options::default()) {
        Err(e) => Outcome::Pass(format!("refused: {e}")),
        Ok(_) => Outcome::Fail(format!(
            "ACCEPTED (class {}): {}",
            case.header("class").unwrap_or("?"),
            case.header("why").unwrap_or("")
        )),
    }
}

fn check_safe(case: &Case) -> Outcome {
    let parts = check_common(case).and_then(|(slots, prog_type, maps)| {
        let want = parse_u64(case.require("r0")?)?;
        let (ctx, packet) = run_inputs(case)?;
        Ok((slots, prog_type, maps, want, ctx, packet))
    });
    let (slots, prog_type, maps, want, mut ctx, mut packet) = match parts {
        Ok(parts) => parts,
        Err(e) => return Outcome::Fail(format!("corpus error: {e}")),
    };
    let prog = match Program::load_slots(slots, &prog_type, &maps, &Options::default()) {
        Ok(prog) => prog,
        Err(e) => return Outcome::Fail(format!("REFUSED (class {}): {e}", case.header("class").unwrap_or("?"))),
    };
    let mut live: Vec<Map> = match maps.iter().map(|d| Map::new(*d, 1)).collect() {
        Ok(live) => live,
        Err(e) => return Outcome::Fail(format!("corpus error: map: {e}")),
    };
    // Budgeted to the verifier's own worst case: a run that needs more is a verifier bug too.
    let budget = prog.stats().worst_case_path_insns.max(1);
    let mut platform = FixedPlatform::default();
    let mut env = Env { maps: &mut live, platform: &mut platform, budget_insns: budget };
    match Interpreter::new().run_with_packet(&prog, &mut ctx, &mut packet, &mut env) {
        Ok(r0) if r0 == want => Outcome::Pass(format!("accepted, r0 = {r0:#x}")),
        Ok(r0) => Outcome::Fail(format!("accepted but r0 = {r0:#x}, expected {want:#x}")),
        Err(e) => Outcome::Fail(format!("accepted but the run failed: {e} (budget {budget})")),
    }
}

/// Every file's outcome, computed once for both tests.
struct Report {
    unsafe_cases: Vec<(String, Outcome)>,
    safe_cases: Vec<(String, Outcome)>,
}

impl Report {
    fn passed(cases: &[(String, Outcome)]) -> usize {
        cases.iter().filter(|(_, o)| matches!(o, Outcome::Pass(_))).count()
    }

    fn summary(&self) -> String {
        format!(
            "adversarial: unsafe refused {}/{}, safe accepted {}/{}",
            Self::passed(&self.unsafe_cases),
            self.unsafe_cases.len(),
            Self::passed(&self.safe_cases),
            self.safe_cases.len()
        )
    }
}

fn report() -> &'static Report {
    static REPORT: OnceLock<Report> = OnceLock::new();
    REPORT.get_or_init(|| Report {
        unsafe_cases: read_cases("unsafe").into_iter().map(|c| (c.name.clone(), check_unsafe(&c))).collect(),
        safe_cases: read_cases("safe").into_iter().map(|c| (c.name.clone(), check_safe(&c))).collect(),
    })
}

/// Prints every file's line and panics with all failures at once.
fn finish(cases: &[(String, Outcome)], minimum: usize) {
    let report = report();
    let mut failures = String::new();
    for (name, outcome) in cases {
        match outcome {
            Outcome::Pass(detail) => println!("ok   {name}: {detail}"),
            Outcome::Fail(why) => {
                println!("FAIL {name}: {why}");
                let _ = writeln!(failures, "{name}: {why}");
            }
        }
    }
    println!("{}", report.summary());
    assert!(cases.len() >= minimum, "the corpus shrank: {} files, expected at least {minimum}", cases.len());
    let failed = cases.len() - Report::passed(cases);
    assert!(failures.is_empty(), "{failed} of {} files failed:\n{failures}{}", cases.len(), report.summary());
}

#[test]
fn unsafe_programs_are_refused() {
    finish(&report().unsafe_cases, 60);
}

#[test]
fn safe_programs_are_accepted_with_their_r0() {
    finish(&report().safe_cases, 30);
}

#[test]
fn headers_and_maps_parse() {
    let src =
        "# type: decision\n#map hash key=4 value=16 max=64\n# class: x\n# why: y: z\nmov %r0, 0\n# late: no\nexit";
    let headers = parse_headers(src);
    assert_eq!(headers.len(), 3);
    assert_eq!(headers[2], ("why".to_string(), "y: z".to_string()));
    let maps = map_directives(src).unwrap();
    assert_eq!(maps, [MapDef { kind: MapKind::Hash, key_size_bytes: 4, value_size_bytes: 16, max_entries: 64 }]);
    assert!(map_directives("#map tree key=4 value=8 max=1").is_err());
    assert!(map_directives("#map array key=4 value=8").is_err());
    assert_eq!(parse_hex("0a ff").unwrap(), [0x0a, 0xff]);
    assert_eq!(parse_u64("-1").unwrap(), u64::MAX);
}
