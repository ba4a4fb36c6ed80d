//! Linux kernel knowledge for the coder loop: index a kernel tree, its documentation and its
//! fix history, and retrieve from them.
//!
//! The pipeline, in the order data flows:
//!
//! 1. [`source`] turns `--source` (a directory, or the Debian `linux-source-6.1` tarball) into a
//!    tree on disk and lists its indexable files.
//! 2. [`chunk`] cuts each file into functions, types, macros, documentation sections and
//!    Kconfig entries with `file:line` ranges (tree-sitter-c, line windows where it cannot parse).
//! 3. [`index`] writes the chunks to a tantivy BM25 index ([`tokenize`] keeps C identifiers
//!    whole and split), in parallel, skipping unchanged files on re-index, and in the same pass
//!    a [`cards`] document per file and directory (Kconfig help of the symbols that build it,
//!    top comment, `MODULE_DESCRIPTION`, names); [`history`] adds the Debian changelog's and
//!    `git log`'s fixes.
//! 4. [`embed`]: when the MiniLM model (all-MiniLM-L6-v2, candle) is installed, `rag index`
//!    embeds every file and directory card, cached by text hash so a re-index embeds only the
//!    cards that changed.
//! 5. [`query`] ranks chunks by BM25 and fuses them by reciprocal rank with the cards' BM25
//!    ranking and, for English questions, an exact kNN over the card vectors (so files whose
//!    words are not the question's still become candidates); [`rerank`] then has the model
//!    judge the top 50 files by their card vectors.
//! 6. [`catalog`] extracts what the coder copies from: BPF helper prototypes, locking and RCU
//!    idioms, goto-unwind error handling, each with exemplar locations.
//! 7. [`eval`] measures it all against a labelled query set and a ripgrep baseline.

pub mod cards;
pub mod catalog;
pub mod chunk;
pub mod embed;
pub mod eval;
pub mod history;
pub mod index;
pub mod query;
pub mod rerank;
pub mod source;
pub mod tokenize;

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::{Args, Subcommand};

pub use query::{query, Hit, Mode, Retriever};

/// `kingly rag`: index Linux kernel knowledge and query it.
#[derive(Args, Debug)]
pub struct RagArgs {
    #[command(subcommand)]
    pub command: RagCommand,
}

#[derive(Subcommand, Debug)]
pub enum RagCommand {
    /// Index a kernel tree (default: the Debian linux-source-6.1 tarball), its docs and fixes.
    Index(IndexArgs),
    /// Rank indexed chunks for a question or an identifier.
    Query(QueryArgs),
    /// Print an extracted knowledge catalog (BPF helpers, locking/RCU idioms, error unwinding).
    Catalog(CatalogArgs),
    /// Measure Recall@5, MRR and latency on the labelled query set, against ripgrep.
    Eval(EvalArgs),
}

#[derive(Args, Debug)]
pub struct IndexArgs {
    /// A kernel tree directory or a .tar.xz of one [default: /usr/src/linux-source-6.1.tar.xz].
    #[arg(long)]
    pub source: Option<PathBuf>,
    /// Where the index lives [default: $KINGLY_RAG_INDEX, else $XDG_CACHE_HOME/kingly/rag, else
    /// ~/.cache/kingly/rag].
    #[arg(long, visible_alias = "rag-index", value_name = "DIR")]
    pub index: Option<PathBuf>,
    /// Skip the dense vectors (by default every file and directory card is embedded with the
    /// MiniLM model when it is installed; without the model the index is BM25 only).
    #[arg(long)]
    pub no_dense: bool,
    /// Accepted for older scripts: dense vectors are the default now.
    #[arg(long, hide = true)]
    pub dense: bool,
    /// Also embed this many curated chunks (BPF, locking, RCU, mm, driver model) besides the cards.
    #[arg(long, default_value_t = 0)]
    pub dense_chunks: usize,
    /// Texts per forward pass when embedding.
    #[arg(long, default_value_t = embed::BATCH, hide = true)]
    pub embed_batch: usize,
    /// Tokens a card is cut at when embedding.
    #[arg(long, default_value_t = embed::CARD_MAX_TOKENS, hide = true)]
    pub embed_tokens: usize,
    /// Model copies embedding in parallel.
    #[arg(long, default_value_t = embed::EMBED_WORKERS, hide = true)]
    pub embed_workers: usize,
    /// Instead of indexing, measure embedding throughput on a sample of the existing index's
    /// cards, for each batch:tokens:workers setting given (comma-separated).
    #[arg(long, value_delimiter = ',', hide = true)]
    pub embed_bench: Vec<String>,
    /// Cards embedded per `--embed-bench` setting.
    #[arg(long, default_value_t = 512, hide = true)]
    pub embed_sample: usize,
    /// Skip the Debian changelog and git history.
    #[arg(long)]
    pub no_history: bool,
    /// Reading/chunking threads [default: all cores].
    #[arg(long)]
    pub threads: Option<usize>,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Args, Debug)]
pub struct QueryArgs {
    /// The question or identifier.
    pub text: String,
    /// Number of results.
    #[arg(short, default_value_t = 10)]
    pub k: usize,
    /// The index to search [default: as `kingly rag index`].
    #[arg(long, visible_alias = "rag-index", value_name = "DIR")]
    pub index: Option<PathBuf>,
    /// Print JSON (one array of hits) instead of text.
    #[arg(long)]
    pub json: bool,
    /// Ranking: auto (English questions: BM25 fused with the dense kNN over card vectors, then
    /// reranked by the model; identifiers: BM25), bm25 (no model), rerank or hybrid.
    #[arg(long, value_enum, default_value_t = Mode::Auto)]
    pub mode: Mode,
}

#[derive(Args, Debug)]
pub struct CatalogArgs {
    /// Which catalog.
    #[arg(value_enum)]
    pub which: catalog::Which,
    /// Kernel tree to extract from [default: the indexed tree].
    #[arg(long)]
    pub source: Option<PathBuf>,
    /// The index [default: as `kingly rag index`].
    #[arg(long, visible_alias = "rag-index", value_name = "DIR")]
    pub index: Option<PathBuf>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct EvalArgs {
    /// The index [default: as `kingly rag index`].
    #[arg(long, visible_alias = "rag-index", value_name = "DIR")]
    pub index: Option<PathBuf>,
    /// Tuning queries (TSV: kind, query, expected path prefixes separated by `|`)
    /// [default: the built-in tuning set].
    #[arg(long)]
    pub queries: Option<PathBuf>,
    /// Held-out queries, same format [default: the built-in frozen held-out set].
    #[arg(long)]
    pub heldout: Option<PathBuf>,
    /// Second held-out set, same format [default: the built-in frozen held-out2 set].
    #[arg(long)]
    pub heldout2: Option<PathBuf>,
    /// Skip the ripgrep baseline.
    #[arg(long)]
    pub no_baseline: bool,
    /// Timed runs of each query (latency percentiles).
    #[arg(long, default_value_t = 5)]
    pub repeats: usize,
    /// Only these sets (comma-separated: tuning, held-out, held-out2).
    #[arg(long, value_delimiter = ',')]
    pub sets: Vec<String>,
    #[arg(long)]
    pub json: bool,
}

/// This run's `--rag-index`, for commands whose index users sit elsewhere (`code`, `mcp`).
static INDEX_DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();

/// Makes `dir` the index directory of this run, ahead of `$KINGLY_RAG_INDEX` (the first call wins).
pub fn set_index_dir(dir: PathBuf) {
    let _ = INDEX_DIR.set(dir);
}

/// The one index directory `rag index`, `rag query`, `code` and `mcp` share: `--rag-index`,
/// else `$KINGLY_RAG_INDEX`, else `$XDG_CACHE_HOME/kingly/rag`, else `~/.cache/kingly/rag`.
pub fn default_index_dir() -> PathBuf {
    if let Some(dir) = INDEX_DIR.get() {
        return dir.clone();
    }
    if let Some(dir) = std::env::var_os("KINGLY_RAG_INDEX") {
        return PathBuf::from(dir);
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cache")))
        .unwrap_or_else(|| PathBuf::from(".cache"));
    cache.join("kingly").join("rag")
}

/// What to say when `index_dir` holds no index: where we looked and the command that builds
/// one there.
pub fn no_index_message(index_dir: &Path) -> String {
    let dir = index_dir.display().to_string();
    let quoted = if dir.bytes().all(|b| b.is_ascii_alphanumeric() || b"/._-~+,=:@".contains(&b)) {
        dir.clone()
    } else {
        format!("'{}'", dir.replace('\'', r"'\''"))
    };
    format!("no RAG index in {dir}: build it there with `kingly rag index --rag-index {quoted}`")
}

/// Runs `kingly rag …`; returns the process exit code.
pub fn run(args: &RagArgs) -> Result<i32> {
    match &args.command {
        RagCommand::Index(args) => run_index(args),
        RagCommand::Query(args) => run_query(args),
        RagCommand::Catalog(args) => catalog::run(args),
        RagCommand::Eval(args) => eval::run(args),
    }
}

fn run_index(args: &IndexArgs) -> Result<i32> {
    let index_dir = args.index.clone().unwrap_or_else(default_index_dir);
    if !args.embed_bench.is_empty() {
        return run_embed_bench(&index_dir, &args.embed_bench, args.embed_sample);
    }
    let options = index::IndexOptions {
        source: args.source.clone(),
        index_dir: index_dir.clone(),
        progress: !args.quiet,
        history: !args.no_history,
        threads: args.threads,
    };
    eprintln!("kingly rag: indexing into {}", index_dir.display());
    let report = index::build(&options)?;
    println!(
        "indexed {} of {} files ({} unchanged, {} removed): {} chunks, {} cards, {} fixes, {:.1} MB in {:.2} s ({:.0} files/s) into {}",
        report.files_indexed,
        report.files_total,
        report.files_unchanged,
        report.files_removed,
        report.chunks_added,
        report.cards_added,
        report.fixes,
        report.bytes_read as f64 / 1e6,
        report.seconds,
        report.files_per_second(),
        index_dir.display()
    );
    if args.no_dense {
        if !args.quiet {
            println!("dense: not built (--no-dense): BM25 and cards only");
        }
        return Ok(0);
    }
    let embedder = match embed::Embedder::load() {
        Ok(embedder) => embedder,
        Err(error) => {
            println!("dense: not built, BM25 only ({error:#})");
            return Ok(0);
        }
    };
    let options = embed::DenseOptions {
        chunk_limit: args.dense_chunks,
        batch: args.embed_batch,
        max_tokens: args.embed_tokens,
        workers: args.embed_workers,
        progress: !args.quiet,
    };
    let dense = embed::build(&report.source_root, &index_dir, &embedder, &options)?;
    println!(
        "dense: {} cards and {} chunks ({} embedded, {} cached) in {:.1} s ({:.0} texts/s embedded); whole index {:.1} s",
        dense.cards,
        dense.chunks,
        dense.embedded,
        dense.reused,
        dense.seconds,
        dense.embedded as f64 / dense.seconds.max(1e-9),
        report.seconds + dense.seconds
    );
    Ok(0)
}

fn run_embed_bench(index_dir: &Path, settings_text: &[String], sample: usize) -> Result<i32> {
    let embedder = embed::Embedder::load()?;
    let mut settings = Vec::new();
    for setting in settings_text {
        let parts: Vec<usize> = setting.split(':').map(str::parse).collect::<std::result::Result<_, _>>()?;
        let [batch, tokens, workers] = parts[..] else { anyhow::bail!("setting {setting}: want batch:tokens:workers") };
        settings.push((batch, tokens, workers));
    }
    println!("| batch | max tokens | workers | texts/s | seconds |");
    println!("| --- | --- | --- | --- | --- |");
    for (batch, tokens, workers, rate, seconds) in embed::bench(index_dir, &embedder, sample, &settings)? {
        println!("| {batch} | {tokens} | {workers} | {rate:.1} | {seconds:.1} |");
    }
    Ok(0)
}

fn run_query(args: &QueryArgs) -> Result<i32> {
    let index_dir = args.index.clone().unwrap_or_else(default_index_dir);
    let retriever = Retriever::open(&index_dir)?;
    if args.mode == Mode::Auto {
        if let Some(reason) = &retriever.dense_unavailable {
            eprintln!("kingly rag: BM25-only ({reason})");
        }
    }
    let hits = retriever.search(&args.text, args.k, args.mode)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&hits)?);
        return Ok(0);
    }
    for (rank, hit) in hits.iter().enumerate() {
        let symbol = if hit.symbol.is_empty() { String::new() } else { format!(" {}", hit.symbol) };
        println!(
            "{:>2}. {}:{}-{} [{}{}] score {:.3}",
            rank + 1,
            hit.path,
            hit.start_line,
            hit.end_line,
            hit.kind,
            symbol,
            hit.score
        );
        for line in hit.snippet.lines().take(6) {
            println!("      {line}");
        }
    }
    if hits.is_empty() {
        println!("no results");
    }
    Ok(0)
}
