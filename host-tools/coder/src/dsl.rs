//! The offline synthesizer's typed language: features read the input (folds over bytes, fixed
//! offsets, prefixes, context fields, per-key map state) and an expression over features and
//! constants computes r0. [`crate::codegen`] compiles a [`DslProgram`] to eBPF; the evaluator
//! here has exactly the same 64-bit semantics (eBPF's `x / 0 = 0`, `x % 0 = x`, shifts mod 64).

use std::collections::HashMap;
use std::fmt;

use crate::task::{Example, Input, Layout};

/// A set of byte values: a union of inclusive ranges, optionally negated.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Pred {
    pub name: String,
    pub ranges: Vec<(u8, u8)>,
    pub negate: bool,
}

impl Pred {
    pub fn byte(c: u8) -> Pred {
        Pred { name: byte_name(c), ranges: vec![(c, c)], negate: false }
    }

    pub fn class(name: &str, ranges: &[(u8, u8)]) -> Pred {
        Pred { name: name.to_string(), ranges: ranges.to_vec(), negate: false }
    }

    pub fn not(&self) -> Pred {
        Pred { name: format!("not {}", self.name), ranges: self.ranges.clone(), negate: !self.negate }
    }

    pub fn holds(&self, b: u8) -> bool {
        self.ranges.iter().any(|&(lo, hi)| (lo..=hi).contains(&b)) != self.negate
    }
}

/// How a byte is named in program listings.
pub fn byte_name(c: u8) -> String {
    match c {
        b' ' => "' '".into(),
        b'\n' => "'\\n'".into(),
        b'\t' => "'\\t'".into(),
        0x21..=0x7e => format!("'{}'", c as char),
        _ => format!("{c:#04x}"),
    }
}

/// A fold over every input byte, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Fold {
    Sum,
    Xor,
    Or,
    And,
    Max,
    Min,
    Last,
    /// 32-bit FNV-1a.
    Fnv1a32,
    /// 32-bit djb2 (`h = h * 33 + b`, from 5381).
    Djb2,
}

impl Fold {
    pub const ALL: [Fold; 9] =
        [Fold::Sum, Fold::Xor, Fold::Or, Fold::And, Fold::Max, Fold::Min, Fold::Last, Fold::Fnv1a32, Fold::Djb2];

    pub fn init(self) -> u64 {
        match self {
            Fold::And | Fold::Min => 0xff,
            Fold::Fnv1a32 => 0x811c_9dc5,
            Fold::Djb2 => 5381,
            _ => 0,
        }
    }

    pub fn step(self, acc: u64, b: u64) -> u64 {
        match self {
            Fold::Sum => acc.wrapping_add(b),
            Fold::Xor => acc ^ b,
            Fold::Or => acc | b,
            Fold::And => acc & b,
            Fold::Max => acc.max(b),
            Fold::Min => acc.min(b),
            Fold::Last => b,
            Fold::Fnv1a32 => ((acc ^ b).wrapping_mul(16_777_619)) & 0xffff_ffff,
            Fold::Djb2 => (acc.wrapping_mul(33).wrapping_add(b)) & 0xffff_ffff,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Fold::Sum => "sum",
            Fold::Xor => "xor",
            Fold::Or => "or",
            Fold::And => "and",
            Fold::Max => "max",
            Fold::Min => "min",
            Fold::Last => "last",
            Fold::Fnv1a32 => "fnv1a32",
            Fold::Djb2 => "djb2",
        }
    }
}

/// How an adjacent pair of bytes compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PairCmp {
    Equal,
    /// The next byte is larger.
    Rising,
    /// The next byte is smaller.
    Falling,
}

impl PairCmp {
    pub const ALL: [PairCmp; 3] = [PairCmp::Equal, PairCmp::Rising, PairCmp::Falling];

    pub fn holds(self, prev: u8, next: u8) -> bool {
        match self {
            PairCmp::Equal => prev == next,
            PairCmp::Rising => next > prev,
            PairCmp::Falling => next < prev,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            PairCmp::Equal => "equal",
            PairCmp::Rising => "rising",
            PairCmp::Falling => "falling",
        }
    }
}

/// What a value means, which decides the operations that make sense on it: identifiers and
/// categories are only compared with constants (or bucketed), quantities get arithmetic,
/// core numbers stay core numbers. The typing keeps the search from "explaining" examples with
/// coincidences such as `client % (tool - 1)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Ty {
    Quantity,
    Id,
    Category,
    Cpu,
    Bool,
    Const,
}

/// The meaning of a context field, by the hook catalog's field names.
pub fn field_type(name: &str) -> Ty {
    match name {
        "class" => Ty::Category,
        "task" | "client" | "tool" | "hook" => Ty::Id,
        "prev_cpu" | "waker_cpu" | "cpu" => Ty::Cpu,
        _ => Ty::Quantity,
    }
}

/// The type of `a op b`, or `None` when the combination means nothing.
pub fn combine(op: Op, a: Ty, b: Ty) -> Option<Ty> {
    use Op::*;
    use Ty::*;
    match (op, a, b) {
        (_, Const, Const) => None,
        (Eq | Ne, Quantity | Id | Category | Cpu, Const) => Some(Bool),
        (Eq | Ne, Cpu, Cpu) | (Eq | Ne, Quantity, Quantity) => Some(Bool),
        (Lt | Le | Gt | Ge, Quantity, Quantity | Const) | (Lt | Le | Gt | Ge, Const, Quantity) => Some(Bool),
        (Add | Sub | Mul | Div | Mod | Min | Max | Shl | Shr | And | Or | Xor, Quantity, Quantity | Const) => {
            Some(Quantity)
        }
        (Sub | Div | Shl | Shr, Const, Quantity) => Some(Quantity),
        // Bucketing an identifier (task % 4) gives an index, not an amount.
        (Mod, Id, Const) => Some(Cpu),
        (Mod, Cpu, Const) => Some(Cpu),
        (Mul | And, Bool, Const | Quantity) => Some(Quantity),
        (And | Or | Xor, Bool, Bool) => Some(Bool),
        _ => None,
    }
}

/// Where a map feature's key comes from: a context field, or one global entry.
pub type KeyField = Option<usize>;

/// A value read from the program's input.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Feature {
    /// Input length in bytes.
    Len,
    Fold(Fold),
    /// Bytes in the set.
    Count(Pred),
    /// Sum of the bytes in the set.
    SumIf(Pred),
    /// Index of the first byte in the set (the length when none is).
    FirstIndex(Pred),
    /// Maximal runs of bytes in the set (e.g. words).
    Runs(Pred),
    /// The number written in leading decimal digits.
    Decimal,
    /// Index of the last byte in the set (the length when none is).
    LastIndex(Pred),
    /// Set bits over all bytes (population count).
    Bits,
    /// A sum or xor over the bytes at even (`odd: false`) or odd positions only.
    Strided {
        fold: Fold,
        odd: bool,
    },
    /// Adjacent pairs `(b[i-1], b[i])` that compare this way.
    Pairs(PairCmp),
    /// The ones'-complement sum of the big-endian 16-bit words (an odd trailing byte padded
    /// with zero), end-around carries folded into 16 bits: the Internet checksum before its
    /// final complement (RFC 1071).
    OnesSum,
    /// Bytes `8k..8k+8` as a little-endian word (0 past the end); the base of the fixed-offset reads.
    Head(u8),
    /// Byte `i` (0 past the end), `i < 16`.
    ByteAt(u8),
    /// An unsigned `size`-byte word at `offset` within one 8-byte head.
    Word {
        offset: u8,
        size: u8,
        big_endian: bool,
    },
    /// 1 when the input starts with these bytes (at most 16).
    Prefix(Vec<u8>),
    /// A context field (index into [`Layout::fields`]).
    Field(usize),
    /// Per-key call counter: adds one, yields the new count.
    MapCount {
        key: KeyField,
    },
    /// Per-key running sum of a field, yields the new sum.
    MapSum {
        key: KeyField,
        add: usize,
    },
    /// Per-key last value of a field: stores it, yields the previous one (0 the first time).
    MapPrev {
        key: KeyField,
        store: usize,
    },
}

impl Feature {
    /// Runs in the fused loop over the input bytes.
    pub fn in_loop(&self) -> bool {
        matches!(
            self,
            Feature::Len
                | Feature::Fold(_)
                | Feature::Count(_)
                | Feature::SumIf(_)
                | Feature::FirstIndex(_)
                | Feature::Runs(_)
                | Feature::Decimal
                | Feature::Head(_)
                | Feature::LastIndex(_)
                | Feature::Bits
                | Feature::Strided { .. }
                | Feature::Pairs(_)
                | Feature::OnesSum
        )
    }

    pub fn ty(&self, layout: &Layout) -> Ty {
        match self {
            Feature::Field(i) => layout.fields().get(*i).map_or(Ty::Quantity, |f| field_type(f.name)),
            Feature::Fold(Fold::Fnv1a32 | Fold::Djb2) => Ty::Id,
            Feature::Prefix(_) => Ty::Bool,
            _ => Ty::Quantity,
        }
    }

    pub fn uses_map(&self) -> bool {
        matches!(self, Feature::MapCount { .. } | Feature::MapSum { .. } | Feature::MapPrev { .. })
    }

    /// Loop features a derived feature is computed from.
    pub fn depends_on(&self) -> Vec<Feature> {
        match self {
            Feature::ByteAt(i) => vec![Feature::Head(i / 8)],
            Feature::Word { offset, .. } => vec![Feature::Head(offset / 8)],
            Feature::Prefix(p) => {
                let mut d = vec![Feature::Head(0)];
                if p.len() > 8 {
                    d.push(Feature::Head(1));
                }
                d
            }
            _ => Vec::new(),
        }
    }

    /// Values over the examples, in order (map features see the examples as a call sequence).
    pub fn values(&self, examples: &[Example], layout: &Layout) -> Vec<u64> {
        let mut state: HashMap<u64, u64> = HashMap::new();
        examples.iter().map(|e| self.value(&e.input, layout, &mut state)).collect()
    }

    /// One value; `state` is this feature's map.
    pub fn value(&self, input: &Input, layout: &Layout, state: &mut HashMap<u64, u64>) -> u64 {
        let field = |i: usize| -> u64 {
            match input {
                Input::Fields(v) => {
                    let size = layout.fields().get(i).map_or(8, |f| f.size_bytes);
                    let raw = v.get(i).copied().unwrap_or(0);
                    if size >= 8 {
                        raw
                    } else {
                        raw & ((1u64 << (8 * size)) - 1)
                    }
                }
                Input::Bytes(_) => 0,
            }
        };
        let key = |k: KeyField| k.map_or(0, field);
        let bytes: &[u8] = match input {
            Input::Bytes(b) => b,
            Input::Fields(_) => &[],
        };
        match self {
            Feature::Len => bytes.len() as u64,
            Feature::Fold(f) => bytes.iter().fold(f.init(), |acc, &b| f.step(acc, b as u64)),
            Feature::Count(p) => bytes.iter().filter(|&&b| p.holds(b)).count() as u64,
            Feature::SumIf(p) => bytes.iter().filter(|&&b| p.holds(b)).map(|&b| b as u64).sum(),
            Feature::FirstIndex(p) => bytes.iter().position(|&b| p.holds(b)).unwrap_or(bytes.len()) as u64,
            Feature::Runs(p) => {
                let mut prev = false;
                let mut runs = 0;
                for &b in bytes {
                    let m = p.holds(b);
                    runs += (m && !prev) as u64;
                    prev = m;
                }
                runs
            }
            Feature::Decimal => {
                let mut acc = 0u64;
                for &b in bytes {
                    if !b.is_ascii_digit() {
                        break;
                    }
                    acc = acc.wrapping_mul(10).wrapping_add((b - b'0') as u64);
                }
                acc
            }
            Feature::Head(k) => head(bytes, *k),
            Feature::LastIndex(p) => bytes.iter().rposition(|&b| p.holds(b)).unwrap_or(bytes.len()) as u64,
            Feature::Bits => bytes.iter().map(|b| b.count_ones() as u64).sum(),
            Feature::Strided { fold, odd } => bytes
                .iter()
                .enumerate()
                .filter(|(i, _)| (i % 2 == 1) == *odd)
                .fold(fold.init(), |acc, (_, &b)| fold.step(acc, b as u64)),
            Feature::Pairs(cmp) => bytes.windows(2).filter(|w| cmp.holds(w[0], w[1])).count() as u64,
            Feature::OnesSum => {
                let mut sum: u64 =
                    bytes.chunks(2).map(|w| (u64::from(w[0]) << 8) | u64::from(w.get(1).copied().unwrap_or(0))).sum();
                while sum >> 16 != 0 {
                    sum = (sum & 0xffff) + (sum >> 16);
                }
                sum
            }
            Feature::ByteAt(i) => bytes.get(*i as usize).copied().unwrap_or(0) as u64,
            Feature::Word { offset, size, big_endian } => {
                let le = (head(bytes, offset / 8) >> (8 * (offset % 8) as u32)) & size_mask(*size);
                if *big_endian {
                    swap(le, *size)
                } else {
                    le
                }
            }
            Feature::Prefix(p) => bytes.starts_with(p) as u64,
            Feature::Field(i) => field(*i),
            Feature::MapCount { key: k } => {
                let v = state.entry(key(*k)).or_insert(0);
                *v = v.wrapping_add(1);
                *v
            }
            Feature::MapSum { key: k, add } => {
                let add = field(*add);
                let v = state.entry(key(*k)).or_insert(0);
                *v = v.wrapping_add(add);
                *v
            }
            Feature::MapPrev { key: k, store } => {
                let new = field(*store);
                state.insert(key(*k), new).unwrap_or(0)
            }
        }
    }

    pub fn describe(&self, layout: &Layout) -> String {
        let fname = |i: usize| layout.fields().get(i).map_or("?", |f| f.name).to_string();
        let key = |k: &KeyField| k.map_or("global".to_string(), &fname);
        match self {
            Feature::Len => "len(input)".into(),
            Feature::Fold(f) => format!("{}(bytes)", f.name()),
            Feature::Count(p) => format!("count(b in {})", p.name),
            Feature::SumIf(p) => format!("sum(b if b in {})", p.name),
            Feature::FirstIndex(p) => format!("index_of_first(b in {})", p.name),
            Feature::Runs(p) => format!("runs(b in {})", p.name),
            Feature::Decimal => "leading_decimal(input)".into(),
            Feature::Head(k) => format!("le64(input[{}..{}])", 8 * k, 8 * k + 8),
            Feature::LastIndex(p) => format!("index_of_last(b in {})", p.name),
            Feature::Bits => "popcount(bytes)".into(),
            Feature::Strided { fold, odd } => {
                format!("{}(bytes at {} positions)", fold.name(), if *odd { "odd" } else { "even" })
            }
            Feature::Pairs(cmp) => format!("adjacent_pairs({})", cmp.name()),
            Feature::OnesSum => "ones_complement_sum(be16 words)".into(),
            Feature::ByteAt(i) => format!("input[{i}]"),
            Feature::Word { offset, size, big_endian } => {
                format!("{}{}(input[{offset}..{}])", if *big_endian { "be" } else { "le" }, size * 8, offset + size)
            }
            Feature::Prefix(p) => format!("starts_with({:?})", String::from_utf8_lossy(p)),
            Feature::Field(i) => fname(*i),
            Feature::MapCount { key: k } => format!("count_calls[{}] += 1", key(k)),
            Feature::MapSum { key: k, add } => format!("total[{}] += {}", key(k), fname(*add)),
            Feature::MapPrev { key: k, store } => format!("swap(last[{}], {})", key(k), fname(*store)),
        }
    }
}

fn head(bytes: &[u8], k: u8) -> u64 {
    let mut word = [0u8; 8];
    for (i, w) in word.iter_mut().enumerate() {
        *w = bytes.get(8 * k as usize + i).copied().unwrap_or(0);
    }
    u64::from_le_bytes(word)
}

pub fn size_mask(size: u8) -> u64 {
    if size >= 8 {
        u64::MAX
    } else {
        (1u64 << (8 * size as u32)) - 1
    }
}

fn swap(v: u64, size: u8) -> u64 {
    match size {
        2 => (v as u16).swap_bytes() as u64,
        4 => (v as u32).swap_bytes() as u64,
        _ => v.swap_bytes(),
    }
}

/// Binary operators (comparisons yield 0 or 1; all unsigned).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    And,
    Or,
    Xor,
    Shl,
    Shr,
    Min,
    Max,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Op {
    pub const ARITH: [Op; 12] =
        [Op::Add, Op::Sub, Op::Mul, Op::Div, Op::Mod, Op::And, Op::Or, Op::Xor, Op::Shl, Op::Shr, Op::Min, Op::Max];
    pub const CMP: [Op; 6] = [Op::Eq, Op::Ne, Op::Lt, Op::Le, Op::Gt, Op::Ge];

    pub fn apply(self, a: u64, b: u64) -> u64 {
        match self {
            Op::Add => a.wrapping_add(b),
            Op::Sub => a.wrapping_sub(b),
            Op::Mul => a.wrapping_mul(b),
            Op::Div => a.checked_div(b).unwrap_or(0),
            Op::Mod => a.checked_rem(b).unwrap_or(a),
            Op::And => a & b,
            Op::Or => a | b,
            Op::Xor => a ^ b,
            Op::Shl => a.wrapping_shl((b & 63) as u32),
            Op::Shr => a.wrapping_shr((b & 63) as u32),
            Op::Min => a.min(b),
            Op::Max => a.max(b),
            Op::Eq => (a == b) as u64,
            Op::Ne => (a != b) as u64,
            Op::Lt => (a < b) as u64,
            Op::Le => (a <= b) as u64,
            Op::Gt => (a > b) as u64,
            Op::Ge => (a >= b) as u64,
        }
    }

    pub fn commutative(self) -> bool {
        matches!(self, Op::Add | Op::Mul | Op::And | Op::Or | Op::Xor | Op::Min | Op::Max | Op::Eq | Op::Ne)
    }

    pub fn is_cmp(self) -> bool {
        Op::CMP.contains(&self)
    }

    pub fn symbol(self) -> &'static str {
        match self {
            Op::Add => "+",
            Op::Sub => "-",
            Op::Mul => "*",
            Op::Div => "/",
            Op::Mod => "%",
            Op::And => "&",
            Op::Or => "|",
            Op::Xor => "^",
            Op::Shl => "<<",
            Op::Shr => ">>",
            Op::Min => "min",
            Op::Max => "max",
            Op::Eq => "==",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
        }
    }
}

/// An expression over features (by index into the program's feature list) and constants.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Expr {
    Const(u64),
    Feat(usize),
    Bin(Op, Box<Expr>, Box<Expr>),
    /// `cond != 0 ? then : else`.
    If(Box<Expr>, Box<Expr>, Box<Expr>),
}

impl Expr {
    pub fn bin(op: Op, a: Expr, b: Expr) -> Expr {
        Expr::Bin(op, Box::new(a), Box::new(b))
    }

    pub fn eval(&self, feats: &[u64]) -> u64 {
        match self {
            Expr::Const(c) => *c,
            Expr::Feat(i) => feats[*i],
            Expr::Bin(op, a, b) => op.apply(a.eval(feats), b.eval(feats)),
            Expr::If(c, a, b) => {
                if c.eval(feats) != 0 {
                    a.eval(feats)
                } else {
                    b.eval(feats)
                }
            }
        }
    }

    pub fn size(&self) -> usize {
        match self {
            Expr::Const(_) | Expr::Feat(_) => 1,
            Expr::Bin(_, a, b) => 1 + a.size() + b.size(),
            Expr::If(c, a, b) => 1 + c.size() + a.size() + b.size(),
        }
    }

    /// Features used, by index.
    pub fn features(&self, out: &mut Vec<usize>) {
        match self {
            Expr::Const(_) => {}
            Expr::Feat(i) => {
                if !out.contains(i) {
                    out.push(*i)
                }
            }
            Expr::Bin(_, a, b) => {
                a.features(out);
                b.features(out);
            }
            Expr::If(c, a, b) => {
                c.features(out);
                a.features(out);
                b.features(out);
            }
        }
    }

    /// Renumbers feature references.
    pub fn remap(&self, map: &dyn Fn(usize) -> usize) -> Expr {
        match self {
            Expr::Const(c) => Expr::Const(*c),
            Expr::Feat(i) => Expr::Feat(map(*i)),
            Expr::Bin(op, a, b) => Expr::bin(*op, a.remap(map), b.remap(map)),
            Expr::If(c, a, b) => Expr::If(Box::new(c.remap(map)), Box::new(a.remap(map)), Box::new(b.remap(map))),
        }
    }

    pub fn render(&self, names: &[String]) -> String {
        match self {
            Expr::Const(c) if *c > 0xffff => format!("{c:#x}"),
            Expr::Const(c) => c.to_string(),
            Expr::Feat(i) => names.get(*i).cloned().unwrap_or_else(|| format!("f{i}")),
            Expr::Bin(op @ (Op::Min | Op::Max), a, b) => {
                format!("{}({}, {})", op.symbol(), a.render(names), b.render(names))
            }
            Expr::Bin(op, a, b) => format!("({} {} {})", a.render(names), op.symbol(), b.render(names)),
            Expr::If(c, a, b) => {
                format!("(if {} then {} else {})", c.render(names), a.render(names), b.render(names))
            }
        }
    }
}

/// A complete offline program: features computed first, then `body` is r0.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DslProgram {
    pub features: Vec<Feature>,
    pub body: Expr,
}

impl DslProgram {
    pub fn eval_all(&self, examples: &[Example], layout: &Layout) -> Vec<u64> {
        let columns: Vec<Vec<u64>> = self.features.iter().map(|f| f.values(examples, layout)).collect();
        (0..examples.len())
            .map(|i| {
                let row: Vec<u64> = columns.iter().map(|c| c[i]).collect();
                self.body.eval(&row)
            })
            .collect()
    }

    pub fn render(&self, layout: &Layout) -> String {
        let names: Vec<String> = self.features.iter().map(|f| f.describe(layout)).collect();
        format!("return {}", self.body.render(&names))
    }
}

impl fmt::Display for Pred {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn division_and_shift_follow_ebpf() {
        assert_eq!(Op::Div.apply(7, 0), 0);
        assert_eq!(Op::Mod.apply(7, 0), 7);
        assert_eq!(Op::Shl.apply(1, 65), 2);
    }

    #[test]
    fn byte_features() {
        let layout = Layout::Packet;
        let input = Input::Bytes(b"12 ab  cd".to_vec());
        let mut s = HashMap::new();
        let space = Pred::byte(b' ');
        assert_eq!(Feature::Count(space.clone()).value(&input, &layout, &mut s), 3);
        assert_eq!(Feature::Runs(space.not()).value(&input, &layout, &mut s), 3);
        assert_eq!(Feature::Decimal.value(&input, &layout, &mut s), 12);
        assert_eq!(Feature::FirstIndex(space).value(&input, &layout, &mut s), 2);
        let w = Feature::Word { offset: 0, size: 2, big_endian: true };
        assert_eq!(w.value(&input, &layout, &mut s), 0x3132);
        assert_eq!(Feature::Prefix(b"12 ".to_vec()).value(&input, &layout, &mut s), 1);
    }
}
