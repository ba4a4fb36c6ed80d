//! `kingly trace`: switch a hook's decision trace on in a running kernel, optionally run the
//! synthetic workload, read the records out (`trace_read`'s binary attachment) and write them
//! as CSV, one row per hook call: its context fields, the decision, where it came from (L1,
//! global table, a program run, the default policy, exploration), which program and policy
//! generation made it, and what the workload observed afterwards.
//!
//! The collection steps are shared with `kingly learn` ([`collect`]).

use crate::call::ConnectArgs;
use crate::client::{content_json, Client};
use anyhow::{bail, Context, Result};
use kingly_bpf::hooks::{Hook, HOOKS};
use kingly_proto::contract::TRACE_READ_MAX;
use kingly_proto::trace::{outcome_names, Outcome, Record, RECORD_BYTES};
use kingly_proto::Content;
use serde_json::{json, Value};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Options of `kingly trace`.
#[derive(clap::Args, Debug, Clone)]
#[command(after_help = "Examples:\n  \
    kingly boot --board raspi4b --icount 0 --serial unix:/tmp/k.sock &\n  \
    kingly trace --hook sched_slice --run-ms 1000 --mix mixed,bursty --out slice.csv --connect unix:/tmp/k.sock\n  \
    kingly trace --hook sched_slice --explore --seed 7 --run-ms 1000 --runs 4 --out explore.csv --connect unix:/tmp/k.sock\n  \
    kingly trace --hook mcp_admit --seconds 30 --out admit.csv --connect /dev/ttyUSB0\n\n\
Columns: time_ns, cpu, hook, source (l1, global, miss, default, fallback, explore), program (0: the\n\
default policy; 4294967295: a program replaced since), generation, the hook's four fields by name,\n\
decision, and four outcome columns whose names depend on the hook (sched_slice: ran_us, work,\n\
waited_us, latency_behind_us; sched_cpu: migrated, queued_ahead; mcp_admit: admitted).\n\
The rings hold 2048 records per core; records overwritten before they were read are counted as\n\
dropped (printed at the end): read more often (shorter --run-ms) if that number matters.")]
pub struct TraceArgs {
    /// The decision hook to trace: sched_slice, sched_cpu or mcp_admit.
    #[arg(long, default_value = "sched_slice")]
    pub hook: String,
    /// Randomise the hook's decisions within its safe bounds while tracing (sched_slice only),
    /// to learn a policy from.
    #[arg(long)]
    pub explore: bool,
    /// Seed of the kernel's exploration generators, for repeatable runs.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Run the synthetic workload for this many milliseconds per run while tracing.
    #[arg(long, value_name = "MS")]
    pub run_ms: Option<u64>,
    /// Workload mixes to run, comma-separated: mixed, latency, cpu_bound, bursty.
    #[arg(long, value_delimiter = ',', default_value = "mixed")]
    pub mix: Vec<String>,
    /// Workload runs per mix (with --run-ms).
    #[arg(long, default_value_t = 1)]
    pub runs: u32,
    /// Without --run-ms: how long to collect whatever the kernel does, in seconds.
    #[arg(long, default_value_t = 5.0, value_name = "S")]
    pub seconds: f64,
    /// The CSV file to write.
    #[arg(long, short)]
    pub out: PathBuf,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

/// A decision hook by name.
pub fn decision_hook(name: &str) -> Result<&'static Hook> {
    HOOKS
        .iter()
        .find(|h| h.name == name)
        .with_context(|| format!("unknown hook {name:?}; decision hooks are sched_slice, sched_cpu and mcp_admit"))
}

/// Calls a kernel tool; its JSON and its binary attachment. A tool error is an error.
pub fn call(client: &mut Client, tool: &str, args: Value) -> Result<(Value, Option<Vec<u8>>)> {
    let result = client.call_tool(tool, &args.to_string(), None).with_context(|| format!("calling {tool}"))?;
    if result.is_error {
        let text: Vec<String> = result
            .content
            .iter()
            .filter_map(|c| match c {
                Content::Text(t) | Content::Json(t) => Some(t.clone()),
                Content::Bytes { .. } | Content::Reply(_) => None,
            })
            .collect();
        bail!("the kernel refused {tool}: {}", text.join(" "));
    }
    let bytes = result.content.iter().find_map(|c| match c {
        Content::Bytes { data, .. } => Some(data.clone()),
        _ => None,
    });
    Ok((content_json(&result.content), bytes))
}

/// Switches the trace of `hook`.
pub fn set_trace(client: &mut Client, hook: &Hook, on: bool, explore: bool, seed: Option<u64>) -> Result<Value> {
    let mut args = json!({"hook": hook.name, "on": on, "explore": explore});
    if let Some(seed) = seed {
        args["seed"] = json!(seed);
    }
    Ok(call(client, "trace_set", args)?.0)
}

/// Reads every unread record; the last `trace_read` counters.
pub fn drain(client: &mut Client) -> Result<(Vec<Record>, Value)> {
    let mut records = Vec::new();
    loop {
        let (summary, bytes) = call(client, "trace_read", json!({"max": TRACE_READ_MAX}))?;
        let bytes = bytes.unwrap_or_default();
        if bytes.len() % RECORD_BYTES != 0 {
            bail!("trace_read returned {} bytes, not a whole number of {RECORD_BYTES}-byte records", bytes.len());
        }
        let got = bytes.len() / RECORD_BYTES;
        records.extend(bytes.chunks_exact(RECORD_BYTES).filter_map(Record::read_le));
        if got < TRACE_READ_MAX {
            return Ok((records, summary["counters"].clone()));
        }
    }
}

/// Runs the synthetic workload; its report.
pub fn workload(client: &mut Client, ms: u64, mix: &str) -> Result<Value> {
    Ok(call(client, "workload_run", json!({"ms": ms, "mix": mix}))?.0)
}

/// What a collection gathered.
pub struct Collected {
    pub records: Vec<Record>,
    /// The kernel's trace counters at the end (written, read, dropped, nested).
    pub counters: Value,
    /// The workload reports, one per run.
    pub reports: Vec<Value>,
}

/// Traces `hook` (exploring if asked) across `runs` workload runs of each mix, draining the
/// rings after every run, and switches the trace off again, also on failure.
#[allow(clippy::too_many_arguments)]
pub fn collect(
    client: &mut Client,
    hook: &Hook,
    explore: bool,
    seed: Option<u64>,
    mixes: &[String],
    runs: u32,
    run_ms: u64,
    progress: &dyn Fn(&str),
) -> Result<Collected> {
    set_trace(client, hook, true, explore, seed)?;
    let result = (|| {
        // Records left from earlier tracing are not this collection's.
        drain(client)?;
        let mut records = Vec::new();
        let mut reports = Vec::new();
        for mix in mixes {
            for run in 1..=runs {
                progress(&format!("{mix} run {run}/{runs}: {run_ms} ms of workload"));
                reports.push(workload(client, run_ms, mix)?);
                records.extend(drain(client)?.0);
            }
        }
        Ok::<_, anyhow::Error>((records, reports))
    })();
    let off = set_trace(client, hook, false, false, None);
    let (records, reports) = result?;
    let counters = off?["counters"].clone();
    Ok(Collected { records: records.into_iter().filter(|r| u32::from(r.hook) == hook.id).collect(), counters, reports })
}

/// The CSV header for `hook`'s records.
pub fn csv_header(hook: &Hook) -> String {
    let fields =
        hook.fields.iter().enumerate().map(|(i, f)| if f.is_empty() { format!("field{i}") } else { f.to_string() });
    let mut columns: Vec<String> =
        ["time_ns", "cpu", "hook", "source", "program", "generation"].iter().map(|s| s.to_string()).collect();
    columns.extend(fields);
    columns.push("decision".into());
    columns.extend(outcome_names(hook.id as u8).iter().map(|s| s.to_string()));
    columns.join(",")
}

/// One CSV row.
pub fn csv_row(r: &Record) -> String {
    let hook = HOOKS.iter().find(|h| h.id == u32::from(r.hook)).map_or("unknown", |h| h.name);
    let source = Outcome::NAMES.get(usize::from(r.source)).copied().unwrap_or("unknown");
    format!(
        "{},{},{hook},{source},{},{},{},{},{},{},{},{},{},{},{}",
        r.time_ns,
        r.cpu,
        r.program,
        r.generation,
        r.fields[0],
        r.fields[1],
        r.fields[2],
        r.fields[3],
        r.decision,
        r.outcome[0],
        r.outcome[1],
        r.outcome[2],
        r.outcome[3]
    )
}

/// Writes `records` of `hook` as CSV, through a temporary file (a failed write leaves no
/// half-written file under `path`).
pub fn write_csv(path: &Path, hook: &Hook, records: &[Record]) -> Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let write = || -> Result<()> {
        let mut out = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
        writeln!(out, "{}", csv_header(hook))?;
        for r in records {
            writeln!(out, "{}", csv_row(r))?;
        }
        out.flush()?;
        Ok(())
    };
    if let Err(e) = write() {
        let _ = std::fs::remove_file(&tmp);
        return Err(e.context(format!("writing {}", path.display())));
    }
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
}

/// Reads records back from a CSV file [`write_csv`] wrote.
pub fn read_csv(path: &Path) -> Result<Vec<Record>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut lines = text.lines();
    let header = lines.next().with_context(|| format!("{} is empty", path.display()))?;
    if !header.starts_with("time_ns,cpu,hook,source,program,generation,") {
        bail!("{} is not a kingly trace CSV (its header is {header:?})", path.display());
    }
    lines
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| parse_row(line).with_context(|| format!("{} line {}", path.display(), i + 2)))
        .collect()
}

fn parse_row(line: &str) -> Result<Record> {
    let cells: Vec<&str> = line.split(',').collect();
    if cells.len() != 15 {
        bail!("{} columns, expected 15", cells.len());
    }
    let n = |i: usize| -> Result<u64> { cells[i].parse().with_context(|| format!("column {}: {:?}", i + 1, cells[i])) };
    let small =
        |i: usize| -> Result<u32> { u32::try_from(n(i)?).with_context(|| format!("column {} too large", i + 1)) };
    let hook = HOOKS.iter().find(|h| h.name == cells[2]).with_context(|| format!("unknown hook {:?}", cells[2]))?;
    let source =
        Outcome::NAMES.iter().position(|s| *s == cells[3]).with_context(|| format!("unknown source {:?}", cells[3]))?;
    Ok(Record {
        time_ns: n(0)?,
        cpu: u8::try_from(n(1)?).context("cpu too large")?,
        hook: hook.id as u8,
        source: source as u8,
        program: small(4)?,
        generation: small(5)?,
        fields: [n(6)?, n(7)?, n(8)?, n(9)?],
        decision: n(10)?,
        outcome: [small(11)?, small(12)?, small(13)?, small(14)?],
    })
}

/// Runs `kingly trace`.
pub fn run(args: &TraceArgs) -> Result<i32> {
    let hook = decision_hook(&args.hook)?;
    if args.explore && hook.id != kingly_bpf::hooks::SCHED_SLICE.id {
        bail!("--explore is for sched_slice only: {} has no safe range to explore", hook.name);
    }
    for mix in &args.mix {
        if kingly_proto::contract::Mix::by_name(mix).is_none() {
            bail!("unknown mix {mix:?}; mixes are {}", kingly_proto::contract::Mix::NAMES.join(", "));
        }
    }
    if !(args.seconds.is_finite() && args.seconds > 0.0) {
        bail!("--seconds must be a positive number");
    }
    let mut client = args.connect.client()?;
    let progress = |text: &str| eprintln!("trace: {text}");
    let collected = match args.run_ms {
        Some(ms) => collect(&mut client, hook, args.explore, args.seed, &args.mix, args.runs.max(1), ms, &progress)?,
        None => {
            set_trace(&mut client, hook, true, args.explore, args.seed)?;
            let mut records = Vec::new();
            let until = Instant::now() + Duration::from_secs_f64(args.seconds);
            let polled = (|| {
                while Instant::now() < until {
                    records.extend(drain(&mut client)?.0);
                    std::thread::sleep(Duration::from_millis(200));
                }
                records.extend(drain(&mut client)?.0);
                Ok::<_, anyhow::Error>(())
            })();
            let off = set_trace(&mut client, hook, false, false, None);
            polled?;
            let counters = off?["counters"].clone();
            let records = records.into_iter().filter(|r| u32::from(r.hook) == hook.id).collect();
            Collected { records, counters, reports: Vec::new() }
        }
    };
    write_csv(&args.out, hook, &collected.records)?;
    eprintln!(
        "trace: wrote {} {} records to {} (kernel counters: {})",
        collected.records.len(),
        hook.name,
        args.out.display(),
        collected.counters
    );
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_round_trips() {
        let records = vec![
            Record {
                time_ns: 12,
                hook: 0,
                cpu: 3,
                source: Outcome::Explore as u8,
                program: 0,
                generation: 4,
                fields: [2, 9, 0, 1],
                decision: 4000,
                outcome: [3990, 0, 12, 2000],
            },
            Record { source: Outcome::L1 as u8, program: u32::MAX, ..Default::default() },
        ];
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv");
        write_csv(&path, &kingly_bpf::hooks::SCHED_SLICE, &records).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with(
            "time_ns,cpu,hook,source,program,generation,class,task,nice,runnable,decision,ran_us,work,waited_us,latency_behind_us\n"
        ));
        assert!(text.contains(",explore,"));
        assert_eq!(read_csv(&path).unwrap(), records);
    }

    #[test]
    fn bad_csv_is_refused_with_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv");
        std::fs::write(&path, "a,b\n").unwrap();
        assert!(read_csv(&path).unwrap_err().to_string().contains("not a kingly trace CSV"));
        let header = csv_header(&kingly_bpf::hooks::SCHED_SLICE);
        std::fs::write(&path, format!("{header}\n1,0,sched_slice,l1,0,0,1,2,3,4,5,6,7,8\n")).unwrap();
        let err = format!("{:#}", read_csv(&path).unwrap_err());
        assert!(err.contains("line 2") && err.contains("14 columns"), "{err}");
        std::fs::write(&path, format!("{header}\n1,0,sched_slice,l1,0,0,1,2,3,4,5,6,7,8,x\n")).unwrap();
        assert!(format!("{:#}", read_csv(&path).unwrap_err()).contains("column 15"));
    }
}
