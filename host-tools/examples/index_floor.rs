//! What a whole-tree index costs, stage by stage, measured in one run against tantivy alone.
//!
//! `kingly rag index` reads, chunks (tree-sitter) and tokenizes (whole identifiers and their
//! parts) every file. This example times the same files through cheaper pipelines, so the cost
//! of each stage is a difference between two rows of one run:
//!
//! 1. tantivy alone: one document per file, tantivy's default tokenizer;
//! 2. the same with Kingly's code tokenizer;
//! 3. Kingly's tokenizer over 30-line windows (a document per window, path and line stored);
//! 4. Kingly's chunking alone (tree-sitter and line windows), no index;
//! 5. Kingly's chunks as documents with the code tokenizer: path, text and line, but not the
//!    symbol, kind and end-line fields, the generated files' names or the fix history that
//!    `kingly rag index` adds.
//!
//! Every row reads in parallel on all cores and leaves out the generated files over 2 MiB
//! (whose text `kingly rag index` leaves out too; it keeps their names). Run: `cargo run --release -p kingly --example index_floor --
//! DIR` (`scripts/rag-bench.sh` does, after its timed index).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use anyhow::{Context, Result};
use kingly::rag::chunk::{self, FileType};
use kingly::rag::index::GENERATED_FILE_BYTES;
use kingly::rag::source;
use kingly::rag::tokenize::{CodeTokenizer, CODE_TOKENIZER};
use rayon::prelude::*;
use tantivy::schema::{Field, IndexRecordOption, Schema, TextFieldIndexing, TextOptions, STORED, STRING, TEXT};
use tantivy::{doc, Index, IndexWriter, TantivyDocument};

// The allocator `kingly` itself uses, so the rows compare pipelines, not allocators.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const WINDOW_LINES: usize = 30;

#[derive(Clone, Copy, PartialEq)]
enum Stage {
    TantivyAlone,
    CodeTokenizer,
    Windows,
    ChunkOnly,
    Chunks,
}

impl Stage {
    fn label(self) -> &'static str {
        match self {
            Stage::TantivyAlone => "tantivy alone (a document per file, default tokenizer)",
            Stage::CodeTokenizer => "+ Kingly's code tokenizer",
            Stage::Windows => "+ 30-line windows as documents",
            Stage::ChunkOnly => "Kingly's chunking alone (tree-sitter), no index",
            Stage::Chunks => "Kingly's chunks as documents, code tokenizer",
        }
    }
}

struct Fields {
    path: Field,
    path_text: Field,
    body: Field,
    start_line: Field,
}

fn main() -> Result<()> {
    let root = std::env::args().nth(1).map(PathBuf::from).context("usage: index_floor KERNEL_TREE_DIR")?;
    let files = source::list_files(&root)?;
    let scratch = tempfile::tempdir()?;
    println!("{} files under {}", files.len(), root.display());
    for stage in [Stage::TantivyAlone, Stage::CodeTokenizer, Stage::Windows, Stage::ChunkOnly, Stage::Chunks] {
        let started = Instant::now();
        let documents = run(stage, &root, &files, &scratch.path().join("index"))?;
        println!("{:>7.2} s  {:>9} documents  {}", started.elapsed().as_secs_f64(), documents, stage.label());
    }
    Ok(())
}

/// Runs one stage over every file; returns how many documents (or chunks) it made.
fn run(stage: Stage, root: &Path, files: &[source::SourceFile], dir: &Path) -> Result<u64> {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir)?;
    let code = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default().set_tokenizer(CODE_TOKENIZER).set_index_option(IndexRecordOption::WithFreqs),
    );
    let mut builder = Schema::builder();
    let fields = Fields {
        path: builder.add_text_field("path", STRING | STORED),
        path_text: builder.add_text_field("path_text", code.clone()),
        body: if stage == Stage::TantivyAlone {
            builder.add_text_field("body", TEXT)
        } else {
            builder.add_text_field("body", code)
        },
        start_line: builder.add_u64_field("start_line", STORED),
    };
    let index = Index::create_in_dir(dir, builder.build())?;
    index.tokenizers().register(CODE_TOKENIZER, CodeTokenizer);
    // The chunking-only row makes no writer: its time is chunking and nothing else.
    let mut writer: Option<IndexWriter<TantivyDocument>> = None;
    if stage != Stage::ChunkOnly {
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        let new = writer.insert(index.writer_with_num_threads(threads, 1_536 * 1024 * 1024)?);
        new.set_merge_policy(Box::new(tantivy::indexer::NoMergePolicy));
    }
    let documents = AtomicU64::new(0);
    let add = |document: TantivyDocument| {
        documents.fetch_add(1, Ordering::Relaxed);
        if let Some(writer) = &writer {
            // The only error is a closed channel, which `commit` reports.
            let _ = writer.add_document(document);
        }
    };
    files.par_iter().for_each_init(chunk::c_parser, |parser, file| {
        let Ok(bytes) = std::fs::read(root.join(&file.path)) else { return };
        if bytes.len() > GENERATED_FILE_BYTES {
            return;
        }
        let text = String::from_utf8_lossy(&bytes);
        match stage {
            Stage::TantivyAlone | Stage::CodeTokenizer => {
                add(doc!(fields.path => file.path.as_str(), fields.body => text.as_ref()));
            }
            Stage::Windows => {
                let lines: Vec<&str> = text.split_inclusive('\n').collect();
                for (at, window) in lines.chunks(WINDOW_LINES).enumerate() {
                    add(part(&fields, &file.path, &window.concat(), at * WINDOW_LINES + 1));
                }
            }
            Stage::ChunkOnly | Stage::Chunks => {
                let file_type = FileType::of(&file.path).unwrap_or(FileType::C);
                let chunks = chunk::chunk_file(file_type, &text, parser);
                if stage == Stage::ChunkOnly {
                    documents.fetch_add(chunks.len() as u64, Ordering::Relaxed);
                } else {
                    for chunk in chunks {
                        add(part(&fields, &file.path, chunk.text, chunk.start_line as usize));
                    }
                }
            }
        }
    });
    if let Some(mut writer) = writer {
        writer.commit()?;
    }
    Ok(documents.into_inner())
}

/// A document for part of a file: its path (stored, and tokenized), text and first line.
fn part(fields: &Fields, path: &str, text: &str, start_line: usize) -> TantivyDocument {
    doc!(
        fields.path => path,
        fields.path_text => path,
        fields.body => text,
        fields.start_line => start_line as u64,
    )
}
