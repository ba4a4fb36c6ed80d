//! Architect stage: task → spec. Program type, hook, context layout, budget, the ranked DSL
//! families (by BM25 over the exemplar library), the retrieved catalog entries, literals named in
//! the text, and whether the examples need state (the same input answered differently).

use std::collections::BTreeMap;

use kingly_bpf::hooks::{tool_name_hash, Hook, Kind};

use crate::catalog::{catalog_entries, Family, EXEMPLARS};
use crate::retrieval::{stem, Bm25};
use crate::task::{Input, Layout, Task};

/// Extra knowledge for the spec (e.g. the `kingly rag` index); its text goes into LLM prompts.
pub trait ContextSource {
    /// Up to `k` passages relevant to `query`.
    fn passages(&self, query: &str, k: usize) -> Vec<String>;
}

/// What the Generator works from.
#[derive(Clone, Debug)]
pub struct Spec {
    pub kind: Kind,
    pub hook: Option<Hook>,
    pub layout: Layout,
    pub budget_insns: u64,
    pub max_result: Option<u64>,
    /// DSL families, best first, with their retrieval score.
    pub families: Vec<(Family, f64)>,
    /// Retrieved exemplars (id, score).
    pub exemplars: Vec<(&'static str, f64)>,
    /// Retrieved hook/helper catalog entries.
    pub catalog: Vec<String>,
    /// Passages from an external context source.
    pub extra: Vec<String>,
    /// Numbers in the text (and FNV hashes of quoted names).
    pub numbers: Vec<u64>,
    /// Quoted strings and single characters named in the text.
    pub strings: Vec<Vec<u8>>,
    /// Character classes named in the text.
    pub classes: Vec<&'static str>,
    /// Byte ranges the text names by comparison ("bytes greater than 0x7f", "at least 32").
    pub thresholds: Vec<crate::dsl::Pred>,
    /// Fields named in the text (indexes into the layout).
    pub fields_named: Vec<usize>,
    /// The task's text.
    pub description: String,
    /// Some input appears twice with different outputs: only map state explains that.
    pub stateful: bool,
}

/// Byte ranges named by a comparison with a number up to 255: "greater than 127" (above),
/// "less than 32" (below), "at least 0x80", "at most 9".
pub fn thresholds(text: &str) -> Vec<crate::dsl::Pred> {
    const ABOVE: [&str; 7] =
        ["greater than", "more than", "larger than", "bigger than", "higher than", "above", "over"];
    const BELOW: [&str; 5] = ["less than", "smaller than", "lower than", "below", "under"];
    const AT_LEAST: [&str; 2] = ["at least", "no less than"];
    const AT_MOST: [&str; 2] = ["at most", "no more than"];
    let lower = text.to_ascii_lowercase();
    let number = |rest: &str| -> Option<u8> {
        let word: String = rest.trim_start().chars().take_while(|c| c.is_ascii_alphanumeric()).collect();
        let v = match word.strip_prefix("0x") {
            Some(h) => u64::from_str_radix(h, 16).ok()?,
            None => word.parse().ok()?,
        };
        u8::try_from(v).ok()
    };
    let mut out: Vec<crate::dsl::Pred> = Vec::new();
    let mut add = |name: String, lo: u8, hi: u8| {
        let p = crate::dsl::Pred::class(&name, &[(lo, hi)]);
        if lo <= hi && !out.contains(&p) {
            out.push(p);
        }
    };
    for (words, kind) in [(&ABOVE[..], 0), (&BELOW[..], 1), (&AT_LEAST[..], 2), (&AT_MOST[..], 3)] {
        for w in words {
            for (at, _) in lower.match_indices(w) {
                // "no more than" is at most, not above.
                if *w == "more than" && lower[..at].ends_with("no ")
                    || *w == "less than" && lower[..at].ends_with("no ")
                {
                    continue;
                }
                let Some(n) = number(&lower[at + w.len()..]) else { continue };
                match kind {
                    0 if n < 255 => add(format!(">{n}"), n + 1, 255),
                    1 if n > 0 => add(format!("<{n}"), 0, n - 1),
                    2 => add(format!(">={n}"), n, 255),
                    3 => add(format!("<={n}"), 0, n),
                    _ => {}
                }
            }
        }
    }
    out
}

/// Characters English names.
const CHAR_WORDS: &[(&str, u8)] = &[
    ("space", b' '),
    ("spaces", b' '),
    ("comma", b','),
    ("commas", b','),
    ("colon", b':'),
    ("semicolon", b';'),
    ("newline", b'\n'),
    ("newlines", b'\n'),
    ("lines", b'\n'),
    ("tab", b'\t'),
    ("tabs", b'\t'),
    ("dot", b'.'),
    ("dots", b'.'),
    ("period", b'.'),
    ("dash", b'-'),
    ("hyphen", b'-'),
    ("slash", b'/'),
    ("equals", b'='),
    ("nul", 0),
    ("zero", 0),
    ("null", 0),
    ("question", b'?'),
    ("ampersand", b'&'),
    ("hash", b'#'),
    ("at", b'@'),
];

/// Character classes by English name (see [`crate::synth::class_pred`]).
pub const CLASS_WORDS: &[(&str, &str)] = &[
    ("digit", "digit"),
    ("digits", "digit"),
    ("numeric", "digit"),
    ("letter", "alpha"),
    ("letters", "alpha"),
    ("alphabetic", "alpha"),
    ("uppercase", "upper"),
    ("upper", "upper"),
    ("capital", "upper"),
    ("capitals", "upper"),
    ("lowercase", "lower"),
    ("lower", "lower"),
    ("vowel", "vowel"),
    ("vowels", "vowel"),
    ("whitespace", "space"),
    ("blank", "space"),
    ("printable", "print"),
    ("ascii", "ascii"),
    ("alphanumeric", "alnum"),
    ("hex", "xdigit"),
    ("hexadecimal", "xdigit"),
    ("punctuation", "punct"),
    ("control", "cntrl"),
];

const NUMBER_WORDS: &[(&str, u64)] = &[
    ("zero", 0),
    ("one", 1),
    ("two", 2),
    ("three", 3),
    ("four", 4),
    ("five", 5),
    ("six", 6),
    ("seven", 7),
    ("eight", 8),
    ("nine", 9),
    ("ten", 10),
    ("twice", 2),
    ("double", 2),
    ("half", 2),
    ("hundred", 100),
    ("thousand", 1000),
    ("million", 1_000_000),
];

fn literals(text: &str) -> (Vec<u64>, Vec<Vec<u8>>) {
    let mut numbers = Vec::new();
    let mut strings = Vec::new();
    // Quoted strings: '...', "..." and `...`.
    for quote in ['\'', '"', '`'] {
        let parts: Vec<&str> = text.split(quote).collect();
        for (i, part) in parts.iter().enumerate() {
            if i % 2 == 1 && i + 1 < parts.len() && !part.is_empty() && part.len() <= 32 {
                let unescaped = part.replace("\\n", "\n").replace("\\t", "\t").replace("\\0", "\0");
                strings.push(unescaped.into_bytes());
                numbers.push(tool_name_hash(part));
            }
        }
    }
    // Numbers: decimal, 0x hex, with _ or , separators inside digits.
    let cleaned: String = text.replace('_', "");
    for word in cleaned.split(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == ',')) {
        let w = word.trim_matches(|c| c == '.' || c == ',');
        if let Some(h) = w.strip_prefix("0x") {
            if let Ok(v) = u64::from_str_radix(h, 16) {
                numbers.push(v);
            }
            continue;
        }
        let digits: String = w.chars().filter(|c| *c != ',').collect();
        let numeric: String = digits.chars().take_while(|c| c.is_ascii_digit()).collect();
        if !numeric.is_empty() {
            if let Ok(v) = numeric.parse::<u64>() {
                numbers.push(v);
                // Units after the number: "5ms" as µs and ns.
                let unit = &digits[numeric.len()..];
                match unit {
                    "ms" => numbers.extend([v * 1000, v * 1_000_000]),
                    "us" => numbers.push(v * 1000),
                    "s" => numbers.extend([v * 1000, v * 1_000_000, v * 1_000_000_000]),
                    "k" | "kb" | "kib" => numbers.push(v * 1024),
                    _ => {}
                }
            }
        }
        let lower = w.to_ascii_lowercase();
        if let Some((_, v)) = NUMBER_WORDS.iter().find(|(n, _)| *n == lower) {
            numbers.push(*v);
        }
    }
    (numbers, strings)
}

/// Builds the spec for a task.
pub fn spec(task: &Task, extra: Option<&dyn ContextSource>) -> Spec {
    let text = task.description.as_str();
    let lower = text.to_ascii_lowercase();
    let words: Vec<&str> = lower.split(|c: char| !c.is_ascii_alphanumeric() && c != '_').collect();

    // Rank families by their exemplars' BM25 scores (best exemplar + a share of the rest).
    let candidates: Vec<usize> = (0..EXEMPLARS.len()).filter(|&i| EXEMPLARS[i].kinds.contains(&task.kind)).collect();
    let index = Bm25::new(candidates.iter().map(|&i| EXEMPLARS[i].text));
    let scores = index.scores(&format!("{text} {}", task.hook.map_or("", |h| h.name)));
    let mut per_family: BTreeMap<Family, Vec<f64>> = BTreeMap::new();
    for f in Family::for_kind(task.kind) {
        per_family.insert(*f, Vec::new());
    }
    let mut exemplars = Vec::new();
    for (j, &i) in candidates.iter().enumerate() {
        per_family.entry(EXEMPLARS[i].family).or_default().push(scores[j]);
        if scores[j] > 0.0 {
            exemplars.push((EXEMPLARS[i].id, scores[j]));
        }
    }
    exemplars.sort_by(|a, b| b.1.total_cmp(&a.1));
    exemplars.truncate(5);

    let stateful = task
        .examples
        .iter()
        .enumerate()
        .any(|(i, a)| task.examples[..i].iter().any(|b| b.input == a.input && b.output != a.output));
    let mut families: Vec<(Family, f64)> = per_family
        .into_iter()
        .map(|(f, mut s)| {
            s.sort_by(|a, b| b.total_cmp(a));
            let score = s.first().copied().unwrap_or(0.0) + 0.25 * s.iter().skip(1).sum::<f64>();
            // Repeated inputs with different answers need state; state is useless otherwise.
            let score = if f == Family::MapState && stateful { score + 100.0 } else { score };
            (f, score)
        })
        .collect();
    families.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));

    let entries = catalog_entries();
    let catalog_index = Bm25::new(entries.iter().map(String::as_str));
    let catalog = catalog_index
        .top(&format!("{text} {} {}", task.kind.name(), task.hook.map_or("", |h| h.name)), 4)
        .into_iter()
        .map(|(i, _)| entries[i].clone())
        .collect();
    let extra = extra.map(|source| source.passages(text, 3)).unwrap_or_default();

    let (mut numbers, mut strings) = literals(text);
    // Named characters and classes, singular or plural ("dash" or "dashes").
    let stems: Vec<String> = words.iter().map(|w| stem(w)).collect();
    let named = |word: &str| stems.contains(&stem(word));
    for (word, c) in CHAR_WORDS {
        if named(word) && !strings.contains(&vec![*c]) {
            strings.push(vec![*c]);
        }
    }
    let mut classes: Vec<&'static str> = Vec::new();
    for (word, class) in CLASS_WORDS {
        if named(word) && !classes.contains(class) {
            classes.push(class);
        }
    }
    // "the time in whole seconds" of a nanosecond clock: the unit names the divisor, when the
    // text gives no number of its own.
    // Not when the text names a field already in that unit ("period_ms times runs").
    let field_named = |f: &crate::task::FieldSpec| {
        words.contains(&f.name) || f.name.split('_').any(|p| p.len() > 2 && words.iter().any(|w| w.starts_with(p)))
    };
    let clock_ns = task.layout.fields().iter().any(|f| f.name.ends_with("_ns"));
    if clock_ns && !text.bytes().any(|c| c.is_ascii_digit()) {
        for (unit, suffix, ns) in
            [("second", "_s", 1_000_000_000), ("millisecond", "_ms", 1_000_000), ("microsecond", "_us", 1_000)]
        {
            let in_unit = task.layout.fields().iter().any(|f| f.name.ends_with(suffix) && field_named(f));
            if named(unit) && !in_unit {
                numbers.push(ns);
            }
        }
    }
    numbers.sort_unstable();
    numbers.dedup();
    strings.dedup();
    let fields_named =
        task.layout.fields().iter().enumerate().filter(|(_, f)| field_named(f)).map(|(i, _)| i).collect();
    Spec {
        kind: task.kind,
        hook: task.hook,
        layout: task.layout.clone(),
        budget_insns: task.budget_insns(),
        max_result: task.max_result(),
        families,
        exemplars,
        catalog,
        extra,
        numbers,
        strings,
        classes,
        thresholds: thresholds(text),
        fields_named,
        description: task.description.clone(),
        stateful,
    }
}

impl Spec {
    /// A few lines for the report and the LLM prompt.
    pub fn summary(&self) -> String {
        let mut s = format!("type {}", self.kind.name());
        if let Some(h) = self.hook {
            s += &format!(", hook {} (returns {}; budget {} insns)", h.name, h.returns, h.budget_insns);
        } else {
            s += &format!(", budget {} insns", self.budget_insns);
        }
        let fam: Vec<String> = self.families.iter().take(3).map(|(f, sc)| format!("{} {:.1}", f.name(), sc)).collect();
        s += &format!("; families: {}", fam.join(", "));
        if self.stateful {
            s += "; needs map state (same input, different answers)";
        }
        s
    }
}

/// Layout field values as given in an input (0 for a byte input).
pub fn field_value(input: &Input, index: usize) -> u64 {
    match input {
        Input::Fields(v) => v.get(index).copied().unwrap_or(0),
        Input::Bytes(_) => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_and_families() {
        let (n, s) = literals("Deny 'bpf_load' when arg_bytes exceeds 4,096 or 0x10; 5ms");
        assert!(n.contains(&4096) && n.contains(&16) && n.contains(&5000));
        assert!(n.contains(&tool_name_hash("bpf_load")));
        assert_eq!(s, vec![b"bpf_load".to_vec()]);
        let task = Task::parse("t", "description = \"Count the spaces in the input\"\n").unwrap();
        let spec = spec(&task, None);
        assert_eq!(spec.families[0].0, Family::ByteCount);
        assert!(spec.strings.contains(&vec![b' ']));
    }

    #[test]
    fn comparisons_name_byte_ranges() {
        let names = |t: &str| thresholds(t).into_iter().map(|p| (p.name, p.ranges)).collect::<Vec<_>>();
        assert_eq!(names("Count the bytes greater than 0x7f."), vec![(">127".to_string(), vec![(128, 255)])]);
        assert_eq!(names("bytes below 32"), vec![("<32".to_string(), vec![(0, 31)])]);
        assert_eq!(
            names("at least 200 and no more than 9"),
            vec![(">=200".to_string(), vec![(200, 255)]), ("<=9".to_string(), vec![(0, 9)])]
        );
        assert!(names("longer than 1000 bytes").is_empty());
        assert!(names("Count the spaces.").is_empty());
    }
}
