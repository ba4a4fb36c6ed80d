//! Answering a query: BM25 over chunks (text, symbol, path) with an exact-definition boost,
//! fused by reciprocal rank with BM25 over file and directory cards ([`super::cards`]) and,
//! when the model and vectors are there, dense MiniLM retrieval over cards and curated chunks.
//! A file's card and dense ranks lift its best chunk, so an answer is a file narrowed to the
//! function; a card whose file has no chunk among the candidates is a hit of its own.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use anyhow::Result;
use serde::Serialize;
use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, BoostQuery, Occur, Query, TermQuery};
use tantivy::schema::{IndexRecordOption, Value};
use tantivy::{Index, IndexReader, ReloadPolicy, TantivyDocument, Term};

use super::cards::any_card;
use super::embed::{self, DenseEntry, DenseIndex, Embedder};
use super::index::{self, Fields, IndexMeta, HISTORY_PREFIX};
use super::rerank::{self, CardVectors};
use super::source;
use super::tokenize;

/// Lines of a chunk shown in a hit's snippet.
const SNIPPET_LINES: usize = 12;
const SNIPPET_BYTES: usize = 800;
/// Candidates taken from each retriever before fusion and re-ranking.
const CANDIDATES: usize = 60;
/// The `k` of reciprocal rank fusion (Cormack et al. 2009 use 60).
const RRF_K: f32 = 60.0;

/// Card candidates taken before fusion.
const CARD_CANDIDATES: usize = 30;
/// Weights of the rankings in the fusion, chosen on the tuning set (`eval_queries.tsv`): cards
/// count three times a chunk (0.75 → 0.77 Recall@5 on its English questions over weight 1).
/// Queries of one or two words (`kmalloc`, `struct page`) are not fused with cards at all: their
/// BM25 definition ranking is what they want, and cards only blur it (Recall@5 1.00 → 0.83).
const CHUNK_WEIGHT: f32 = 1.0;
const CARD_WEIGHT: f32 = 3.0;
/// Fewest words of a query that is fused with cards.
const CARD_QUERY_WORDS: usize = 3;
/// Weight of the dense ranking of cards in the fusion, and how many cards it takes. Chosen on
/// the tuning set with the whole-tree card vectors mostly built (English Recall@5 with the
/// reranker after: weight 0.5, 1 and 2 and 30/60/100 candidates within two questions of each
/// other, weight 2 the lowest; reranker weight 1.5 or 2 no better).
const DENSE_WEIGHT: f32 = 1.0;
const DENSE_CANDIDATES: usize = 60;
/// Files (and fixes) among the fused candidates whose cards the model reranks. Each new one costs
/// an embedding (about 0.1 s on two busy cores), but on the tuning set 30 and 20 lose 0.02 and
/// 0.03 of English Recall@5 against 50.
const RERANK_DEPTH: usize = 50;
/// The `k` and the model's weight in the rerank fusion (the BM25 order weighs 1). Chosen on the
/// tuning set: k 5/10/30 and weight 1/2/4 move its English Recall@5 by at most 0.03, weight 4
/// loses; 100 candidates instead of 50 (with 100 cards from BM25 instead of 30) lose 0.02.
const RERANK_K: f32 = 10.0;
const RERANK_WEIGHT: f32 = 1.0;
/// Weight of a name's parts in a card's symbol field: a card lists hundreds of names, whose
/// parts (`map`, `lock`) would otherwise outweigh the words that say what the file is for.
const CARD_NAME_PART_WEIGHT: f32 = 0.3;

/// Dense pseudo-relevance feedback (off until it is shown to pay on the tuning set).
const FEEDBACK_K: usize = 0;
const FEEDBACK_WEIGHT: f32 = 0.0;

/// The fusion's weights, overridable for experiments on the tuning set through
/// `KINGLY_RAG_TUNE` (`dense_weight=2,dense_k=100`).
#[derive(Clone, Debug)]
struct Tuning {
    dense_weight: f32,
    dense_k: usize,
    card_weight: f32,
    rerank_weight: f32,
    rerank_k: f32,
    rerank_depth: usize,
    /// Pseudo-relevance feedback on the dense side: entries averaged into the query (0: off),
    /// and their weight.
    feedback_k: usize,
    feedback_weight: f32,
}

impl Tuning {
    fn from_env() -> Tuning {
        let mut tuning = Tuning {
            dense_weight: DENSE_WEIGHT,
            dense_k: DENSE_CANDIDATES,
            card_weight: CARD_WEIGHT,
            rerank_weight: RERANK_WEIGHT,
            rerank_k: RERANK_K,
            rerank_depth: RERANK_DEPTH,
            feedback_k: FEEDBACK_K,
            feedback_weight: FEEDBACK_WEIGHT,
        };
        let text = std::env::var("KINGLY_RAG_TUNE").unwrap_or_default();
        for pair in text.split(',').filter(|pair| !pair.is_empty()) {
            let Some((name, value)) = pair.split_once('=') else { continue };
            let Ok(value) = value.trim().parse::<f32>() else { continue };
            match name.trim() {
                "dense_weight" => tuning.dense_weight = value,
                "dense_k" => tuning.dense_k = value as usize,
                "card_weight" => tuning.card_weight = value,
                "rerank_weight" => tuning.rerank_weight = value,
                "rerank_k" => tuning.rerank_k = value,
                "rerank_depth" => tuning.rerank_depth = value as usize,
                "feedback_k" => tuning.feedback_k = value as usize,
                "feedback_weight" => tuning.feedback_weight = value,
                _ => {}
            }
        }
        tuning
    }
}

/// True for queries of three or more words with no identifier in them.
pub fn is_english_question(text: &str) -> bool {
    text.split_whitespace().count() >= 3 && query_identifiers(text).is_empty()
}

/// One result: where it is, what it defines, and a few of its lines.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Hit {
    /// Path relative to the indexed tree, or `history:<source>` for a fix.
    pub path: String,
    pub start_line: u32,
    pub end_line: u32,
    /// The chunk's first defined name (empty for plain line windows).
    pub symbol: String,
    pub kind: String,
    pub snippet: String,
    pub score: f32,
}

/// How results are ranked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Mode {
    /// For English questions: BM25 fused with the dense kNN over card vectors (when the index
    /// has them), then reranked by the model (when it is installed); else BM25. Identifiers: BM25.
    #[default]
    Auto,
    /// BM25 over chunks and cards only.
    Bm25,
    /// BM25, then the model reranks the top candidates' cards (needs the model).
    Rerank,
    /// BM25 fused with the dense kNN over card (and any chunk) vectors, not reranked (needs the
    /// model and the vectors).
    Hybrid,
}

/// An open index, kept open across queries (opening costs far more than a query).
pub struct Retriever {
    reader: IndexReader,
    fields: Fields,
    meta: IndexMeta,
    /// Whole-tree vectors of `rag index --dense`.
    vectors: Option<DenseIndex>,
    /// Where the model is; it is loaded on first use.
    model_dir: Option<PathBuf>,
    model: OnceLock<std::result::Result<Embedder, String>>,
    card_vectors: CardVectors,
    tuning: Tuning,
    /// Why the model is not used, when it is not.
    pub dense_unavailable: Option<String>,
}

/// Words that carry no retrieval signal in English questions.
const STOPWORDS: &[&str] = &[
    "a",
    "an",
    "the",
    "is",
    "are",
    "be",
    "to",
    "of",
    "in",
    "on",
    "for",
    "and",
    "or",
    "how",
    "what",
    "where",
    "which",
    "when",
    "why",
    "does",
    "do",
    "with",
    "by",
    "from",
    "it",
    "its",
    "that",
    "this",
    "as",
    "at",
    "can",
    "i",
    "should",
    "defined",
    "define",
    "definition",
    "declared",
    "find",
    "show",
    "me",
    "about",
    "into",
    "use",
    "used",
    "using",
];

impl Retriever {
    /// Opens the index in `index_dir`, and the dense side when its vectors and the model exist.
    pub fn open(index_dir: &Path) -> Result<Retriever> {
        let meta = IndexMeta::load(index_dir)?;
        let (index, fields): (Index, Fields) = index::open_tantivy(index_dir)?;
        let reader = index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into()?;
        let (model_dir, dense_unavailable) = match embed::find_model_dir() {
            Some(dir) if dir.join("model.safetensors").is_file() => (Some(dir), None),
            Some(dir) => (None, Some(format!("no model.safetensors in {} ({})", dir.display(), embed::MODEL_DIR_ENV))),
            None => (None, Some(embed::MODEL_MISSING.to_string())),
        };
        // Unreadable whole-tree vectors only cost the dense retrieval; the reranker still runs.
        let vectors = DenseIndex::load(index_dir).unwrap_or_else(|error| {
            eprintln!("kingly rag: dense vectors unreadable, not used: {error:#}");
            None
        });
        let card_vectors = CardVectors::load(index_dir);
        Ok(Retriever {
            reader,
            fields,
            meta,
            vectors,
            model_dir,
            model: OnceLock::new(),
            card_vectors,
            tuning: Tuning::from_env(),
            dense_unavailable,
        })
    }

    /// The model, loaded on first use; the error says why it is unavailable.
    fn model(&self) -> Result<&Embedder> {
        let Some(dir) = &self.model_dir else { anyhow::bail!("{}", embed::MODEL_MISSING) };
        self.model
            .get_or_init(|| Embedder::load_from(dir).map_err(|error| format!("{error:#}")))
            .as_ref()
            .map_err(|error| anyhow::anyhow!("loading the MiniLM model: {error}"))
    }

    /// True when the model is installed (reranking is possible).
    pub fn has_model(&self) -> bool {
        self.model_dir.is_some()
    }

    /// The tree the hits' paths are relative to.
    pub fn source_root(&self) -> &Path {
        &self.meta.source_root
    }

    /// True when whole-tree vectors and the model are both there (hybrid retrieval is possible).
    pub fn has_dense(&self) -> bool {
        self.vectors.is_some() && self.has_model()
    }

    /// The top `k` hits for `text`.
    pub fn search(&self, text: &str, k: usize, mode: Mode) -> Result<Vec<Hit>> {
        let chunks = self.bm25(text, CANDIDATES.max(k), Documents::Chunks)?;
        // Identifiers are BM25's strength and MiniLM's weakness: Auto uses the model only for
        // English questions.
        let english = is_english_question(text);
        let (use_vectors, use_rerank) = match mode {
            Mode::Bm25 => (false, false),
            // The default: English questions take the dense kNN over card vectors (when the
            // index has them) into the fusion, then the model reranks the top files.
            Mode::Auto => (english && self.has_dense(), english && self.has_model()),
            Mode::Rerank => (false, true),
            Mode::Hybrid => {
                if self.vectors.is_none() {
                    anyhow::bail!("hybrid ranking needs the dense vectors `kingly rag index` builds with the model");
                }
                (true, false)
            }
        };
        let cards = if text.split_whitespace().count() >= CARD_QUERY_WORDS {
            self.bm25(text, CARD_CANDIDATES, Documents::Cards)?
        } else {
            Vec::new()
        };
        let dense = match (&self.vectors, use_vectors) {
            (Some(vectors), true) => vectors.search_with_feedback(
                &self.model()?.embed_query(text)?,
                self.tuning.dense_k,
                self.tuning.feedback_k,
                self.tuning.feedback_weight,
            ),
            _ => Vec::new(),
        };
        let mut hits = fuse(chunks, cards, &dense, &self.tuning);
        if use_rerank {
            hits = self.rerank(text, hits)?;
        }
        hits.truncate(k);
        for hit in &mut hits {
            if hit.snippet.is_empty() {
                hit.snippet = read_snippet(&self.meta.source_root, hit);
            }
        }
        Ok(hits)
    }

    /// The first hit of each of the top [`RERANK_DEPTH`] files (and fixes) of `hits`, reordered
    /// by reciprocal rank fusion of their order with the model's similarity of their card (a
    /// fix's text) to the question; the rest of `hits` follows in its order.
    fn rerank(&self, text: &str, hits: Vec<Hit>) -> Result<Vec<Hit>> {
        let mut firsts = Vec::new();
        let mut seen = HashSet::new();
        for (i, hit) in hits.iter().enumerate() {
            if firsts.len() == self.tuning.rerank_depth {
                break;
            }
            if seen.insert(hit.path.as_str()) || hit.kind == "fix" {
                firsts.push(i);
            }
        }
        if firsts.len() < 2 {
            return Ok(hits);
        }
        let texts: Vec<String> = firsts
            .iter()
            .map(|&i| {
                let hit = &hits[i];
                let described = match hit.kind.as_str() {
                    "fix" => hit.snippet.clone(),
                    _ => match self.card_summary(&hit.path)? {
                        Some((summary, names)) => return Ok(rerank::card_text(&summary, &names)),
                        None => hit.path.clone(),
                    },
                };
                Ok(embed::card_embed_text(&described))
            })
            .collect::<Result<_>>()?;
        let model = self.model()?;
        let question = model.embed_query(text)?;
        let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
        let similarity: Vec<f32> = self
            .card_vectors
            .vectors(model, &texts, self.vectors.as_ref())?
            .iter()
            .map(|vector| vector.iter().zip(&question).map(|(a, b)| a * b).sum())
            .collect();
        let mut slots: Vec<Option<Hit>> = hits.into_iter().map(Some).collect();
        let mut out = Vec::with_capacity(slots.len());
        for (candidate, score) in rerank::fuse_ranks(&similarity, self.tuning.rerank_k, self.tuning.rerank_weight) {
            if let Some(mut hit) = slots[firsts[candidate]].take() {
                hit.score = score;
                out.push(hit);
            }
        }
        out.extend(slots.into_iter().flatten());
        Ok(out)
    }

    /// The stored summary of the card of `path` (a file, or a directory ending in `/`).
    fn card_summary(&self, path: &str) -> Result<Option<(String, String)>> {
        let searcher = self.reader.searcher();
        let exact: Box<dyn Query> =
            Box::new(TermQuery::new(Term::from_field_text(self.fields.path_exact, path), IndexRecordOption::Basic));
        let query = BooleanQuery::new(vec![(Occur::Must, exact), (Occur::Must, Box::new(any_card(self.fields.kind)))]);
        let Some((_, address)) = searcher.search(&query, &TopDocs::with_limit(1).order_by_score())?.into_iter().next()
        else {
            return Ok(None);
        };
        let document: TantivyDocument = searcher.doc(address)?;
        let text_of = |field| document.get_first(field).and_then(|v| v.as_str()).unwrap_or_default().to_string();
        Ok(Some((text_of(self.fields.body), text_of(self.fields.symbol))))
    }

    /// BM25 candidates among `documents`, re-ranked so that a chunk defining a queried
    /// identifier comes first.
    fn bm25(&self, text: &str, limit: usize, documents: Documents) -> Result<Vec<Hit>> {
        let fields = &self.fields;
        let identifiers = query_identifiers(text);
        let lowered = text.to_ascii_lowercase();
        let asks_for_fixes =
            ["fix", "cve", "regression", "use-after-free", "bug"].iter().any(|word| lowered.contains(word));
        let mut seen = HashSet::new();
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        let term = |field, token: &str, boost: f32| -> (Occur, Box<dyn Query>) {
            let query = TermQuery::new(Term::from_field_text(field, token), IndexRecordOption::WithFreqs);
            (Occur::Should, Box::new(BoostQuery::new(Box::new(query), boost)))
        };
        for token in tokenize::tokens(text) {
            if STOPWORDS.contains(&token.as_str()) || !seen.insert(token.clone()) {
                continue;
            }
            let whole = identifiers.contains(&token);
            clauses.push(term(fields.text, &token, 1.0));
            let part = if documents == Documents::Cards { CARD_NAME_PART_WEIGHT } else { 1.5 };
            clauses.push(term(fields.symbol, &token, if whole { 6.0 } else { part }));
            clauses.push(term(fields.path, &token, 1.0));
        }
        if clauses.is_empty() {
            return Ok(Vec::new());
        }
        let query = self.restrict(Box::new(BooleanQuery::new(clauses)), documents);
        self.ranked(&query, limit, &identifiers, asks_for_fixes)
    }

    /// `query` restricted to chunks (and fixes) or to cards.
    fn restrict(&self, query: Box<dyn Query>, documents: Documents) -> BooleanQuery {
        let is_card: Box<dyn Query> = Box::new(any_card(self.fields.kind));
        let occur = if documents == Documents::Cards { Occur::Must } else { Occur::MustNot };
        // The card filter only selects: it adds nothing to the score.
        let is_card: Box<dyn Query> = Box::new(BoostQuery::new(is_card, 0.0));
        BooleanQuery::new(vec![(Occur::Must, query), (occur, is_card)])
    }

    /// Chunks whose text uses every one of `identifiers` (whole), best BM25 first: where the
    /// catalogs look for exemplars of an idiom.
    pub fn using(&self, identifiers: &[&str], limit: usize) -> Result<Vec<Hit>> {
        let clauses: Vec<(Occur, Box<dyn Query>)> = identifiers
            .iter()
            .map(|identifier| {
                let term = Term::from_field_text(self.fields.text, &identifier.to_ascii_lowercase());
                (Occur::Must, Box::new(TermQuery::new(term, IndexRecordOption::WithFreqs)) as Box<dyn Query>)
            })
            .collect();
        if clauses.is_empty() {
            return Ok(Vec::new());
        }
        let query = self.restrict(Box::new(BooleanQuery::new(clauses)), Documents::Chunks);
        self.ranked(&query, limit, &[], false)
    }

    /// The top `limit` chunks for `query`, re-ranked so that a chunk defining one of
    /// `identifiers` comes first (and fixes, when `asks_for_fixes`).
    fn ranked(
        &self,
        query: &dyn Query,
        limit: usize,
        identifiers: &[String],
        asks_for_fixes: bool,
    ) -> Result<Vec<Hit>> {
        let fields = &self.fields;
        let searcher = self.reader.searcher();
        let top = searcher.search(query, &TopDocs::with_limit(limit).order_by_score())?;
        let mut hits = Vec::with_capacity(top.len());
        for (score, address) in top {
            let document: TantivyDocument = searcher.doc(address)?;
            let text_of = |field| document.get_first(field).and_then(|v| v.as_str()).unwrap_or_default().to_string();
            let number = |field| document.get_first(field).and_then(|v| v.as_u64()).unwrap_or(0) as u32;
            let symbols = text_of(fields.symbol);
            let kind = text_of(fields.kind);
            let defines =
                matches!(kind.as_str(), "function" | "struct" | "union" | "enum" | "typedef" | "macro" | "kconfig");
            let named =
                symbols.split_whitespace().position(|name| identifiers.iter().any(|id| id.eq_ignore_ascii_case(name)));
            let boost = match named {
                Some(_) if defines => 4.0,
                // Line windows are named only after column-0 definitions and `#define`s.
                Some(_) if kind == "lines" => 3.0,
                Some(_) => 1.5,
                None => 1.0,
            };
            // Show the name the query asked about when the chunk defines several.
            let symbol = match named {
                // Headings and fix tags are names in their own right, not lists.
                _ if kind == "doc" || kind == "fix" => symbols,
                Some(position) => symbols.split_whitespace().nth(position).unwrap_or_default().to_string(),
                None => symbols.split_whitespace().next().unwrap_or_default().to_string(),
            };
            let path = text_of(fields.path_exact);
            // tools/ holds userspace copies of kernel headers and selftests: the kernel's own
            // definition is the answer. A question about fixes wants the fix history first.
            // Device-tree binding headers and documents name every driver's hardware and are
            // rarely what a question about the driver wants.
            let secondary = ["tools/", "include/dt-bindings/", "Documentation/devicetree/"];
            let place = if secondary.iter().any(|prefix| path.starts_with(prefix)) { 0.5 } else { 1.0 };
            let fix = if asks_for_fixes && kind == "fix" { 2.0 } else { 1.0 };
            let boost = boost * place * fix;
            hits.push(Hit {
                path,
                start_line: number(fields.start_line),
                end_line: number(fields.end_line),
                symbol,
                snippet: text_of(fields.body),
                kind,
                score: score * boost,
            });
        }
        hits.sort_by(|a, b| b.score.total_cmp(&a.score));
        Ok(hits)
    }
}

/// Which documents a BM25 search looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Documents {
    /// Chunks and fixes.
    Chunks,
    /// File and directory cards.
    Cards,
}

/// Reciprocal rank fusion at file level: a path's card rank and best dense rank add to the
/// score of its best chunk; its other chunks keep their own chunk score, so the top ranks go to
/// different files. A card or dense entry whose path has no chunk among the candidates becomes
/// a hit of its own.
fn fuse(chunks: Vec<Hit>, cards: Vec<Hit>, dense: &[(&DenseEntry, f32)], tuning: &Tuning) -> Vec<Hit> {
    let rrf = |weight: f32, rank: usize| weight / (RRF_K + rank as f32 + 1.0);
    let mut bonus: HashMap<String, f32> = HashMap::new();
    let mut card_hits: HashMap<String, Hit> = HashMap::new();
    for (rank, card) in cards.into_iter().enumerate() {
        if !card_hits.contains_key(&card.path) {
            *bonus.entry(card.path.clone()).or_default() += rrf(tuning.card_weight, rank);
            card_hits.insert(card.path.clone(), card);
        }
    }
    let mut dense_seen = HashSet::new();
    let mut dense_hits: HashMap<String, Hit> = HashMap::new();
    for (rank, (entry, _similarity)) in dense.iter().enumerate() {
        if dense_seen.insert(entry.path.as_str()) {
            *bonus.entry(entry.path.clone()).or_default() += rrf(tuning.dense_weight, rank);
            dense_hits.insert(
                entry.path.clone(),
                Hit {
                    path: entry.path.clone(),
                    start_line: entry.start_line,
                    end_line: entry.end_line,
                    symbol: entry.symbol.split_whitespace().next().unwrap_or_default().to_string(),
                    kind: entry.kind.clone(),
                    snippet: String::new(),
                    score: 0.0,
                },
            );
        }
    }
    let mut hits = Vec::with_capacity(chunks.len() + bonus.len());
    let mut lifted = HashSet::new();
    for (rank, mut hit) in chunks.into_iter().enumerate() {
        hit.score = rrf(CHUNK_WEIGHT, rank);
        if lifted.insert(hit.path.clone()) {
            hit.score += bonus.get(&hit.path).copied().unwrap_or(0.0);
        }
        hits.push(hit);
    }
    for (path, score) in bonus {
        if lifted.contains(&path) {
            continue;
        }
        if let Some(mut hit) = card_hits.remove(&path).or_else(|| dense_hits.remove(&path)) {
            hit.score = score;
            hits.push(hit);
        }
    }
    hits.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.path.cmp(&b.path)));
    hits
}

/// Names the query asks about: identifier-shaped words, the word after `struct`/`union`/`enum`,
/// and a query that is a single word.
fn query_identifiers(text: &str) -> Vec<String> {
    let mut identifiers = tokenize::identifiers(text);
    let words: Vec<&str> = text
        .split_whitespace()
        .map(|word| word.trim_matches(|c: char| !(c.is_ascii_alphanumeric() || c == '_')))
        .filter(|word| !word.is_empty())
        .collect();
    if words.len() == 1 {
        identifiers.push(words[0].to_ascii_lowercase());
    }
    for pair in words.windows(2) {
        if matches!(pair[0], "struct" | "union" | "enum") {
            identifiers.push(pair[1].to_ascii_lowercase());
        }
    }
    identifiers.sort();
    identifiers.dedup();
    identifiers
}

/// The first lines of a hit's chunk, read back from the tree.
fn read_snippet(root: &Path, hit: &Hit) -> String {
    if hit.path.starts_with(HISTORY_PREFIX) {
        return String::new();
    }
    let Some(lines) = source::read_lines(root, &hit.path, hit.start_line, hit.end_line, SNIPPET_LINES) else {
        return String::new();
    };
    let mut snippet = String::new();
    for line in lines.lines() {
        if snippet.len() + line.len() > SNIPPET_BYTES {
            snippet.push_str("…\n");
            break;
        }
        snippet.push_str(line.trim_end());
        snippet.push('\n');
    }
    snippet
}

/// One-shot query for callers without a long-lived [`Retriever`] (the MCP `rag_query` tool):
/// opens the index, ranks with the best available mode, and returns the top `k`.
pub fn query(index_dir: &Path, text: &str, k: usize) -> Result<Vec<Hit>> {
    Retriever::open(index_dir)?.search(text, k, Mode::Auto)
}
