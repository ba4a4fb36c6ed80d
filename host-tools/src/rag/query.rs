//! Answering a query: BM25 over (text, symbol, path) with an exact-definition boost, fused by
//! reciprocal rank with dense MiniLM retrieval when the model and vectors are there.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use anyhow::Result;
use serde::Serialize;
use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, BoostQuery, Occur, Query, TermQuery};
use tantivy::schema::{IndexRecordOption, Value};
use tantivy::{Index, IndexReader, ReloadPolicy, TantivyDocument, Term};

use super::embed::{DenseIndex, Embedder};
use super::index::{self, Fields, IndexMeta, HISTORY_PREFIX};
use super::source;
use super::tokenize;

/// Lines of a chunk shown in a hit's snippet.
const SNIPPET_LINES: usize = 12;
const SNIPPET_BYTES: usize = 800;
/// Candidates taken from each retriever before fusion and re-ranking.
const CANDIDATES: usize = 60;
/// The `k` of reciprocal rank fusion (Cormack et al. 2009 use 60).
const RRF_K: f32 = 60.0;

/// Weight of the dense ranking in the fusion: it covers only the curated subset, so it refines
/// BM25's ranking rather than overruling it.
const DENSE_WEIGHT: f32 = 0.5;

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
    /// Hybrid when the model and vectors are available, BM25 otherwise.
    #[default]
    Auto,
    Bm25,
    Hybrid,
}

/// An open index, kept open across queries (opening costs far more than a query).
pub struct Retriever {
    reader: IndexReader,
    fields: Fields,
    meta: IndexMeta,
    dense: Option<(DenseIndex, Embedder)>,
    /// Why dense retrieval is off, when it is.
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
        // The model is loaded only when there are vectors to compare against.
        let (dense, dense_unavailable) = match DenseIndex::load(index_dir) {
            Ok(Some(vectors)) => match Embedder::load() {
                Ok(embedder) => (Some((vectors, embedder)), None),
                Err(error) => (None, Some(format!("{error:#}"))),
            },
            Ok(None) => (None, Some("no dense vectors in the index (run `kingly rag index --dense`)".to_string())),
            Err(error) => (None, Some(format!("dense vectors unreadable: {error:#}"))),
        };
        Ok(Retriever { reader, fields, meta, dense, dense_unavailable })
    }

    /// The tree the hits' paths are relative to.
    pub fn source_root(&self) -> &Path {
        &self.meta.source_root
    }

    pub fn has_dense(&self) -> bool {
        self.dense.is_some()
    }

    /// The top `k` hits for `text`.
    pub fn search(&self, text: &str, k: usize, mode: Mode) -> Result<Vec<Hit>> {
        let bm25 = self.bm25(text, CANDIDATES.max(k))?;
        let use_dense = match mode {
            Mode::Bm25 => false,
            // Identifiers are BM25's strength and MiniLM's weakness: Auto fuses only for
            // English questions.
            Mode::Auto => self.dense.is_some() && is_english_question(text),
            Mode::Hybrid => {
                if self.dense.is_none() {
                    anyhow::bail!(
                        "hybrid ranking needs the model: {}",
                        self.dense_unavailable.as_deref().unwrap_or("unavailable")
                    );
                }
                true
            }
        };
        let mut hits = if use_dense { self.fuse(text, bm25)? } else { bm25 };
        hits.truncate(k);
        for hit in &mut hits {
            if hit.snippet.is_empty() {
                hit.snippet = read_snippet(&self.meta.source_root, hit);
            }
        }
        Ok(hits)
    }

    /// BM25 candidates, re-ranked so that a chunk defining a queried identifier comes first.
    fn bm25(&self, text: &str, limit: usize) -> Result<Vec<Hit>> {
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
            clauses.push(term(fields.symbol, &token, if whole { 6.0 } else { 1.5 }));
            clauses.push(term(fields.path, &token, 1.0));
        }
        if clauses.is_empty() {
            return Ok(Vec::new());
        }
        self.ranked(&BooleanQuery::new(clauses), limit, &identifiers, asks_for_fixes)
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
        self.ranked(&BooleanQuery::new(clauses), limit, &[], false)
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
            let place = if path.starts_with("tools/") { 0.5 } else { 1.0 };
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

    /// Reciprocal rank fusion of the BM25 list with the dense list.
    fn fuse(&self, text: &str, bm25: Vec<Hit>) -> Result<Vec<Hit>> {
        let Some((vectors, embedder)) = &self.dense else { return Ok(bm25) };
        let query_vector = embedder.embed_query(text)?;
        let dense = vectors.search(&query_vector, CANDIDATES);
        let mut fused: HashMap<(String, u32), Hit> = HashMap::new();
        for (rank, mut hit) in bm25.into_iter().enumerate() {
            hit.score = 1.0 / (RRF_K + rank as f32 + 1.0);
            fused.insert((hit.path.clone(), hit.start_line), hit);
        }
        for (rank, (entry, _similarity)) in dense.into_iter().enumerate() {
            let add = DENSE_WEIGHT / (RRF_K + rank as f32 + 1.0);
            fused.entry((entry.path.clone(), entry.start_line)).and_modify(|hit| hit.score += add).or_insert_with(
                || Hit {
                    path: entry.path.clone(),
                    start_line: entry.start_line,
                    end_line: entry.end_line,
                    symbol: entry.symbol.split_whitespace().next().unwrap_or_default().to_string(),
                    kind: entry.kind.clone(),
                    snippet: String::new(),
                    score: add,
                },
            );
        }
        let mut hits: Vec<Hit> = fused.into_values().collect();
        hits.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.path.cmp(&b.path)));
        Ok(hits)
    }
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
