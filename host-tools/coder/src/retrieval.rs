//! Lexical retrieval: Okapi BM25 over short documents (exemplars, hook and helper entries).

use std::collections::HashMap;

/// Words too common to say anything about a program.
const STOPWORDS: &[&str] = &[
    "a", "an", "the", "of", "to", "in", "is", "it", "and", "or", "for", "on", "as", "by", "be", "with", "that", "this",
    "its", "at", "from", "are", "was", "if", "else", "then", "return", "returns", "value", "program", "when", "each",
    "every", "which", "into", "than", "there", "their", "them", "they", "we", "you", "so", "any", "all",
];

/// Lower-cased alphanumeric words, stop words dropped, light suffix stemming.
pub fn tokens(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
        .filter(|w| !w.is_empty())
        .map(|w| w.to_ascii_lowercase())
        .filter(|w| !STOPWORDS.contains(&w.as_str()))
        .flat_map(|w| {
            // snake_case names count both whole and as their parts.
            let mut out = vec![stem(&w)];
            if w.contains('_') {
                out.extend(w.split('_').filter(|p| p.len() > 1).map(stem));
            }
            out
        })
        .collect()
}

/// A small stemmer: plural and verb endings, enough to match "counts"/"counting"/"count".
pub fn stem(word: &str) -> String {
    let w = word;
    for suffix in ["ing", "ies", "es", "ed", "s"] {
        if w.len() > suffix.len() + 2 {
            if let Some(base) = w.strip_suffix(suffix) {
                match suffix {
                    "ies" => return format!("{base}y"),
                    // "matches" -> "match", but "bytes" -> "byte" (the `s` rule below).
                    "es" if !["s", "x", "z", "ch", "sh"].iter().any(|e| base.ends_with(e)) => continue,
                    "s" if base.ends_with('s') => return w.to_string(),
                    _ => return base.to_string(),
                }
            }
        }
    }
    w.to_string()
}

/// A BM25 index over documents given as text.
pub struct Bm25 {
    docs: Vec<HashMap<String, f64>>,
    lengths: Vec<f64>,
    avg_len: f64,
    df: HashMap<String, f64>,
}

const K1: f64 = 1.2;
const B: f64 = 0.75;

impl Bm25 {
    pub fn new<'a>(texts: impl IntoIterator<Item = &'a str>) -> Bm25 {
        let mut docs = Vec::new();
        let mut lengths = Vec::new();
        let mut df: HashMap<String, f64> = HashMap::new();
        for text in texts {
            let mut tf: HashMap<String, f64> = HashMap::new();
            let toks = tokens(text);
            for t in &toks {
                *tf.entry(t.clone()).or_default() += 1.0;
            }
            for t in tf.keys() {
                *df.entry(t.clone()).or_default() += 1.0;
            }
            lengths.push(toks.len() as f64);
            docs.push(tf);
        }
        let avg_len = if lengths.is_empty() { 1.0 } else { lengths.iter().sum::<f64>() / lengths.len() as f64 };
        Bm25 { docs, lengths, avg_len: avg_len.max(1.0), df }
    }

    /// Scores of every document for `query`, in document order.
    pub fn scores(&self, query: &str) -> Vec<f64> {
        let n = self.docs.len() as f64;
        let q = tokens(query);
        self.docs
            .iter()
            .zip(&self.lengths)
            .map(|(tf, len)| {
                q.iter()
                    .map(|t| {
                        let f = tf.get(t).copied().unwrap_or(0.0);
                        if f == 0.0 {
                            return 0.0;
                        }
                        let df = self.df.get(t).copied().unwrap_or(0.0);
                        let idf = ((n - df + 0.5) / (df + 0.5) + 1.0).ln();
                        idf * f * (K1 + 1.0) / (f + K1 * (1.0 - B + B * len / self.avg_len))
                    })
                    .sum()
            })
            .collect()
    }

    /// The `k` best documents as (index, score), best first, score > 0 only.
    pub fn top(&self, query: &str, k: usize) -> Vec<(usize, f64)> {
        let mut ranked: Vec<(usize, f64)> =
            self.scores(query).into_iter().enumerate().filter(|(_, s)| *s > 0.0).collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        ranked.truncate(k);
        ranked
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_the_matching_document_first() {
        let index = Bm25::new(["sum of the input bytes", "count spaces in the input", "time slice for a class"]);
        assert_eq!(index.top("how many spaces are there", 3)[0].0, 1);
        assert_eq!(index.top("slices per scheduling class", 3)[0].0, 2);
        assert!(index.top("zebra", 3).is_empty());
        assert_eq!(stem("counting"), "count");
        assert_eq!(stem("bytes"), "byte");
        assert_eq!(stem("matches"), "match");
        assert_eq!(stem("classes"), "class");
    }
}
