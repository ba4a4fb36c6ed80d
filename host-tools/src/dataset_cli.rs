//! `kingly dataset`: the coder's attempt logs and task sets → fine-tuning data (the
//! `kingly-coder` crate's [`kingly_coder::dataset`] does the work; this is its command line).

use std::path::PathBuf;

use anyhow::{bail, Result};
use kingly_coder::dataset::{self, Options};

/// `kingly dataset --help`: what the command reads, what it writes and which promises the
/// records keep (the subcommand's doc line in main.rs is the short help).
pub const LONG_ABOUT: &str = "Turn coder attempt logs into fine-tuning data.\n\n\
Every `kingly code` run appends each candidate program to an attempt log (OUT/attempts.jsonl, \
OUT being `kingly code --out`, default target/kingly-code): its source, its assembly, and what the \
verifier, the examples and the final checks said of it. This command joins those lines with the \
task files the runs used and writes, into --out:\n\n\
- sft-train.jsonl, sft-heldout.jsonl: chat records {\"messages\": [system, user, assistant]}, \
the format TRL's SFTTrainer reads;\n\
- dpo-train.jsonl, dpo-heldout.jsonl: preference pairs {\"prompt\", \"chosen\", \"rejected\"} in \
TRL's conversational DPO format, with `reason` and `rejected_stage`;\n\
- data_card.json, DATA_CARD.md: counts per split and format, the sources and their licences, and \
what was left out and why.\n\n\
The user turn is the prompt the coder's `openai` backend sends for that task. An assistant turn \
(and a `chosen` program) is only ever a program the coder verified, tested and chose as `solved`, \
re-checked here on every example of the task file and its reference examples. A `rejected` program \
is one the verifier refused, that failed an example, or that the re-check proved wrong; `reason` \
keeps why. Programs appear in each form the log has: `asm` (kingly-bpf assembly), `dsl` (the \
synthesizer's notation), `c`.\n\n\
Tasks, never single examples, are split: a hash of the description decides, so a held-out task \
shows nothing of itself in training. Output files are replaced only once all are written.";

/// `kingly dataset`'s options.
#[derive(clap::Args, Debug)]
#[command(after_help = "Example:\n  \
kingly code --eval tasks/coder-fresh --out target/runs/fresh\n  \
kingly dataset --logs target/runs --tasks tasks/coder-fresh --out target/dataset\n  \
python -c 'import datasets; print(datasets.load_dataset(\"json\", data_files=\"target/dataset/sft-train.jsonl\"))'")]
pub struct DatasetArgs {
    /// Attempt logs: `attempts.jsonl` files, or directories searched recursively for them.
    #[arg(long, required = true, num_args = 1.., value_name = "PATH")]
    pub logs: Vec<PathBuf>,
    /// Task set directories the runs used (every `*.toml` in each), e.g. tasks/coder.
    #[arg(long, required = true, num_args = 1.., value_name = "DIR")]
    pub tasks: Vec<PathBuf>,
    /// Where the JSONL files and the data card go.
    #[arg(long, default_value = "target/dataset", value_name = "DIR")]
    pub out: PathBuf,
    /// Percent of tasks held out for evaluation (0-100).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u8).range(0..=100))]
    pub heldout_percent: u8,
}

pub fn run(args: &DatasetArgs) -> Result<i32> {
    let options = Options {
        logs: args.logs.clone(),
        task_sets: args.tasks.clone(),
        heldout_percent: args.heldout_percent,
        work_dir: std::env::temp_dir().join(format!("kingly-dataset-{}", std::process::id())),
    };
    let built = dataset::build(&options)?;
    let _ = std::fs::remove_dir_all(&options.work_dir);
    if built.sft.is_empty() {
        bail!(
            "no program in these logs was chosen as `solved` and passed the re-check, so there is nothing to \
             train on: run `kingly code --eval` on a task set the coder solves (see the data card's reasons: {})",
            serde_json::to_string(&built.card.left_out)?
        );
    }
    let files = dataset::write(&built, &args.out)?;
    for f in &files {
        eprintln!("wrote {}", f.display());
    }
    println!("{}", dataset::summary(&built));
    Ok(0)
}
