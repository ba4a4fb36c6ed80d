//! Building and updating the BM25 index (tantivy) over chunks of a kernel tree.
//!
//! Files are read and chunked on a rayon pool and handed straight to tantivy's indexing
//! threads; the chunk text is indexed but not stored (hits read their lines back from the
//! tree), which halves the write volume. A manifest of (size, mtime) per file lets a re-index
//! touch only what changed.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use tantivy::schema::{Field, IndexRecordOption, Schema, TextFieldIndexing, TextOptions, STORED, STRING};
use tantivy::{doc, Index, IndexWriter, TantivyDocument, Term};

use super::cards::{self, Card, CardContext};
use super::chunk::{self, Chunk, ChunkKind, FileType};
use super::history::{self, FixEntry};
use super::source::{self, SourceFile};
use super::tokenize::{CodeTokenizer, CODE_TOKENIZER};

/// Bumped whenever the schema or chunking changes; an older index is rebuilt from scratch.
pub const FORMAT_VERSION: u32 = 5;
const META_FILE: &str = "kingly-rag.json";
const MANIFEST_FILE: &str = "manifest.json";
const TANTIVY_DIR: &str = "bm25";
/// Path prefix of documents that come from fix history rather than the tree.
pub const HISTORY_PREFIX: &str = "history:";
/// Manifest key of the Makefile/Kconfig fingerprint the cards were built from.
const CARDS_STAMP_KEY: &str = "cards:stamp";

/// The index's fields.
#[derive(Clone, Copy, Debug)]
pub struct Fields {
    /// The path, tokenized (for `kernel/bpf` in a query).
    pub path: Field,
    /// The path verbatim: stored, and the key for deleting a file's chunks.
    pub path_exact: Field,
    pub symbol: Field,
    pub kind: Field,
    pub text: Field,
    pub start_line: Field,
    pub end_line: Field,
    /// Stored text for history entries, which have no file to read back.
    pub body: Field,
}

impl Fields {
    fn schema() -> (Schema, Fields) {
        let mut builder = Schema::builder();
        let code = |stored: bool| {
            let indexing = TextFieldIndexing::default()
                .set_tokenizer(CODE_TOKENIZER)
                .set_index_option(IndexRecordOption::WithFreqs);
            let options = TextOptions::default().set_indexing_options(indexing);
            if stored {
                options.set_stored()
            } else {
                options
            }
        };
        let fields = Fields {
            path: builder.add_text_field("path", code(false)),
            path_exact: builder.add_text_field("path_exact", STRING | STORED),
            symbol: builder.add_text_field("symbol", code(true)),
            kind: builder.add_text_field("kind", STRING | STORED),
            text: builder.add_text_field("text", code(false)),
            start_line: builder.add_u64_field("start_line", STORED),
            end_line: builder.add_u64_field("end_line", STORED),
            body: builder.add_text_field("body", STORED),
        };
        (builder.build(), fields)
    }

    pub fn from_schema(schema: &Schema) -> Result<Fields> {
        let get = |name: &str| schema.get_field(name).with_context(|| format!("index lacks field {name}"));
        Ok(Fields {
            path: get("path")?,
            path_exact: get("path_exact")?,
            symbol: get("symbol")?,
            kind: get("kind")?,
            text: get("text")?,
            start_line: get("start_line")?,
            end_line: get("end_line")?,
            body: get("body")?,
        })
    }
}

/// What `kingly-rag.json` records about an index.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct IndexMeta {
    pub format: u32,
    /// The tree the paths are relative to.
    pub source_root: PathBuf,
    pub files: usize,
    pub chunks: u64,
    pub fixes: usize,
}

impl IndexMeta {
    pub fn load(index_dir: &Path) -> Result<IndexMeta> {
        let path = index_dir.join(META_FILE);
        let text = fs::read_to_string(&path).with_context(|| super::no_index_message(index_dir))?;
        let meta: IndexMeta = serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        if meta.format != FORMAT_VERSION {
            bail!(
                "index at {} has format {} (want {FORMAT_VERSION}): re-run `kingly rag index`",
                index_dir.display(),
                meta.format
            );
        }
        Ok(meta)
    }
}

/// Opens the tantivy index in `index_dir` with the code tokenizer registered.
pub fn open_tantivy(index_dir: &Path) -> Result<(Index, Fields)> {
    let index = Index::open_in_dir(index_dir.join(TANTIVY_DIR))
        .with_context(|| format!("opening the BM25 index in {}", index_dir.display()))?;
    index.tokenizers().register(CODE_TOKENIZER, CodeTokenizer);
    let fields = Fields::from_schema(&index.schema())?;
    Ok((index, fields))
}

/// Options of one `kingly rag index` run.
#[derive(Clone, Debug)]
pub struct IndexOptions {
    /// A directory or `.tar.xz`; `None` means the Debian tarball.
    pub source: Option<PathBuf>,
    pub index_dir: PathBuf,
    /// Show the progress bar (it hides itself anyway when stderr is not a terminal).
    pub progress: bool,
    /// Index the Debian changelog and `git log` fixes.
    pub history: bool,
    /// Worker threads for reading and chunking (default: all cores).
    pub threads: Option<usize>,
}

/// What an index run did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct IndexReport {
    pub source_root: PathBuf,
    pub files_total: usize,
    pub files_indexed: usize,
    pub files_unchanged: usize,
    pub files_removed: usize,
    pub chunks_added: u64,
    /// File and directory cards written by this run.
    pub cards_added: u64,
    pub bytes_read: u64,
    pub fixes: usize,
    pub seconds: f64,
}

impl IndexReport {
    pub fn files_per_second(&self) -> f64 {
        self.files_indexed as f64 / self.seconds.max(1e-9)
    }
}

type Manifest = HashMap<String, (u64, i64)>;

/// Indexes (or re-indexes) a tree. Unchanged files are skipped when a same-format index of the
/// same tree exists.
pub fn build(options: &IndexOptions) -> Result<IndexReport> {
    let started = Instant::now();
    fs::create_dir_all(&options.index_dir)
        .with_context(|| format!("creating index directory {}", options.index_dir.display()))?;
    let root = source::resolve(options.source.as_deref(), &options.index_dir)?;
    let root = root.canonicalize().unwrap_or(root);
    let files = source::list_files(&root)?;
    if files.is_empty() {
        bail!("{} holds no .c/.h/.S/.rst/.txt/Kconfig files to index", root.display());
    }

    // Read before the pass so that each file's card is made where its chunks are.
    let context = CardContext::scan(&root, &files)?;
    let previous = IndexMeta::load(&options.index_dir).ok().filter(|meta| meta.source_root == root);
    let tantivy_dir = options.index_dir.join(TANTIVY_DIR);
    let (index, fields, mut manifest) = match previous {
        Some(_) => {
            let (index, fields) = open_tantivy(&options.index_dir)?;
            let manifest: Manifest = fs::read(options.index_dir.join(MANIFEST_FILE))
                .ok()
                .and_then(|bytes| serde_json::from_slice(&bytes).ok())
                .unwrap_or_default();
            (index, fields, manifest)
        }
        None => {
            if tantivy_dir.exists() {
                fs::remove_dir_all(&tantivy_dir)?;
            }
            fs::create_dir_all(&tantivy_dir)?;
            let (schema, fields) = Fields::schema();
            let index = Index::create_in_dir(&tantivy_dir, schema)?;
            index.tokenizers().register(CODE_TOKENIZER, CodeTokenizer);
            (index, fields, Manifest::new())
        }
    };

    let threads = options.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let mut writer: IndexWriter<TantivyDocument> = index.writer_with_num_threads(threads, 1_536 * 1024 * 1024)?;
    if manifest.is_empty() {
        // A fresh build: merging segments now would only slow it down; queries span segments.
        writer.set_merge_policy(Box::new(tantivy::indexer::NoMergePolicy));
    }

    let mut report = IndexReport { source_root: root.clone(), files_total: files.len(), ..IndexReport::default() };
    // A changed Makefile or Kconfig file can change any card: every file is re-made.
    let cards_stamp = (context.stamp, 0);
    let cards_stale = manifest.get(CARDS_STAMP_KEY) != Some(&cards_stamp);
    let changed: Vec<&SourceFile> = files
        .iter()
        .filter(|file| cards_stale || manifest.get(&file.path) != Some(&(file.size_bytes, file.mtime_ns)))
        .collect();
    report.files_unchanged = files.len() - changed.len();
    let present: std::collections::HashSet<&str> = files.iter().map(|f| f.path.as_str()).collect();
    let removed: Vec<String> = manifest
        .keys()
        .filter(|path| {
            !path.starts_with(HISTORY_PREFIX) && path.as_str() != CARDS_STAMP_KEY && !present.contains(path.as_str())
        })
        .cloned()
        .collect();
    for path in &removed {
        writer.delete_term(Term::from_field_text(fields.path_exact, path));
        manifest.remove(path);
    }
    report.files_removed = removed.len();

    let bar = if options.progress { ProgressBar::new(changed.len() as u64) } else { ProgressBar::hidden() };
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} files {per_sec} {elapsed_precise} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let chunks_added = AtomicU64::new(0);
    let cards_added = AtomicU64::new(0);
    let bytes_read = AtomicU64::new(0);
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build()?;
    let is_update = !manifest.is_empty();
    pool.install(|| {
        changed.par_iter().for_each_init(chunk::c_parser, |parser, file| {
            if is_update {
                writer.delete_term(Term::from_field_text(fields.path_exact, &file.path));
            }
            if let Ok(bytes) = fs::read(root.join(&file.path)) {
                bytes_read.fetch_add(bytes.len() as u64, Ordering::Relaxed);
                let text = String::from_utf8_lossy(&bytes);
                let file_type = FileType::of(&file.path).unwrap_or(FileType::C);
                let chunks = chunk::chunk_file(file_type, &text, parser);
                chunks_added.fetch_add(chunks.len() as u64, Ordering::Relaxed);
                let index_text = bytes.len() <= GENERATED_FILE_BYTES;
                for chunk in &chunks {
                    // The only error is a closed channel, which `commit` reports below.
                    let _ = writer.add_document(chunk_document(&fields, &file.path, chunk, index_text));
                }
                let card = context.file_card(&file.path, &text, &chunks);
                let _ = writer.add_document(card_document(&fields, &card));
                cards_added.fetch_add(1, Ordering::Relaxed);
            }
            bar.inc(1);
        });
    });
    bar.finish_and_clear();
    for file in &changed {
        manifest.insert(file.path.clone(), (file.size_bytes, file.mtime_ns));
    }
    if !changed.is_empty() || !removed.is_empty() {
        // Directory cards summarise their files: re-made whenever any file changed.
        writer.delete_term(Term::from_field_text(fields.kind, cards::DIR_CARD));
        for card in context.dir_cards(&files) {
            writer.add_document(card_document(&fields, &card))?;
            cards_added.fetch_add(1, Ordering::Relaxed);
        }
    }
    manifest.insert(CARDS_STAMP_KEY.to_string(), cards_stamp);
    report.cards_added = cards_added.into_inner();
    report.files_indexed = changed.len();
    report.chunks_added = chunks_added.into_inner();
    report.bytes_read = bytes_read.into_inner();

    if options.history {
        report.fixes = index_history(&root, &writer, &fields, &mut manifest)?;
    } else {
        report.fixes = manifest.get(&format!("{HISTORY_PREFIX}count")).map_or(0, |entry| entry.0 as usize);
    }
    writer.commit().context("committing the BM25 index")?;
    writer.wait_merging_threads()?;

    let chunks_total = index.reader()?.searcher().num_docs();
    fs::write(options.index_dir.join(MANIFEST_FILE), serde_json::to_vec(&manifest)?)?;
    let meta = IndexMeta {
        format: FORMAT_VERSION,
        source_root: root,
        files: files.len(),
        chunks: chunks_total,
        fixes: report.fixes,
    };
    fs::write(options.index_dir.join(META_FILE), serde_json::to_vec_pretty(&meta)?)?;
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// Files larger than this are generated register tables (40 headers under
/// `drivers/gpu/drm/amd/include/asic_reg` and the like, a quarter of the 6.1 tree's bytes):
/// their chunks are indexed by the names they define, not by their text, which is nothing but
/// those names and numbers. Code search engines skip such files outright (zoekt's default limit
/// is 2 MiB); keeping the names means `mmGRBM_STATUS` still finds its header.
pub const GENERATED_FILE_BYTES: usize = 2 << 20;

fn chunk_document(fields: &Fields, path: &str, chunk: &Chunk, index_text: bool) -> TantivyDocument {
    doc!(
        fields.path => path,
        fields.path_exact => path,
        fields.symbol => chunk.symbol.as_str(),
        fields.kind => chunk.kind.as_str(),
        fields.text => if index_text { chunk.text } else { "" },
        fields.start_line => u64::from(chunk.start_line),
        fields.end_line => u64::from(chunk.end_line),
    )
}

fn card_document(fields: &Fields, card: &Card) -> TantivyDocument {
    doc!(
        fields.path => card.path.as_str(),
        fields.path_exact => card.path.as_str(),
        fields.symbol => card.names.as_str(),
        fields.kind => card.kind,
        fields.text => card.text.as_str(),
        fields.start_line => 1u64,
        fields.end_line => u64::from(card.end_line),
        fields.body => card.summary.as_str(),
    )
}

/// Re-indexes the fix history when its inputs changed; returns the number of fix entries.
fn index_history(
    root: &Path,
    writer: &IndexWriter<TantivyDocument>,
    fields: &Fields,
    manifest: &mut Manifest,
) -> Result<usize> {
    let stamp = history::stamp(root);
    let stamp_key = format!("{HISTORY_PREFIX}stamp");
    let count_key = format!("{HISTORY_PREFIX}count");
    if manifest.get(&stamp_key) == Some(&stamp) {
        return Ok(manifest.get(&count_key).map_or(0, |entry| entry.0 as usize));
    }
    let entries = history::collect(root)?;
    for source in history::SOURCES {
        writer.delete_term(Term::from_field_text(fields.path_exact, &format!("{HISTORY_PREFIX}{source}")));
    }
    for entry in &entries {
        writer.add_document(fix_document(fields, entry))?;
    }
    manifest.insert(stamp_key, stamp);
    manifest.insert(count_key, (entries.len() as u64, 0));
    Ok(entries.len())
}

fn fix_document(fields: &Fields, entry: &FixEntry) -> TantivyDocument {
    let path = format!("{HISTORY_PREFIX}{}", entry.source);
    doc!(
        fields.path => entry.files.join(" "),
        fields.path_exact => path,
        fields.symbol => entry.tags.join(" "),
        fields.kind => ChunkKind::Fix.as_str(),
        fields.text => format!("{}\n{}", entry.subject, entry.detail),
        fields.start_line => u64::from(entry.line),
        fields.end_line => u64::from(entry.line),
        fields.body => format!("{}\n{}", entry.subject, entry.detail),
    )
}
