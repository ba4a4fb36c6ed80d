//! The offline synthesizer: enumerative, counterexample-guided search for a [`DslProgram`].
//!
//! 1. A branch names DSL families; each family contributes features (their values over the
//!    examples are computed once, map features by replaying the examples as a call sequence).
//! 2. Bottom-up enumeration of expressions over features and constants by size, keeping one
//!    expression per distinct value vector (observational equivalence). CEGIS: the vectors
//!    cover only an active subset of examples; a term that matches them is checked on all,
//!    and the first example it gets wrong joins the subset and the enumeration restarts.
//! 3. When no single expression fits, conditional unification: small terms that are right on
//!    some examples become leaves of a decision tree whose tests (feature thresholds, equality
//!    to values, boolean terms) are chosen greedily to separate them.
//!
//! Nothing here reads the task's name or matches its text against stored answers: the text
//! only ranks families and contributes literals (numbers, quoted strings, named characters).

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use crate::architect::Spec;
use crate::catalog::Family;
use crate::dsl::{combine, DslProgram, Expr, Feature, Fold, Op, PairCmp, Pred, Ty};
use crate::task::{Example, Input, Layout};

/// How conditionals may be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Conditionals {
    None,
    /// Tests are `field == value`, leaves constants (a lookup table).
    Table,
    Full,
}

/// One tree-of-thought branch: a structural hypothesis and how hard to search it.
#[derive(Clone, Debug)]
pub struct Branch {
    pub families: Vec<Family>,
    pub max_size: usize,
    /// Features kept, most relevant first.
    pub max_features: usize,
    pub conditionals: Conditionals,
    pub max_evals: u64,
    pub time_limit: Duration,
}

impl Branch {
    pub fn name(&self) -> String {
        let f: Vec<&str> = self.families.iter().map(|f| f.name()).collect();
        format!("{} (size<={}, {:?})", f.join("+"), self.max_size, self.conditionals)
    }
}

/// What a branch produced.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub program: Option<DslProgram>,
    /// Other programs that fit every example and score as well as `program`.
    pub alternatives: Vec<DslProgram>,
    /// The program's preference score is not negative (it uses what the text names, no
    /// arbitrary constants or coincidental operations).
    pub plausible: bool,
    /// Most examples one single term got right (for reflection).
    pub best_partial: usize,
    pub terms_evaluated: u64,
    pub note: String,
}

/// A named character class.
pub fn class_pred(name: &str) -> Option<Pred> {
    let ranges: &[(u8, u8)] = match name {
        "digit" => &[(b'0', b'9')],
        "alpha" => &[(b'A', b'Z'), (b'a', b'z')],
        "upper" => &[(b'A', b'Z')],
        "lower" => &[(b'a', b'z')],
        "space" => &[(9, 13), (b' ', b' ')],
        "print" => &[(0x20, 0x7e)],
        "ascii" => &[(0, 0x7f)],
        "alnum" => &[(b'0', b'9'), (b'A', b'Z'), (b'a', b'z')],
        "xdigit" => &[(b'0', b'9'), (b'A', b'F'), (b'a', b'f')],
        "vowel" => &[
            (b'a', b'a'),
            (b'e', b'e'),
            (b'i', b'i'),
            (b'o', b'o'),
            (b'u', b'u'),
            (b'A', b'A'),
            (b'E', b'E'),
            (b'I', b'I'),
            (b'O', b'O'),
            (b'U', b'U'),
        ],
        "punct" => &[(0x21, 0x2f), (0x3a, 0x40), (0x5b, 0x60), (0x7b, 0x7e)],
        "cntrl" => &[(0, 0x1f), (0x7f, 0x7f)],
        _ => return None,
    };
    Some(Pred::class(name, ranges))
}

const ALL_CLASSES: [&str; 12] =
    ["digit", "alpha", "upper", "lower", "space", "print", "ascii", "alnum", "xdigit", "vowel", "punct", "cntrl"];

fn inputs_bytes(examples: &[Example]) -> Vec<&[u8]> {
    examples
        .iter()
        .map(|e| match &e.input {
            Input::Bytes(b) => b.as_slice(),
            Input::Fields(_) => &[][..],
        })
        .collect()
}

/// Byte predicates worth trying, text-named first.
fn predicates(spec: &Spec, examples: &[Example]) -> Vec<Pred> {
    let mut preds: Vec<Pred> = Vec::new();
    let push = |p: Pred, preds: &mut Vec<Pred>| {
        if !preds.contains(&p) {
            preds.push(p);
        }
    };
    for c in &spec.classes {
        if let Some(p) = class_pred(c) {
            push(p.not(), &mut preds);
            push(p, &mut preds);
        }
    }
    for p in &spec.thresholds {
        push(p.clone(), &mut preds);
        push(p.not(), &mut preds);
    }
    for s in &spec.strings {
        if s.len() == 1 {
            push(Pred::byte(s[0]).not(), &mut preds);
            push(Pred::byte(s[0]), &mut preds);
        }
    }
    for c in ALL_CLASSES {
        let p = class_pred(c).expect("known class");
        push(p.clone(), &mut preds);
        push(p.not(), &mut preds);
    }
    let mut freq: HashMap<u8, usize> = HashMap::new();
    for b in inputs_bytes(examples) {
        for &c in b {
            *freq.entry(c).or_default() += 1;
        }
    }
    let mut bytes: Vec<(u8, usize)> = freq.into_iter().collect();
    bytes.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    for (c, _) in bytes.into_iter().take(48) {
        push(Pred::byte(c), &mut preds);
    }
    preds
}

/// Fields a decision may depend on: the hook's own, plus `cpu`/`now_ns` only when named.
fn relevant_fields(spec: &Spec) -> Vec<usize> {
    spec.layout
        .fields()
        .iter()
        .enumerate()
        .filter(|(i, f)| {
            f.name != "hook"
                && (spec.kind == kingly_bpf::Kind::Timer
                    || !matches!(f.name, "cpu" | "now_ns")
                    || spec.fields_named.contains(i))
        })
        .map(|(i, _)| i)
        .collect()
}

/// The features a family contributes.
pub fn family_features(family: Family, spec: &Spec, examples: &[Example]) -> Vec<Feature> {
    let max_len = inputs_bytes(examples).iter().map(|b| b.len()).max().unwrap_or(0);
    match family {
        Family::Length => vec![Feature::Len],
        Family::ByteFold => {
            let mut out: Vec<Feature> = Fold::ALL.iter().map(|f| Feature::Fold(*f)).collect();
            out.push(Feature::Bits);
            out.push(Feature::OnesSum);
            for fold in [Fold::Sum, Fold::Xor] {
                for odd in [false, true] {
                    out.push(Feature::Strided { fold, odd });
                }
            }
            out
        }
        Family::ByteCount => {
            let mut out = Vec::new();
            for p in predicates(spec, examples) {
                out.push(Feature::Count(p.clone()));
                out.push(Feature::Runs(p.clone()));
                if p.ranges.len() <= 3 && !p.negate {
                    out.push(Feature::SumIf(p));
                }
            }
            out.extend(PairCmp::ALL.iter().map(|c| Feature::Pairs(*c)));
            out
        }
        Family::ByteSearch => predicates(spec, examples)
            .into_iter()
            .flat_map(|p| [Feature::FirstIndex(p.clone()), Feature::LastIndex(p)])
            .collect(),
        Family::Parse => vec![Feature::Decimal],
        Family::Header => {
            let mut out = Vec::new();
            let mut prefixes: Vec<Vec<u8>> = spec.strings.iter().filter(|s| s.len() <= 16).cloned().collect();
            // Longest common prefix of the inputs sharing an output.
            let bytes = inputs_bytes(examples);
            let mut outputs: Vec<u64> = examples.iter().map(|e| e.output).collect();
            outputs.sort_unstable();
            outputs.dedup();
            for o in outputs {
                let group: Vec<&[u8]> =
                    examples.iter().zip(&bytes).filter(|(e, _)| e.output == o).map(|(_, b)| *b).collect();
                if group.len() >= 2 {
                    let mut lcp = group[0].len();
                    for g in &group[1..] {
                        lcp = lcp.min(g.iter().zip(group[0]).take_while(|(a, b)| a == b).count());
                    }
                    if (1..=16).contains(&lcp) {
                        prefixes.push(group[0][..lcp].to_vec());
                    }
                }
            }
            for p in prefixes {
                if !p.is_empty() && !out.contains(&Feature::Prefix(p.clone())) {
                    out.push(Feature::Prefix(p));
                }
            }
            for i in 0..max_len.min(16) as u8 {
                out.push(Feature::ByteAt(i));
            }
            for size in [2u8, 4, 8] {
                for offset in 0..16u8 {
                    if offset % 8 + size <= 8 && (offset + size) as usize <= max_len.max(size as usize) {
                        for big_endian in [false, true] {
                            out.push(Feature::Word { offset, size, big_endian });
                        }
                    }
                }
            }
            out
        }
        Family::FieldArith | Family::FieldRules | Family::FieldTable => {
            relevant_fields(spec).into_iter().map(Feature::Field).collect()
        }
        Family::MapState => {
            let fields = relevant_fields(spec);
            let ty = |i: usize| crate::dsl::field_type(spec.layout.fields()[i].name);
            let mut out: Vec<Feature> = fields.iter().map(|&i| Feature::Field(i)).collect();
            // Keys identify something (a client, a core, a class); sums and last values are quantities.
            let mut keys: Vec<Option<usize>> =
                fields.iter().filter(|&&i| ty(i) != Ty::Quantity).map(|&i| Some(i)).collect();
            keys.push(None);
            for &key in &keys {
                out.push(Feature::MapCount { key });
            }
            for &key in &keys {
                for &j in fields.iter().filter(|&&j| ty(j) == Ty::Quantity) {
                    out.push(Feature::MapSum { key, add: j });
                    out.push(Feature::MapPrev { key, store: j });
                }
            }
            out
        }
    }
}

/// Constants the enumeration may use: text numbers, outputs, then small common values.
fn constants(spec: &Spec, examples: &[Example]) -> Vec<u64> {
    let mut out: Vec<u64> = Vec::new();
    let push = |v: u64, out: &mut Vec<u64>| {
        if !out.contains(&v) {
            out.push(v)
        }
    };
    for &n in &spec.numbers {
        push(n, &mut out);
    }
    for e in examples {
        push(e.output, &mut out);
    }
    for v in [0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 16, 24, 32, 48, 63, 64, 100, 127, 128, 255, 256, 1000, 1024, 65535] {
        push(v, &mut out);
    }
    out
}

struct Bank {
    exprs: Vec<Expr>,
    vals: Vec<Vec<u64>>,
    by_size: HashMap<usize, Vec<usize>>,
    seen: HashMap<Vec<u64>, usize>,
    is_const: Vec<bool>,
    tys: Vec<Ty>,
    sizes: Vec<usize>,
}

impl Bank {
    fn new() -> Bank {
        Bank {
            exprs: Vec::new(),
            vals: Vec::new(),
            by_size: HashMap::new(),
            seen: HashMap::new(),
            is_const: Vec::new(),
            tys: Vec::new(),
            sizes: Vec::new(),
        }
    }

    /// Adds a term unless an equivalent one (same values) exists; an equally small equivalent
    /// that `better` prefers replaces the kept one.
    fn add(
        &mut self,
        e: Expr,
        v: Vec<u64>,
        size: usize,
        ty: Ty,
        better: impl Fn(&Expr, &Expr) -> bool,
    ) -> Option<usize> {
        if let Some(&old) = self.seen.get(&v) {
            if self.sizes[old] == size && better(&e, &self.exprs[old]) {
                self.exprs[old] = e;
                self.tys[old] = ty;
            }
            return None;
        }
        self.seen.insert(v.clone(), self.exprs.len());
        self.sizes.push(size);
        self.exprs.push(e);
        self.vals.push(v);
        self.is_const.push(ty == Ty::Const);
        self.tys.push(ty);
        let id = self.exprs.len() - 1;
        self.by_size.entry(size).or_default().push(id);
        Some(id)
    }
}

struct Search<'a> {
    columns: &'a [Vec<u64>],
    types: &'a [Ty],
    /// How strongly the task's text names each feature.
    grounding: &'a [i64],
    /// Which features are context fields.
    field: Vec<bool>,
    text_numbers: &'a [u64],
    outputs: Vec<u64>,
    /// Constants that come with a named class (the bounds of its byte ranges).
    natural: Vec<u64>,
    /// The text speaks of bits (xor, shift, mask, flag): bit operations are not suspicious.
    bitwise_text: bool,
    /// The text speaks of dividing or sharing.
    division_text: bool,
    multiply_text: bool,
    consts: &'a [u64],
    target: Vec<u64>,
    evals: u64,
    max_evals: u64,
    deadline: Instant,
    best_partial: usize,
    /// The text asks for 1 or 0 ("1 if …, otherwise 0"): only yes/no terms answer it.
    want_bool: bool,
}

impl Search<'_> {
    fn out_of_budget(&self) -> bool {
        self.evals >= self.max_evals || Instant::now() >= self.deadline
    }

    /// Preference among equally small expressions: features and numbers the text names,
    /// returned values, and no arbitrary constants.
    fn score(&self, e: &Expr) -> i64 {
        match e {
            // Context fields are few and all meaningful; a byte feature the text does not name is suspect.
            Expr::Feat(i) if self.field[*i] => 0,
            // Named by its class and by the words of its name ("index of the last comma").
            Expr::Feat(i) if self.grounding[*i] >= 3 => 2,
            Expr::Feat(i) if self.grounding[*i] > 0 => 1,
            Expr::Feat(i) if self.types[*i] != Ty::Quantity => 0,
            Expr::Feat(_) => -1,
            Expr::Const(c) if self.text_numbers.contains(c) && *c > 1 => 2,
            // 0 and 1 are every yes/no task's outputs: naming them supports less.
            Expr::Const(c) if self.text_numbers.contains(c) => 1,
            Expr::Const(c) if *c <= 1 || self.outputs.contains(c) || self.natural.contains(c) => 0,
            Expr::Const(_) => -1,
            Expr::Bin(op, a, b) => {
                let both_vary = !matches!(**a, Expr::Const(_)) && !matches!(**b, Expr::Const(_));
                let penalty = match op {
                    // Two varying values compared, or bit tricks the text did not ask for.
                    _ if op.is_cmp() && both_vary => 2,
                    Op::Xor | Op::Or | Op::Shl | Op::Shr if !self.bitwise_text => 2,
                    Op::And if !self.bitwise_text && !matches!(**b, Expr::Const(c) if (c + 1).is_power_of_two()) => 1,
                    Op::Div | Op::Mod if both_vary && !self.division_text => 1,
                    // Two varying values multiplied: a product the text did not ask for.
                    Op::Mul if both_vary && !self.multiply_text => 1,
                    _ => 0,
                };
                self.score(a) + self.score(b) - penalty
            }
            // An identifier returned as a decision is a coincidence of the examples.
            Expr::If(c, a, b) => {
                let id_leaf = |e: &Expr| matches!(e, Expr::Feat(i) if self.types[*i] == Ty::Id);
                self.score(c) + self.score(a) + self.score(b) - 2 * (id_leaf(a) || id_leaf(b)) as i64
            }
        }
    }

    fn best(&self, matches: Vec<Expr>) -> Option<Expr> {
        matches.into_iter().enumerate().max_by_key(|(i, e)| (self.score(e), std::cmp::Reverse(*i))).map(|(_, e)| e)
    }

    /// Enumerates expressions up to `max_size` over the `active` examples; returns one that
    /// matches the target there, or the bank if none does.
    fn enumerate(&mut self, active: &[usize], max_size: usize) -> Result<Vec<Expr>, Box<Bank>> {
        let mut bank = Bank::new();
        let target: Vec<u64> = active.iter().map(|&i| self.target[i]).collect();
        let total = self.target.len();
        let partial = |v: &[u64]| v.iter().zip(&target).filter(|(a, b)| a == b).count();
        let mut matches: Vec<Expr> = Vec::new();
        for (i, col) in self.columns.iter().enumerate() {
            let v: Vec<u64> = active.iter().map(|&k| col[k]).collect();
            if v == target && (!self.want_bool || self.types[i] == Ty::Bool) {
                matches.push(Expr::Feat(i));
            }
            if active.len() == total {
                self.best_partial = self.best_partial.max(partial(&v));
            }
            bank.add(Expr::Feat(i), v, 1, self.types[i], |_, _| false);
        }
        for &c in self.consts {
            let v = vec![c; active.len()];
            if v == target && !self.want_bool {
                matches.push(Expr::Const(c));
            }
            bank.add(Expr::Const(c), v, 1, Ty::Const, |_, _| false);
        }
        if !matches.is_empty() {
            return Ok(matches);
        }
        // After a first match, finish its size within this many more terms, to rank the matches.
        let mut grace: Option<u64> = None;
        let ops: Vec<Op> = Op::ARITH.iter().chain(Op::CMP.iter()).copied().collect();
        let mut size = 3;
        while size <= max_size {
            // Pairs (big, small) of sizes; each big term meets each small one on both sides,
            // so terms built from the most relevant features are combined first.
            for big_size in ((size - 1) / 2..size - 1).rev().filter(|s| s % 2 == 1) {
                let small_size = size - 1 - big_size;
                let bigs = bank.by_size.get(&big_size).cloned().unwrap_or_default();
                let smalls = bank.by_size.get(&small_size).cloned().unwrap_or_default();
                for &t in &bigs {
                    for &l in &smalls {
                        for (a, b) in [(t, l), (l, t)] {
                            if big_size == small_size && a > b && (a, b) == (l, t) {
                                continue;
                            }
                            if bank.is_const[a] && bank.is_const[b] {
                                continue;
                            }
                            for &op in &ops {
                                if (a, b) == (l, t) && op.commutative() {
                                    continue;
                                }
                                let Some(ty) = combine(op, bank.tys[a], bank.tys[b]) else { continue };
                                // Bucketing an identifier only by a modulus the text names.
                                if bank.tys[a] == Ty::Id
                                    && !matches!(bank.exprs[b], Expr::Const(c) if self.text_numbers.contains(&c))
                                {
                                    continue;
                                }
                                if let Expr::Const(c) = bank.exprs[b] {
                                    if (matches!(op, Op::Div | Op::Mod) && c == 0)
                                        || (matches!(op, Op::Shl | Op::Shr) && c >= 64)
                                    {
                                        continue;
                                    }
                                }
                                self.evals += 1;
                                if self.evals.is_multiple_of(4096) && self.out_of_budget()
                                    || grace.is_some_and(|g| self.evals > g)
                                {
                                    return if matches.is_empty() { Err(Box::new(bank)) } else { Ok(matches) };
                                }
                                let v: Vec<u64> =
                                    bank.vals[a].iter().zip(&bank.vals[b]).map(|(x, y)| op.apply(*x, *y)).collect();
                                if v == target && (!self.want_bool || ty == Ty::Bool) {
                                    matches.push(Expr::bin(op, bank.exprs[a].clone(), bank.exprs[b].clone()));
                                    grace.get_or_insert(self.evals + 300_000);
                                    continue;
                                }
                                if active.len() == total {
                                    self.best_partial = self.best_partial.max(partial(&v));
                                }
                                let e = Expr::bin(op, bank.exprs[a].clone(), bank.exprs[b].clone());
                                bank.add(e, v, size, ty, |new, old| self.score(new) > self.score(old));
                            }
                        }
                    }
                }
            }
            if !matches.is_empty() {
                return Ok(matches);
            }
            size += 2;
        }
        Err(Box::new(bank))
    }

    /// CEGIS around [`Search::enumerate`].
    fn single_term(&mut self, max_size: usize) -> Vec<Expr> {
        let n = self.target.len();
        let mut active: Vec<usize> = if n <= 2 { (0..n).collect() } else { vec![0, n - 1] };
        loop {
            match self.enumerate(&active, max_size) {
                Ok(matches) => {
                    let (columns, target) = (self.columns, self.target.clone());
                    let wrong = |e: &Expr| (0..n).find(|&i| e.eval(&row(columns, i)) != target[i]);
                    let first_wrong = wrong(&matches[0]);
                    let mut right: Vec<Expr> = matches.into_iter().filter(|e| wrong(e).is_none()).collect();
                    if !right.is_empty() && active.len() < n {
                        // On a few examples many values coincide (a count that is 0 on both
                        // looks like the constant 0); enumerate once more on all of them at
                        // the size found, so better-supported fits of that size compete too.
                        let size = right.iter().map(|e| e.size()).min().unwrap_or(max_size);
                        let all: Vec<usize> = (0..n).collect();
                        if let Ok(more) = self.enumerate(&all, size) {
                            for e in more {
                                if wrong(&e).is_none() && !right.contains(&e) {
                                    right.push(e);
                                }
                            }
                        }
                    }
                    if !right.is_empty() {
                        let mut ranked: Vec<(usize, Expr)> = right.into_iter().enumerate().collect();
                        ranked.sort_by_key(|(i, e)| (std::cmp::Reverse(self.score(e)), *i));
                        return ranked.into_iter().map(|(_, e)| e).collect();
                    }
                    if let Some(i) = first_wrong {
                        active.push(i);
                        active.sort_unstable();
                    }
                }
                Err(_) => return Vec::new(),
            }
            if self.out_of_budget() {
                return Vec::new();
            }
        }
    }
}

fn row(columns: &[Vec<u64>], i: usize) -> Vec<u64> {
    columns.iter().map(|c| c[i]).collect()
}

/// A decision-tree test over examples.
struct Test {
    expr: Expr,
    holds: Vec<bool>,
}

fn build_tree(
    set: &[usize],
    leaves: &[(Expr, Vec<u64>)],
    tests: &[Test],
    target: &[u64],
    depth: usize,
    leaf_count: &mut usize,
) -> Option<Expr> {
    // (examples covered, leaf index) of the best single leaf; ties go to the smaller leaf.
    let cover = |s: &[usize]| -> (usize, usize) {
        let mut best = (0, 0);
        for (li, (e, v)) in leaves.iter().enumerate() {
            let c = s.iter().filter(|&&i| v[i] == target[i]).count();
            if c > best.0 || (c == best.0 && c > 0 && e.size() < leaves[best.1].0.size()) {
                best = (c, li);
            }
        }
        best
    };
    let (covered, leaf) = cover(set);
    if covered == set.len() {
        *leaf_count += 1;
        return Some(leaves[leaf].0.clone());
    }
    if depth == 0 {
        return None;
    }
    let mut best: Option<((usize, std::cmp::Reverse<usize>), usize)> = None;
    for (ti, t) in tests.iter().enumerate() {
        let (yes, no): (Vec<usize>, Vec<usize>) = set.iter().partition(|&&i| t.holds[i]);
        if yes.is_empty() || no.is_empty() {
            continue;
        }
        let (cy, ly) = cover(&yes);
        let (cn, ln) = cover(&no);
        let score = (cy + cn, std::cmp::Reverse(leaves[ly].0.size() + leaves[ln].0.size()));
        if best.as_ref().is_none_or(|(s, _)| score > *s) {
            best = Some((score, ti));
        }
    }
    let (_, ti) = best?;
    let (yes, no): (Vec<usize>, Vec<usize>) = set.iter().partition(|&&i| tests[ti].holds[i]);
    let a = build_tree(&yes, leaves, tests, target, depth - 1, leaf_count)?;
    let b = build_tree(&no, leaves, tests, target, depth - 1, leaf_count)?;
    Some(Expr::If(Box::new(tests[ti].expr.clone()), Box::new(a), Box::new(b)))
}

/// Conditional unification over all examples.
fn conditional(search: &mut Search<'_>, mode: Conditionals, spec: &Spec) -> Option<Expr> {
    let n = search.target.len();
    let all: Vec<usize> = (0..n).collect();
    let leaf_size = if mode == Conditionals::Table { 1 } else { 3 };
    let bank = match search.enumerate(&all, leaf_size) {
        Ok(matches) => return search.best(matches),
        Err(bank) => bank,
    };
    let target = search.target.clone();
    let leaves: Vec<(Expr, Vec<u64>)> = (0..bank.exprs.len())
        .filter(|&i| mode != Conditionals::Table || bank.is_const[i])
        .filter(|&i| bank.vals[i].iter().zip(&target).any(|(a, b)| a == b))
        .map(|i| (bank.exprs[i].clone(), bank.vals[i].clone()))
        .collect();
    let mut tests: Vec<Test> = Vec::new();
    let mut seen: HashSet<Vec<bool>> = HashSet::new();
    let mut add = |expr: Expr, holds: Vec<bool>, tests: &mut Vec<Test>| {
        if holds.iter().any(|h| *h) && holds.iter().any(|h| !*h) && seen.insert(holds.clone()) {
            tests.push(Test { expr, holds });
        }
    };
    // Tests in order of preference (ties go to the earlier): thresholds named in the text,
    // zero tests, booleans, equality with example values, thresholds between example values.
    let columns = search.columns;
    let quantity = |i: usize| search.types[i] == Ty::Quantity;
    let sorted_values = |col: &Vec<u64>| {
        let mut values = col.clone();
        values.sort_unstable();
        values.dedup();
        values
    };
    if mode != Conditionals::Table {
        for (i, col) in columns.iter().enumerate().filter(|(i, _)| quantity(*i)) {
            for &t in &spec.numbers {
                let f = Expr::Feat(i);
                add(Expr::bin(Op::Gt, f.clone(), Expr::Const(t)), col.iter().map(|v| *v > t).collect(), &mut tests);
                add(Expr::bin(Op::Ge, f, Expr::Const(t)), col.iter().map(|v| *v >= t).collect(), &mut tests);
            }
        }
        for (i, col) in columns.iter().enumerate() {
            if search.types[i] != Ty::Category && search.types[i] != Ty::Id {
                add(
                    Expr::bin(Op::Eq, Expr::Feat(i), Expr::Const(0)),
                    col.iter().map(|v| *v == 0).collect(),
                    &mut tests,
                );
            }
            if search.types[i] == Ty::Bool || col.iter().all(|v| *v <= 1) {
                add(Expr::Feat(i), col.iter().map(|v| *v != 0).collect(), &mut tests);
            }
        }
    }
    for (i, col) in columns.iter().enumerate() {
        for v in sorted_values(col) {
            add(Expr::bin(Op::Eq, Expr::Feat(i), Expr::Const(v)), col.iter().map(|x| *x == v).collect(), &mut tests);
        }
    }
    if mode != Conditionals::Table {
        for (i, col) in columns.iter().enumerate().filter(|(i, _)| quantity(*i)) {
            for w in sorted_values(col).windows(2) {
                let f = Expr::Feat(i);
                add(Expr::bin(Op::Gt, f, Expr::Const(w[0])), col.iter().map(|x| *x > w[0]).collect(), &mut tests);
            }
        }
    }
    if mode == Conditionals::Full {
        for i in 0..bank.exprs.len() {
            if bank.tys[i] == Ty::Bool {
                if let Expr::Bin(..) = bank.exprs[i] {
                    let holds = bank.vals[i].iter().map(|v| *v != 0).collect();
                    add(bank.exprs[i].clone(), holds, &mut tests);
                }
            }
        }
    }
    let mut leaf_count = 0;
    let depth = if mode == Conditionals::Table { 4 } else { 3 };
    let tree = build_tree(&all, &leaves, &tests, &target, depth, &mut leaf_count)?;
    // A tree with nearly a leaf per example memorises; it explains nothing.
    if leaf_count * 2 > n + 1 {
        return None;
    }
    Some(tree)
}

/// Words in feature listings that every byte task's text uses ("the bytes of the input"):
/// they name no feature in particular.
const GENERIC_WORDS: [&str; 6] = ["byte", "input", "b", "in", "value", "bit"];

/// How strongly the text names a feature that is not a byte-class feature: by the words that
/// mean it (not the generic words of its listing), its offsets and widths among the numbers.
fn feature_grounding(f: &Feature, spec: &Spec, text: &HashSet<String>, layout: &Layout) -> i64 {
    let says = |words: &[&str]| words.iter().any(|w| text.contains(&crate::retrieval::stem(w)));
    let number = |n: u64| spec.numbers.contains(&n);
    let offset_named = |offset: u8| {
        number(offset as u64)
            || (offset == 0 && says(&["first", "start", "begin", "beginning", "leading", "head", "header"]))
    };
    // Unnamed byte order: either; named: only that one.
    let endian_ok = |big: bool| if big { !says(&["little"]) } else { !says(&["big", "network"]) };
    match f {
        Feature::Len => {
            says(&["length", "long", "longer", "short", "shorter", "size", "len", "empty", "least", "fewer"]) as i64 * 2
        }
        Feature::Fold(fold) => {
            let words: &[&str] = match fold {
                Fold::Sum => &["sum", "add", "total", "checksum"],
                // "checksum" alone names no one fold: a sum and an xor are both checksums.
                Fold::Xor => &["xor", "parity", "checksum"],
                Fold::Or => &["bitwise"],
                Fold::And => &["bitwise"],
                Fold::Max => &["max", "maximum", "largest", "biggest", "highest", "greatest"],
                Fold::Min => &["min", "minimum", "smallest", "lowest"],
                Fold::Last => &["last", "final", "trailing", "end"],
                Fold::Fnv1a32 => &["fnv", "fnv1a", "fnv-1a"],
                Fold::Djb2 => &["djb2"],
            };
            says(words) as i64 * 2
        }
        Feature::Decimal => says(&["decimal", "number", "parse", "integer", "atoi", "numeral"]) as i64 * 2,
        Feature::Head(_) => 0,
        Feature::Bits => says(&["popcount", "population", "bit"]) as i64 * 2,
        Feature::OnesSum => {
            (says(&["complement", "internet", "rfc1071", "1071"]) && says(&["sum", "checksum"])) as i64 * 2
        }
        Feature::Strided { fold, odd } => {
            let position = says(&[if *odd { "odd" } else { "even" }]);
            let op = match fold {
                Fold::Xor => says(&["xor"]),
                _ => says(&["sum", "add", "total"]),
            };
            (position && op) as i64 * 2
        }
        Feature::Pairs(cmp) => {
            let pair = says(&["adjacent", "pair", "consecutive", "neighbor", "neighbour", "followed", "next"]);
            let how = says(match cmp {
                PairCmp::Equal => &["equal", "same", "repeat", "identical", "duplicate"],
                PairCmp::Rising => &["larger", "greater", "bigger", "rising", "increase", "higher"],
                PairCmp::Falling => &["smaller", "lower", "falling", "decrease"],
            });
            (pair && how) as i64 * 2
        }
        Feature::ByteAt(i) => {
            const ORDINALS: [&str; 8] = ["first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth"];
            let ordinal = ORDINALS.get(*i as usize).is_some_and(|w| says(&[w]) && says(&["byte"]));
            if *i == 0 && says(&["first", "leading", "start"])
                || ordinal
                || number(*i as u64) && says(&["byte", "offset", "index"])
            {
                2
            } else {
                0
            }
        }
        Feature::Word { offset, size, big_endian } => {
            let width = number(*size as u64 * 8)
                || says(&[match size {
                    2 => "short",
                    4 => "word",
                    _ => "quad",
                }]);
            (width && offset_named(*offset) && endian_ok(*big_endian)) as i64 * 2
        }
        Feature::Prefix(p) => spec.strings.contains(p) as i64 * 3,
        _ => {
            let named = crate::retrieval::tokens(&f.describe(layout))
                .iter()
                .filter(|t| text.contains(*t) && !GENERIC_WORDS.contains(&t.as_str()))
                .count();
            named.min(2) as i64
        }
    }
}

/// How strongly the text names a feature (0: not at all).
fn grounding_of(f: &Feature, spec: &Spec, text_tokens: &HashSet<String>, layout: &Layout) -> i64 {
    let lower = spec.description.to_ascii_lowercase();
    let named_pred = |p: &Pred| {
        let single = (p.ranges.len() == 1 && p.ranges[0].0 == p.ranges[0].1).then_some(p.ranges[0].0);
        spec.classes.iter().any(|c| p.name.trim_start_matches("not ") == *c)
            || spec.thresholds.iter().any(|t| t.name == p.name.trim_start_matches("not "))
            || single.is_some_and(|c| spec.strings.contains(&vec![c]) || lower.contains(&format!("0x{c:02x}")))
    };
    match f {
        // A feature over a byte class counts as named only when its class is.
        Feature::Count(p) | Feature::SumIf(p) | Feature::FirstIndex(p) | Feature::Runs(p) | Feature::LastIndex(p) => {
            let says = |w: &str| text_tokens.contains(&crate::retrieval::stem(w));
            let last = says("last") || says("final");
            // Which end the search starts from is named by the text ("last", "first").
            let wrong_end = match f {
                Feature::LastIndex(_) => !last,
                Feature::FirstIndex(_) => last && !says("first"),
                _ => false,
            };
            if named_pred(p) && !wrong_end {
                let named = crate::retrieval::tokens(&f.describe(layout))
                    .iter()
                    .filter(|t| text_tokens.contains(*t) && !GENERIC_WORDS.contains(&t.as_str()))
                    .count();
                // Runs of a class are words, groups or sequences; without such a word, the
                // plain count is what the text means.
                let runs_unasked = matches!(f, Feature::Runs(_))
                    && !["word", "run", "group", "sequence", "block", "field", "token", "any", "contain"]
                        .iter()
                        .any(|w| text_tokens.contains(&crate::retrieval::stem(w)));
                2 + named.min(2) as i64 - runs_unasked as i64
            } else {
                0
            }
        }
        _ => feature_grounding(f, spec, text_tokens, layout),
    }
}

fn natural_constants(spec: &Spec) -> Vec<u64> {
    spec.classes
        .iter()
        .filter_map(|c| class_pred(c))
        .flat_map(|p| p.ranges.into_iter().flat_map(|(lo, hi)| [lo as u64, hi as u64]))
        .collect()
}

fn text_has(spec: &Spec, words: &[&str]) -> bool {
    let lower = spec.description.to_ascii_lowercase();
    words.iter().any(|w| lower.contains(w))
}

const BITWISE_WORDS: [&str; 6] = ["xor", "bit", "shift", "mask", "flag", "parity"];
const MULTIPLY_WORDS: [&str; 5] = ["times", "product", "multipl", "scale", "weight"];
const DIVISION_WORDS: [&str; 6] = ["divid", "modulo", "share", "per ", "average", "ratio"];

/// The synthesizer's preference score of a whole program (higher is better supported by the
/// text; negative means it leans on constants or operations the text does not ask for).
pub fn score_program(p: &DslProgram, spec: &Spec, examples: &[Example]) -> i64 {
    let layout = &spec.layout;
    let mut text_tokens: HashSet<String> = crate::retrieval::tokens(&spec.description).into_iter().collect();
    let guarded = |p: &DslProgram| match &p.body {
        Expr::If(test, _, otherwise) => {
            matches!(**otherwise, Expr::Const(_))
                && matches!(&**test, Expr::Bin(Op::Ge, a, b)
                if matches!(**a, Expr::Feat(i) if p.features[i] == Feature::Len) && matches!(**b, Expr::Const(_)))
        }
        _ => false,
    };
    // The words of a length clause ("or 0 for an empty input") are spent on the guard: they do
    // not also name the length inside what it guards.
    if guarded(p) {
        for w in LENGTH_CLAUSE_WORDS {
            text_tokens.remove(&crate::retrieval::stem(w));
        }
    }
    let types: Vec<Ty> = p.features.iter().map(|f| f.ty(layout)).collect();
    let grounding: Vec<i64> = p.features.iter().map(|f| grounding_of(f, spec, &text_tokens, layout)).collect();
    let search = Search {
        columns: &[],
        types: &types,
        grounding: &grounding,
        field: p.features.iter().map(|f| matches!(f, Feature::Field(_))).collect(),
        text_numbers: &spec.numbers,
        outputs: examples.iter().map(|e| e.output).collect(),
        natural: natural_constants(spec),
        bitwise_text: text_has(spec, &BITWISE_WORDS),
        division_text: text_has(spec, &DIVISION_WORDS),
        multiply_text: text_has(spec, &MULTIPLY_WORDS),
        consts: &[],
        target: Vec::new(),
        evals: 0,
        max_evals: 0,
        deadline: Instant::now(),
        best_partial: 0,
        want_bool: false,
    };
    // A length guard from the text's clause neither supports nor weakens what it guards.
    match &p.body {
        Expr::If(_, inner, _) if guarded(p) => search.score(inner),
        body => search.score(body),
    }
}

/// Words a length clause uses ("0 if shorter than 4 bytes", "0 for an empty input").
const LENGTH_CLAUSE_WORDS: [&str; 5] = ["empty", "short", "shorter", "least", "fewer"];

/// Amounts the program reads that the text never mentions (byte classes it does not name,
/// folds it does not ask for): a program built on them explains the examples by coincidence.
pub fn ungrounded_features(p: &DslProgram, spec: &Spec) -> Vec<String> {
    let text_tokens: HashSet<String> = crate::retrieval::tokens(&spec.description).into_iter().collect();
    let mut out = Vec::new();
    for f in &p.features {
        let structural =
            matches!(f, Feature::Field(_) | Feature::Head(_)) || f.uses_map() || f.ty(&spec.layout) != Ty::Quantity;
        if !structural && grounding_of(f, spec, &text_tokens, &spec.layout) == 0 {
            out.push(f.describe(&spec.layout));
        }
    }
    out
}

/// Numbers the text names (above 1, not the hashes of quoted names) that a program never uses,
/// as a constant or as an offset, index or width of what it reads.
pub fn unused_text_numbers(p: &DslProgram, spec: &Spec) -> Vec<u64> {
    let hashes: Vec<u64> =
        spec.strings.iter().map(|s| kingly_bpf::hooks::tool_name_hash(&String::from_utf8_lossy(s))).collect();
    // Numbers in a range ("0-9") describe a class, not a value to use.
    let text = spec.description.as_bytes();
    let mut in_range: Vec<u64> = Vec::new();
    for (i, &c) in text.iter().enumerate() {
        if c == b'-' && i > 0 && text[i - 1].is_ascii_digit() && text.get(i + 1).is_some_and(|d| d.is_ascii_digit()) {
            let before = text[..i].iter().rev().take_while(|d| d.is_ascii_digit()).count();
            let after = text[i + 1..].iter().take_while(|d| d.is_ascii_digit()).count();
            for digits in [&text[i - before..i], &text[i + 1..i + 1 + after]] {
                if let Ok(n) = std::str::from_utf8(digits).unwrap_or("").parse::<u64>() {
                    in_range.push(n);
                }
            }
        }
    }
    let wanted: Vec<u64> =
        spec.numbers.iter().copied().filter(|n| *n > 1 && !hashes.contains(n) && !in_range.contains(n)).collect();
    if wanted.is_empty() {
        return Vec::new();
    }
    let mut used: Vec<u64> = Vec::new();
    fn consts(e: &Expr, out: &mut Vec<u64>) {
        match e {
            Expr::Const(c) => out.push(*c),
            Expr::Bin(_, a, b) => {
                consts(a, out);
                consts(b, out);
            }
            Expr::If(c, a, b) => {
                consts(c, out);
                consts(a, out);
                consts(b, out);
            }
            Expr::Feat(_) => {}
        }
    }
    consts(&p.body, &mut used);
    // A mask 2^n - 1 uses the width n ("as a 16-bit value": 0xffff).
    let masks: Vec<u64> = used
        .iter()
        .filter(|c| (c.wrapping_add(1)).is_power_of_two() && **c > 1)
        .map(|c| u64::from(c.count_ones()))
        .collect();
    used.extend(masks);
    for f in &p.features {
        match f {
            Feature::ByteAt(i) => used.push(*i as u64),
            Feature::OnesSum => used.extend([2, 16]),
            Feature::Word { offset, size, .. } => used.extend([*offset as u64, *size as u64, *size as u64 * 8]),
            Feature::Prefix(bytes) => used.push(bytes.len() as u64),
            // A named hash brings its width and constants.
            Feature::Fold(Fold::Fnv1a32) => used.extend([32, 0x811c_9dc5, 16_777_619]),
            Feature::Fold(Fold::Djb2) => used.extend([32, 5381, 33]),
            // "index 1, 3, 5, ...": the positions a stride visits.
            Feature::Strided { odd, .. } => used.extend((0..16).filter(|i| (i % 2 == 1) == *odd)),
            // A class the text names by comparison ("greater than 0x7f") uses its number.
            Feature::Count(p)
            | Feature::SumIf(p)
            | Feature::FirstIndex(p)
            | Feature::Runs(p)
            | Feature::LastIndex(p) => {
                for &(lo, hi) in &p.ranges {
                    used.extend([lo as u64, hi as u64, (lo as u64).saturating_sub(1), hi as u64 + 1]);
                }
            }
            _ => {}
        }
    }
    if wanted.iter().any(|n| used.contains(n)) {
        Vec::new()
    } else {
        wanted
    }
}

/// A decision made on exact example values rather than on anything the text says: an `if`
/// whose test compares an amount with a constant the text does not name, or a constant copied
/// from an example output. Such a program fits by memorising; it is at best `unsure`.
pub fn memorises(p: &DslProgram, spec: &Spec, layout: &Layout, examples: &[Example]) -> Option<String> {
    let outputs: Vec<u64> = examples.iter().map(|e| e.output).collect();
    // A width the text names ("a 16-bit value") names its mask (0xffff) too.
    let named = |c: u64| {
        c <= 1 || spec.numbers.contains(&c) || spec.numbers.iter().any(|&n| (8..64).contains(&n) && c == (1 << n) - 1)
    };
    fn walk(e: &Expr, f: &mut dyn FnMut(&Expr)) {
        f(e);
        match e {
            Expr::Bin(_, a, b) => {
                walk(a, f);
                walk(b, f);
            }
            Expr::If(c, a, b) => {
                walk(c, f);
                walk(a, f);
                walk(b, f);
            }
            _ => {}
        }
    }
    let mut why = None;
    walk(&p.body, &mut |e| {
        if why.is_some() {
            return;
        }
        match e {
            Expr::If(test, _, _) => {
                if let Expr::Bin(op, a, b) = &**test {
                    if let (Expr::Feat(i), Expr::Const(c)) = (&**a, &**b) {
                        let ty = p.features[*i].ty(layout);
                        if op.is_cmp() && ty == Ty::Quantity && !named(*c) {
                            why = Some(format!(
                                "branches on {} {} {c}, a value from the examples, not the text",
                                p.features[*i].describe(layout),
                                op.symbol()
                            ));
                        }
                    }
                }
            }
            Expr::Const(c) if !named(*c) && outputs.contains(c) => {
                why = Some(format!("returns {c}, copied from an example output, not the text"));
            }
            _ => {}
        }
    });
    why
}

/// Runs one branch.
pub fn synthesize(spec: &Spec, examples: &[Example], branch: &Branch) -> Outcome {
    let started = Instant::now();
    if examples.is_empty() {
        return Outcome {
            program: None,
            alternatives: Vec::new(),
            plausible: false,
            best_partial: 0,
            terms_evaluated: 0,
            note: "no examples to search against".into(),
        };
    }
    let layout: &Layout = &spec.layout;
    let mut features: Vec<Feature> = Vec::new();
    let mut columns: Vec<Vec<u64>> = Vec::new();
    let mut types: Vec<Ty> = Vec::new();
    let text_tokens: HashSet<String> = crate::retrieval::tokens(&spec.description).into_iter().collect();
    // One feature per distinct value vector, the one the text names most strongly (the first
    // on ties); equally named twins are kept aside, since they may disagree on other inputs.
    let mut grounding: Vec<i64> = Vec::new();
    let mut twins: Vec<Vec<Feature>> = Vec::new();
    let mut by_values: HashMap<Vec<u64>, usize> = HashMap::new();
    for family in &branch.families {
        for f in family_features(*family, spec, examples) {
            if features.contains(&f) || twins.iter().any(|t| t.contains(&f)) {
                continue;
            }
            let v = f.values(examples, layout);
            // Constant ones say nothing.
            if v.iter().all(|x| *x == v[0]) && examples.len() > 1 {
                continue;
            }
            let g = grounding_of(&f, spec, &text_tokens, layout);
            match by_values.get(&v) {
                Some(&k) if g > grounding[k] => {
                    twins[k].clear();
                    types[k] = f.ty(layout);
                    features[k] = f;
                    grounding[k] = g;
                }
                Some(&k) => {
                    if g == grounding[k] {
                        twins[k].push(f);
                    }
                }
                None => {
                    by_values.insert(v.clone(), features.len());
                    types.push(f.ty(layout));
                    features.push(f);
                    columns.push(v);
                    grounding.push(g);
                    twins.push(Vec::new());
                }
            }
        }
    }
    let consts = constants(spec, examples);
    // Most relevant features first (stable), at most `max_features` of them.
    let mut order: Vec<usize> = (0..features.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(grounding[i]));
    order.truncate(branch.max_features);
    let features: Vec<Feature> = order.iter().map(|&i| features[i].clone()).collect();
    let twins: Vec<Vec<Feature>> = order.iter().map(|&i| twins[i].clone()).collect();
    let columns: Vec<Vec<u64>> = order.iter().map(|&i| columns[i].clone()).collect();
    let types: Vec<Ty> = order.iter().map(|&i| types[i]).collect();
    let grounding: Vec<i64> = order.iter().map(|&i| grounding[i]).collect();
    let natural = natural_constants(spec);
    let mut search = Search {
        columns: &columns,
        types: &types,
        grounding: &grounding,
        field: features.iter().map(|f| matches!(f, Feature::Field(_))).collect(),
        text_numbers: &spec.numbers,
        outputs: examples.iter().map(|e| e.output).collect(),
        natural,
        bitwise_text: text_has(spec, &BITWISE_WORDS),
        division_text: text_has(spec, &DIVISION_WORDS),
        multiply_text: text_has(spec, &MULTIPLY_WORDS),
        consts: &consts,
        target: examples.iter().map(|e| e.output).collect(),
        evals: 0,
        max_evals: branch.max_evals,
        deadline: started + branch.time_limit,
        best_partial: 0,
        want_bool: crate::coder::says_yes_no(&spec.description),
    };
    let mut alternatives: Vec<Expr> = Vec::new();
    let found = if branch.conditionals == Conditionals::Table {
        conditional(&mut search, Conditionals::Table, spec)
    } else {
        let mut all = search.single_term(branch.max_size);
        let single = if all.is_empty() { None } else { Some(all.remove(0)) };
        if let Some(best) = &single {
            // Equally good fits are kept: if they disagree elsewhere, the task is ambiguous.
            let top = search.score(best);
            alternatives = all.into_iter().filter(|e| search.score(e) == top).take(2).collect();
        }
        let plausible = single.as_ref().is_some_and(|e| search.score(e) >= 0);
        if plausible || branch.conditionals != Conditionals::Full {
            single
        } else {
            // No term, or only an implausible one: a decision tree may explain the examples better.
            search.evals = 0;
            search.deadline = Instant::now() + branch.time_limit / 2;
            let tree = conditional(&mut search, Conditionals::Full, spec);
            match (single, tree) {
                (Some(s), Some(t)) => Some(if search.score(&t) > search.score(&s) {
                    alternatives.clear();
                    t
                } else {
                    s
                }),
                (s, t) => s.or(t),
            }
        }
    };
    let note = format!("{} features, {} constants", features.len(), consts.len());
    let plausible = found.as_ref().is_some_and(|e| search.score(e) >= 0);
    let to_program = |body: Expr| {
        let mut used = Vec::new();
        body.features(&mut used);
        used.sort_unstable();
        let body = body.remap(&|i| used.iter().position(|u| *u == i).expect("used feature"));
        DslProgram { features: used.iter().map(|&i| features[i].clone()).collect(), body }
    };
    let program = found.map(to_program);
    let mut alternatives: Vec<DslProgram> =
        if program.is_some() { alternatives.into_iter().map(to_program).collect() } else { Vec::new() };
    // The chosen program with one feature swapped for an equally named twin.
    if let Some(p) = &program {
        for (k, f) in p.features.iter().enumerate() {
            let Some(i) = features.iter().position(|x| x == f) else { continue };
            for twin in twins[i].iter().take(2) {
                let mut alt = p.clone();
                alt.features[k] = twin.clone();
                alternatives.push(alt);
            }
        }
    }
    Outcome { program, alternatives, plausible, best_partial: search.best_partial, terms_evaluated: search.evals, note }
}
