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
//! 4. [`query`] ranks chunks by BM25 and fuses them by reciprocal rank with the cards' BM25
//!    ranking; for English questions [`rerank`] has all-MiniLM-L6-v2 (candle, [`embed`]) judge
//!    the top 50 files by their cards, by default whenever the model is installed (card
//!    vectors cached on disk as queries need them). `rag index --dense` embeds every card and
//!    a curated set of chunks ahead of time, for hybrid retrieval over the whole tree.
//! 5. [`catalog`] extracts what the coder copies from: BPF helper prototypes, locking and RCU
//!    idioms, goto-unwind error handling, each with exemplar locations.
//! 6. [`eval`] measures it all against a labelled query set and a ripgrep baseline.

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
    /// Also embed every card and the curated chunks with the MiniLM model (fails when the
    /// model is missing). Off by default: on the whole tree it embeds about 70,000 texts,
    /// 30-60 minutes on two cores, and its gain over BM25 + cards is not yet measured.
    #[arg(long)]
    pub dense: bool,
    /// Most curated chunks to embed (cards are all embedded).
    #[arg(long, default_value_t = embed::MAX_DENSE_CHUNKS)]
    pub dense_limit: usize,
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
    /// Ranking: auto (English questions reranked by the model when it is installed, hybrid when
    /// `rag index --dense` vectors exist), bm25, rerank or hybrid.
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
    /// Skip the ripgrep baseline.
    #[arg(long)]
    pub no_baseline: bool,
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
    if !args.dense {
        if !args.quiet {
            println!("dense: not built (BM25 and cards only); `--dense` embeds cards and curated chunks too");
        }
        return Ok(0);
    }
    match embed::Embedder::load() {
        Ok(embedder) => {
            let dense = embed::build(&report.source_root, &index_dir, &embedder, args.dense_limit, !args.quiet)?;
            println!(
                "dense: {} cards and {} chunks ({} embedded, {} cached) in {:.1} s; whole index {:.1} s",
                dense.cards,
                dense.chunks,
                dense.embedded,
                dense.reused,
                dense.seconds,
                report.seconds + dense.seconds
            );
        }
        Err(error) => return Err(error.context("--dense needs the MiniLM model (`.ci/setup` installs it)")),
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
