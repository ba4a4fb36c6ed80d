//! Long pointer-fuzzing runs against the verifier (see `kingly_bpf::ptrgen`):
//!
//! ```sh
//! cargo run --release -p kingly-bpf --example pointer_fuzz -- --count 1000000 --seed 7 --out /tmp/findings
//! cargo run --release -p kingly-bpf --example pointer_fuzz -- --replay bpf/tests/fuzz_findings/*.s
//! ```
//!
//! Program `n` of a run is generated from `seed` and `n` alone (`--only n` regenerates it). A
//! progress line goes to stderr; the summary counts programs, accepted, rejected (by reason)
//! and findings (by kind). With `--out`, findings are saved as `.s` files (`--minimize` shrinks
//! them first: instructions are dropped while the verifier still accepts and the same kind of
//! finding remains).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;
use kingly_bpf::ptrgen::{self, Finding, FindingKind, Generated, Shape, Target};
use kingly_bpf::testgen::Rng;
use kingly_bpf::verifier::Options;
use kingly_bpf::{asm, disasm, AnyProgram, Interpreter, MapDef, Program, VerifiedProgram};

#[derive(Parser)]
#[command(about = "Fuzz the verifier's pointer reasoning with strict runs of accepted programs")]
struct Args {
    /// Programs to generate.
    #[arg(long, default_value_t = 100_000)]
    count: u64,
    /// Run seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Directory to save findings in (as `.s` files).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Findings saved per kind at most.
    #[arg(long, default_value_t = 20)]
    keep: usize,
    /// Shrink findings before saving them.
    #[arg(long)]
    minimize: bool,
    /// Only this program type (decision, tool, conformance); all three in turn by default.
    #[arg(long)]
    target: Option<String>,
    /// Only program number N of the run (prints it).
    #[arg(long)]
    only: Option<u64>,
    /// Never use production-address probes (`jeq p + K, 0`), which hide other findings.
    #[arg(long)]
    no_address_probes: bool,
    /// Percent of hostile choices for every program (by default each draws its own).
    #[arg(long)]
    hostile: Option<u64>,
    /// Inputs (each under three layouts) per accepted program.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Check saved `.s` files instead of generating: verdict, and the oracle's on a strict run.
    #[arg(long, num_args = 1..)]
    replay: Vec<PathBuf>,
}

fn options() -> Options {
    Options { max_insns_processed: 100_000, ..Options::default() }
}

/// Program `n`'s own generator state: runs are reproducible one program at a time.
fn program_rng(seed: u64, n: u64) -> Rng {
    let mut mix = Rng(seed ^ n.wrapping_mul(0xd134_2543_de82_ef95));
    Rng(mix.next_u64())
}

/// A verdict's name without its fields (`OutOfBounds`, `PointerComparison`, ...).
fn reason(kind: &kingly_bpf::ErrorKind) -> String {
    let text = format!("{kind:?}");
    text.split(['(', ' ', '{']).next().unwrap_or("").to_string()
}

#[derive(Default)]
struct Summary {
    programs: u64,
    accepted: BTreeMap<&'static str, u64>,
    /// (programs, accepted) by the shape's hostile percent.
    by_hostility: BTreeMap<u64, (u64, u64)>,
    rejected: u64,
    reasons: BTreeMap<String, u64>,
    findings: BTreeMap<FindingKind, u64>,
    runs: u64,
    insns: u64,
    saved: Vec<PathBuf>,
}

fn main() -> Result<()> {
    let args = Args::parse();
    if !args.replay.is_empty() {
        return replay(&args.replay);
    }
    let only_target = match &args.target {
        Some(name) => Some(Target::from_name(name).with_context(|| format!("unknown type {name}"))?),
        None => None,
    };
    if let Some(dir) = &args.out {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut summary = Summary::default();
    let mut interp = Interpreter::new();
    let start = Instant::now();
    let mut last_progress = start;
    let range = match args.only {
        Some(n) => n..n + 1,
        None => 0..args.count,
    };
    for n in range {
        let mut rng = program_rng(args.seed, n);
        let target = only_target.unwrap_or(Target::ALL[(n % 3) as usize]);
        let mut shape = Shape::random(&mut rng, target);
        shape.address_probes &= !args.no_address_probes;
        shape.hostile_percent = args.hostile.unwrap_or(shape.hostile_percent);
        let generated = ptrgen::generate(&mut rng, &shape);
        if args.only.is_some() {
            println!("# program {n}, {shape:?}\n{}", generated.source);
        }
        summary.programs += 1;
        let hostility = summary.by_hostility.entry(shape.hostile_percent).or_default();
        hostility.0 += 1;
        let verdict = Program::load_slots(generated.slots.clone(), &target.program_type(), &generated.maps, &options());
        let prog = match verdict {
            Ok(prog) => prog,
            Err(e) => {
                summary.rejected += 1;
                *summary.reasons.entry(reason(&e.kind)).or_default() += 1;
                if args.only.is_some() {
                    println!("rejected: {e}");
                }
                continue;
            }
        };
        *summary.accepted.entry(target.name()).or_default() += 1;
        summary.by_hostility.entry(shape.hostile_percent).or_default().1 += 1;
        match ptrgen::check(&prog, target, &mut rng, args.rounds, &mut interp) {
            Ok(stats) => {
                summary.runs += stats.runs;
                summary.insns += stats.insns;
                if args.only.is_some() {
                    println!("accepted; {} strict runs, no finding", stats.runs);
                }
            }
            Err(finding) => report(&args, &mut summary, n, &generated, &prog, &finding)?,
        }
        if last_progress.elapsed() > Duration::from_secs(5) {
            last_progress = Instant::now();
            let done = summary.programs;
            eprintln!(
                "{done}/{} programs, {} accepted, {} findings, {:.0} programs/s",
                args.count,
                summary.accepted.values().sum::<u64>(),
                summary.findings.values().sum::<u64>(),
                done as f64 / start.elapsed().as_secs_f64()
            );
        }
    }
    print_summary(&args, &summary, start.elapsed());
    Ok(())
}

fn report(
    args: &Args,
    summary: &mut Summary,
    n: u64,
    generated: &Generated,
    prog: &VerifiedProgram,
    finding: &Finding,
) -> Result<()> {
    let count = summary.findings.entry(finding.kind).or_default();
    *count += 1;
    if *count as usize > args.keep {
        return Ok(());
    }
    let target = generated.target;
    let (insns, finding_text) = if args.minimize {
        let source = minimize(&generated.source, target, &generated.maps, finding.kind, args.seed ^ n);
        let prog = load(&source, target, &generated.maps).context("the minimized program no longer loads")?;
        let again = first_finding(&prog, target, args.seed ^ n).unwrap_or_else(|| finding.clone());
        (prog.insns().to_vec(), again.to_string())
    } else {
        (prog.insns().to_vec(), finding.to_string())
    };
    let text =
        ptrgen::to_file(target, &generated.maps, &insns, &format!("{finding_text} (program {n}, seed {})", args.seed));
    println!("program {n} (seed {}): {finding}\n{text}", args.seed);
    if let Some(dir) = &args.out {
        let path = dir.join(format!("{}-{n}.s", finding.kind.name()));
        std::fs::write(&path, &text).with_context(|| format!("writing {}", path.display()))?;
        summary.saved.push(path);
    }
    Ok(())
}

fn load(source: &str, target: Target, maps: &[MapDef]) -> Option<VerifiedProgram> {
    let slots = asm::assemble(source).ok()?;
    Program::load_slots(slots, &target.program_type(), maps, &options()).ok()
}

/// The first finding over a few deterministic input sets, if any.
fn first_finding<'p>(prog: impl Into<AnyProgram<'p>>, target: Target, seed: u64) -> Option<Finding> {
    let prog = prog.into();
    let mut rng = Rng(seed);
    let mut interp = Interpreter::new();
    (0..4).find_map(|_| ptrgen::check(prog, target, &mut rng, 4, &mut interp).err())
}

/// Drops instructions (halves, then quarters, ... then single lines; labels stay) while the
/// program is still accepted and still shows a finding of `kind`.
fn minimize(source: &str, target: Target, maps: &[MapDef], kind: FindingKind, seed: u64) -> String {
    let still_fails = |lines: &[&str]| {
        let text = lines.join("\n");
        load(&text, target, maps).and_then(|p| first_finding(&p, target, seed)).is_some_and(|f| f.kind == kind)
    };
    let mut lines: Vec<&str> = source.lines().collect();
    let mut chunk = lines.len() / 2;
    while chunk >= 1 {
        let mut at = 0;
        while at < lines.len() {
            let removable: Vec<usize> =
                (at..(at + chunk).min(lines.len())).filter(|&i| !lines[i].trim_end().ends_with(':')).collect();
            if !removable.is_empty() {
                let trial: Vec<&str> =
                    lines.iter().enumerate().filter(|(i, _)| !removable.contains(i)).map(|(_, l)| *l).collect();
                if still_fails(&trial) {
                    lines = trial;
                    continue;
                }
            }
            at += chunk;
        }
        chunk /= 2;
    }
    lines.join("\n")
}

fn print_summary(args: &Args, s: &Summary, elapsed: Duration) {
    let accepted: u64 = s.accepted.values().sum();
    let findings: u64 = s.findings.values().sum();
    println!(
        "\n== pointer fuzz: seed {}, {:.1} s, {:.0} programs/s",
        args.seed,
        elapsed.as_secs_f64(),
        s.programs as f64 / elapsed.as_secs_f64()
    );
    println!("programs {}, accepted {accepted}, rejected {}, findings {findings}", s.programs, s.rejected);
    println!("accepted by type: {:?}", s.accepted);
    let hostility: Vec<String> =
        s.by_hostility.iter().map(|(h, (n, a))| format!("{h}%: {:.0}%", 100.0 * *a as f64 / *n as f64)).collect();
    println!("accepted by hostile choices: {}", hostility.join(", "));
    println!("strict runs {}, instructions executed {}", s.runs, s.insns);
    println!("findings by kind:");
    for (kind, n) in &s.findings {
        println!("  {:<28} {n}", kind.name());
    }
    println!("rejections by reason:");
    let mut reasons: Vec<(&String, &u64)> = s.reasons.iter().collect();
    reasons.sort_by(|a, b| b.1.cmp(a.1));
    for (reason, n) in reasons {
        println!("  {reason:<28} {n}");
    }
    if !s.saved.is_empty() {
        println!(
            "saved {} findings in {}",
            s.saved.len(),
            args.out.as_ref().map_or(String::new(), |d| d.display().to_string())
        );
    }
}

fn replay(files: &[PathBuf]) -> Result<()> {
    let mut refused = 0;
    for path in files {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let (target, maps, slots) = ptrgen::from_file(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        match Program::load_slots(slots.clone(), &target.program_type(), &maps, &Options::default()) {
            Err(e) => {
                refused += 1;
                println!("{}: refused ({e})", path.display());
            }
            Ok(prog) => {
                let verdict = first_finding(&prog, target, 1).map_or(String::from("no finding"), |f| f.to_string());
                println!("{}: ACCEPTED; strict run: {verdict}", path.display());
            }
        }
        let bytes = kingly_bpf::isa::slots_to_bytes(&slots);
        let unverified = Program::load_unverified(&bytes, &target.program_type(), &maps)?;
        if let Some(f) = first_finding(&unverified, target, 1) {
            println!("    run unverified: {f}");
        }
        if std::env::var_os("KINGLY_SHOW").is_some() {
            print!("{}", disasm::format_program(unverified.insns()));
        }
    }
    println!("{refused}/{} refused", files.len());
    if refused != files.len() {
        bail!("{} saved findings are still accepted", files.len() - refused);
    }
    Ok(())
}
