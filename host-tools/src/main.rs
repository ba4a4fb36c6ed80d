//! `kingly`: build, boot and talk to the Kingly kernel.
#![forbid(unsafe_code)]

use clap::{Parser, Subcommand};
use std::process::ExitCode;

use kingly::{boot, bpf_cli, call, code_cli, dataset_cli, learn, mcp, push, trace_cli};

/// mimalloc: the RAG indexer allocates per chunk and per token on every core, where glibc's
/// malloc and free took about 8% of the CPU.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Kingly host tool: build and boot the kernel under QEMU, make SD card images, push verified
/// eBPF extensions, and serve the kernel to AI clients over MCP.
#[derive(Parser, Debug)]
#[command(name = "kingly", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Build the kernel, run it under QEMU and stream its UART.
    Boot(boot::BootArgs),
    /// Make a flashable SD card image for the Raspberry Pi 4 and/or 5, optionally write it to a card.
    Image(kingly::image::ImageArgs),
    /// Call one of a running kernel's tools and print the result as JSON.
    Call(call::CallArgs),
    /// Serve a kernel to AI clients as a standard MCP server on stdio.
    Mcp(mcp::McpArgs),
    /// Assemble, disassemble, verify, run and test eBPF programs.
    Bpf(bpf_cli::BpfArgs),
    /// Index Linux kernel knowledge (source, docs, fix history) and query it.
    Rag(kingly::rag::RagArgs),
    /// Verify, sign, upload and attach an eBPF agent to a running kernel.
    Push(push::PushArgs),
    /// List the agents a running kernel has loaded, with their statistics; `agents dump` prints one's code.
    Agents(push::AgentsArgs),
    /// Detach an agent from its hooks (or one hook); it stays loaded.
    Detach(push::DetachArgs),
    /// Unload an agent (refused while it is attached, unless --force detaches it first).
    Unload(push::UnloadArgs),
    /// Make the Ed25519 key pair that signs agents (its public half is built into the kernel).
    Keygen(push::KeygenArgs),
    /// Turn a task in English (with examples) into a verified eBPF extension; --eval scores a task set.
    Code(CodeCommand),
    /// Record a running kernel's decisions (context, decision, cache outcome, provenance, what
    /// followed) to a CSV file.
    Trace(trace_cli::TraceArgs),
    /// Learn a sched_slice policy from explored decisions, compile it to a verified program;
    /// --push loads it, --eval compares it with the default and a hand-written policy.
    Learn(learn::LearnArgs),
    /// Turn coder attempt logs and task sets into fine-tuning data (SFT chat records, DPO pairs).
    #[command(long_about = dataset_cli::LONG_ABOUT)]
    Dataset(dataset_cli::DatasetArgs),
    /// LoRA fine-tune a GGUF chat model on `kingly dataset`'s SFT records (CPU, candle) and write the merged GGUF.
    Finetune(kingly::finetune::FinetuneArgs),
}

/// `kingly code`'s options plus the RAG index it shares with `rag` and `mcp`.
#[derive(clap::Args, Debug)]
struct CodeCommand {
    #[command(flatten)]
    args: code_cli::CodeArgs,
    /// The RAG index the openai backend draws passages from [default: as `kingly rag index`:
    /// $KINGLY_RAG_INDEX, else $XDG_CACHE_HOME/kingly/rag, else ~/.cache/kingly/rag].
    #[arg(long, value_name = "DIR")]
    rag_index: Option<std::path::PathBuf>,
}

/// `kingly … | head`: when the reader of stdout goes away, `println!` panics on EPIPE (Rust
/// ignores SIGPIPE, and restoring it takes unsafe code). A reader that stopped reading wanted no
/// more, so that panic ends kingly quietly with status 0; every other panic is reported as usual.
fn exit_quietly_on_a_closed_stdout() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload.downcast_ref::<String>().map(String::as_str).or(payload.downcast_ref::<&str>().copied());
        if message.is_some_and(|m| {
            m.starts_with("failed printing to stdout") && (m.contains("Broken pipe") || m.contains("(os error 32)"))
        }) {
            std::process::exit(0);
        }
        report(info);
    }));
}

impl Command {
    /// Whether the command was given `--json`. The agent commands print their own errors as
    /// JSON (`push::finish`); for the others, an error is printed here as the same JSON object
    /// on stdout, so a `--json` caller always gets JSON.
    fn json(&self) -> bool {
        use kingly::rag::RagCommand;
        match self {
            Command::Code(code) => code.args.json,
            Command::Rag(rag) => match &rag.command {
                RagCommand::Query(args) => args.json,
                RagCommand::Catalog(args) => args.json,
                RagCommand::Eval(args) => args.json,
                RagCommand::Index(_) => false,
            },
            _ => false,
        }
    }
}

fn main() -> ExitCode {
    exit_quietly_on_a_closed_stdout();
    let cli = Cli::parse();
    let json = cli.command.json();
    let result = match cli.command {
        Command::Boot(args) => boot::run(&args),
        Command::Image(args) => kingly::image::run(&args),
        Command::Call(args) => call::run(&args),
        Command::Mcp(args) => mcp::run(&args),
        Command::Bpf(args) => bpf_cli::run(args),
        Command::Rag(args) => kingly::rag::run(&args),
        Command::Push(args) => push::run_push(&args),
        Command::Agents(args) => push::run_agents(&args),
        Command::Detach(args) => push::run_detach(&args),
        Command::Unload(args) => push::run_unload(&args),
        Command::Keygen(args) => push::run_keygen(&args),
        Command::Code(code) => {
            if let Some(dir) = code.rag_index {
                kingly::rag::set_index_dir(dir);
            }
            code_cli::run(&code.args)
        }
        Command::Dataset(args) => dataset_cli::run(&args),
        Command::Trace(args) => trace_cli::run(&args),
        Command::Learn(args) => learn::run(&args),
        Command::Finetune(args) => kingly::finetune::run(&args),
    };
    match result {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        Err(error) if json => {
            println!("{}", push::error_json(&error));
            ExitCode::from(u8::try_from(push::error_status(&error).0).unwrap_or(1))
        }
        Err(error) => {
            eprintln!("kingly: error: {error:#}");
            ExitCode::from(1)
        }
    }
}
