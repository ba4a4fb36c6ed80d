//! Compiles a [`DslProgram`] to eBPF assembly (kingly-bpf's syntax).
//!
//! Shape of a `tool` program: one fused loop over the input computes every byte feature, with
//! branch-free updates (`b == c` is `((b ^ c) - 1) >> 63`), so the only exits are "end of
//! input" and "4096 bytes read" and the verifier explores one path per iteration. Struct
//! contexts (`decision`, `timer`) keep the context pointer in r9; map features run first and
//! leave their values in stack slots. The body is compiled into r0 with registers by depth.

use std::fmt::Write;

use anyhow::{bail, Result};
use kingly_bpf::hooks::TOOL_MAX_INPUT_BYTES;
use kingly_bpf::{MapDef, MapKind};

use crate::dsl::{size_mask, DslProgram, Expr, Feature, Fold, Op, PairCmp, Pred};
use crate::task::Layout;

/// Compiled output: assembly text and the maps `map:N` refers to.
#[derive(Clone, Debug)]
pub struct Compiled {
    pub asm: String,
    pub maps: Vec<MapDef>,
}

/// The map each state feature owns: a hash from an 8-byte key to an 8-byte value.
pub const STATE_MAP: MapDef = MapDef { kind: MapKind::Hash, key_size_bytes: 8, value_size_bytes: 8, max_entries: 1024 };

const BODY_REGS: [u8; 8] = [0, 1, 2, 3, 4, 5, 6, 7];

struct Gen<'a> {
    out: String,
    labels: usize,
    layout: &'a Layout,
    /// Every feature computed (the program's plus the loop features derived ones need).
    all: Vec<Feature>,
    /// Stack offset (positive; slot is `[%r10-off]`) of each entry of `all`.
    slot: Vec<i32>,
    next_slot: i32,
}

impl Gen<'_> {
    fn line(&mut self, text: impl AsRef<str>) {
        self.out.push_str("    ");
        self.out.push_str(text.as_ref());
        self.out.push('\n');
    }

    fn label(&mut self, stem: &str) -> String {
        self.labels += 1;
        format!("{stem}_{}", self.labels)
    }

    fn place(&mut self, label: &str) {
        let _ = writeln!(self.out, "{label}:");
    }

    fn alloc(&mut self) -> Result<i32> {
        self.next_slot += 8;
        if self.next_slot > 512 {
            bail!("program needs more than 512 bytes of stack");
        }
        Ok(self.next_slot)
    }

    fn index_of(&self, f: &Feature) -> usize {
        self.all.iter().position(|g| g == f).expect("feature was collected")
    }

    fn mov_imm(&mut self, reg: u8, value: u64) {
        if value <= i32::MAX as u64 {
            self.line(format!("mov %r{reg}, {value}"));
        } else {
            self.line(format!("lddw %r{reg}, {value:#x}"));
        }
    }

    /// `dst = (b in pred)` for the byte in r4, using `t` and `u` as scratch.
    fn pred(&mut self, pred: &Pred, dst: u8, t: u8, u: u8) {
        for (i, &(lo, hi)) in pred.ranges.iter().enumerate() {
            let d = if i == 0 { dst } else { u };
            if lo == hi {
                self.line(format!("mov %r{d}, %r4"));
                self.line(format!("xor %r{d}, {lo}"));
                self.line(format!("sub %r{d}, 1"));
                self.line(format!("rsh %r{d}, 63"));
            } else {
                // x = b + 256 - lo is in [256, 256 + hi - lo] exactly when lo <= b <= hi.
                self.line(format!("mov %r{d}, %r4"));
                self.line(format!("add %r{d}, {}", 256 - lo as u32));
                self.line(format!("mov %r{t}, %r{d}"));
                self.line(format!("rsh %r{t}, 8"));
                self.line(format!("sub %r{d}, {}", 257 + hi as u32 - lo as u32));
                self.line(format!("rsh %r{d}, 63"));
                self.line(format!("and %r{d}, %r{t}"));
            }
            if i > 0 {
                self.line(format!("or %r{dst}, %r{u}"));
            }
        }
        if pred.negate {
            self.line(format!("xor %r{dst}, 1"));
        }
    }

    fn load_slot(&mut self, reg: u8, off: i32) {
        self.line(format!("ldxdw %r{reg}, [%r10-{off}]"));
    }

    fn store_slot(&mut self, off: i32, reg: u8) {
        self.line(format!("stxdw [%r10-{off}], %r{reg}"));
    }

    /// Per-byte update of one loop feature; byte in r4, index in r2; scratch r0, r1, r3, r5-r7.
    fn loop_update(&mut self, f: &Feature, s: i32, aux: i32) {
        match f {
            Feature::Len => {}
            Feature::Fold(fold) => {
                self.load_slot(3, s);
                match fold {
                    Fold::Sum => self.line("add %r3, %r4"),
                    Fold::Xor => self.line("xor %r3, %r4"),
                    Fold::Or => self.line("or %r3, %r4"),
                    Fold::And => self.line("and %r3, %r4"),
                    Fold::Max | Fold::Min => {
                        // lt = (x - y) >> 63 is x < y for values below 2^63; pick with a mask.
                        let (x, y) = if *fold == Fold::Max { (3, 4) } else { (4, 3) };
                        self.line(format!("mov %r5, %r{x}"));
                        self.line(format!("sub %r5, %r{y}"));
                        self.line("rsh %r5, 63");
                        self.line("neg %r5");
                        self.line("mov %r6, %r3");
                        self.line("xor %r6, %r4");
                        self.line("and %r6, %r5");
                        self.line("xor %r3, %r6");
                    }
                    Fold::Last => self.line("mov %r3, %r4"),
                    Fold::Fnv1a32 => {
                        self.line("xor %r3, %r4");
                        self.line("mul %r3, 16777619");
                        self.line("mov32 %r3, %r3");
                    }
                    Fold::Djb2 => {
                        self.line("mul %r3, 33");
                        self.line("add %r3, %r4");
                        self.line("mov32 %r3, %r3");
                    }
                }
                self.store_slot(s, 3);
            }
            Feature::Count(p) | Feature::SumIf(p) => {
                self.pred(p, 5, 6, 7);
                if matches!(f, Feature::SumIf(_)) {
                    self.line("mul %r5, %r4");
                }
                self.load_slot(3, s);
                self.line("add %r3, %r5");
                self.store_slot(s, 3);
            }
            Feature::FirstIndex(p) => {
                // not_yet &= !match; index += not_yet
                self.pred(p, 5, 6, 7);
                self.line("xor %r5, 1");
                self.load_slot(6, aux);
                self.line("and %r6, %r5");
                self.store_slot(aux, 6);
                self.load_slot(3, s);
                self.line("add %r3, %r6");
                self.store_slot(s, 3);
            }
            Feature::Runs(p) => {
                // runs += match & !previous_match
                self.pred(p, 5, 6, 7);
                self.load_slot(6, aux);
                self.store_slot(aux, 5);
                self.line("xor %r6, 1");
                self.line("and %r6, %r5");
                self.load_slot(3, s);
                self.line("add %r3, %r6");
                self.store_slot(s, 3);
            }
            Feature::Decimal => {
                // go &= is_digit; acc = acc * (1 + 9 go) + go * (b - '0')
                self.pred(&Pred::class("digit", &[(b'0', b'9')]), 5, 6, 7);
                self.load_slot(6, aux);
                self.line("and %r5, %r6");
                self.store_slot(aux, 5);
                self.line("mov %r6, %r5");
                self.line("mul %r6, 9");
                self.line("add %r6, 1");
                self.load_slot(3, s);
                self.line("mul %r3, %r6");
                self.line("mov %r7, %r4");
                self.line("sub %r7, 48");
                self.line("mul %r7, %r5");
                self.line("add %r3, %r7");
                self.store_slot(s, 3);
            }
            Feature::LastIndex(p) => {
                // found' = found | m; s' = m ? i : (found ? s : i + 1), without branches.
                self.pred(p, 5, 6, 7);
                self.load_slot(6, aux);
                self.load_slot(3, s);
                self.line("mul %r3, %r6");
                self.line("mov %r7, %r2");
                self.line("add %r7, 1");
                self.line("mov %r0, 1");
                self.line("sub %r0, %r6");
                self.line("mul %r7, %r0");
                self.line("add %r3, %r7");
                self.line("mov %r0, 1");
                self.line("sub %r0, %r5");
                self.line("mul %r3, %r0");
                self.line("mov %r7, %r2");
                self.line("mul %r7, %r5");
                self.line("add %r3, %r7");
                self.store_slot(s, 3);
                self.line("or %r6, %r5");
                self.store_slot(aux, 6);
            }
            Feature::Bits => {
                // x = b - ((b >> 1) & 0x55); x = (x & 0x33) + ((x >> 2) & 0x33); (x + (x >> 4)) & 0xf
                self.line("mov %r5, %r4");
                self.line("rsh %r5, 1");
                self.line("and %r5, 0x55");
                self.line("mov %r6, %r4");
                self.line("sub %r6, %r5");
                self.line("mov %r5, %r6");
                self.line("and %r5, 0x33");
                self.line("rsh %r6, 2");
                self.line("and %r6, 0x33");
                self.line("add %r5, %r6");
                self.line("mov %r6, %r5");
                self.line("rsh %r6, 4");
                self.line("add %r5, %r6");
                self.line("and %r5, 0xf");
                self.load_slot(3, s);
                self.line("add %r3, %r5");
                self.store_slot(s, 3);
            }
            Feature::Strided { fold, odd } => {
                // in = (i & 1) == odd; acc op= b * in (0 leaves a sum or an xor unchanged)
                self.line("mov %r5, %r2");
                self.line("and %r5, 1");
                if !*odd {
                    self.line("xor %r5, 1");
                }
                self.line("mul %r5, %r4");
                self.load_slot(3, s);
                match fold {
                    Fold::Xor => self.line("xor %r3, %r5"),
                    _ => self.line("add %r3, %r5"),
                }
                self.store_slot(s, 3);
            }
            Feature::Pairs(cmp) => {
                // have = i > 0; count += have * cmp(prev, b); prev = b
                self.load_slot(6, aux);
                match cmp {
                    PairCmp::Equal => {
                        self.line("mov %r5, %r6");
                        self.line("xor %r5, %r4");
                        self.line("sub %r5, 1");
                    }
                    PairCmp::Rising => {
                        self.line("mov %r5, %r6");
                        self.line("sub %r5, %r4");
                    }
                    PairCmp::Falling => {
                        self.line("mov %r5, %r4");
                        self.line("sub %r5, %r6");
                    }
                }
                self.line("rsh %r5, 63");
                self.line("mov %r7, 0");
                self.line("sub %r7, %r2");
                self.line("rsh %r7, 63");
                self.line("and %r5, %r7");
                self.load_slot(3, s);
                self.line("add %r3, %r5");
                self.store_slot(s, 3);
                self.store_slot(aux, 4);
            }
            Feature::OnesSum => {
                // acc += b << 8 at even positions, b at odd; then fold the carry back in: acc
                // stays within 16 bits, so one fold a byte matches folding the total at the end.
                self.line("mov %r5, %r2");
                self.line("and %r5, 1");
                self.line("xor %r5, 1");
                self.line("lsh %r5, 3");
                self.line("mov %r6, %r4");
                self.line("lsh %r6, %r5");
                self.load_slot(3, s);
                self.line("add %r3, %r6");
                self.line("mov %r6, %r3");
                self.line("rsh %r6, 16");
                self.line("and %r3, 0xffff");
                self.line("add %r3, %r6");
                self.store_slot(s, 3);
            }
            Feature::Head(k) => {
                // d = j - 8k; in = (d >> 3) == 0; head |= (b << 8 (d & 7)) * in
                self.line("mov %r5, %r2");
                self.line(format!("sub %r5, {}", 8 * *k as u32));
                self.line("mov %r6, %r5");
                self.line("rsh %r6, 3");
                self.line("sub %r6, 1");
                self.line("rsh %r6, 63");
                self.line("and %r5, 7");
                self.line("lsh %r5, 3");
                self.line("mov %r7, %r4");
                self.line("lsh %r7, %r5");
                self.line("mul %r7, %r6");
                self.load_slot(3, s);
                self.line("or %r3, %r7");
                self.store_slot(s, 3);
            }
            _ => {}
        }
    }

    fn loop_init(&mut self, f: &Feature, s: i32, aux: i32) {
        let init = match f {
            Feature::Fold(fold) | Feature::Strided { fold, .. } => fold.init(),
            _ => 0,
        };
        self.mov_imm(3, init);
        self.store_slot(s, 3);
        match f {
            Feature::FirstIndex(_) | Feature::Decimal => {
                self.line("mov %r3, 1");
                self.store_slot(aux, 3);
            }
            Feature::Runs(_) | Feature::LastIndex(_) | Feature::Pairs(_) => self.store_slot(aux, 3),
            _ => {}
        }
    }

    fn field_load(&mut self, reg: u8, index: usize) -> Result<()> {
        let Some(field) = self.layout.fields().get(index) else { bail!("field {index} is not in this context") };
        let width = if field.size_bytes == 4 { "w" } else { "dw" };
        let off = field.offset;
        self.line(format!("ldx{width} %r{reg}, [%r9+{off}]"));
        Ok(())
    }

    /// A map feature: look up the key, update, leave the feature value in its slot.
    fn map_feature(&mut self, f: &Feature, s: i32, map: usize, key_off: i32, value_off: i32) -> Result<()> {
        let key = match f {
            Feature::MapCount { key } | Feature::MapSum { key, .. } | Feature::MapPrev { key, .. } => *key,
            _ => bail!("not a map feature"),
        };
        match key {
            Some(k) => self.field_load(1, k)?,
            None => self.line("mov %r1, 0"),
        }
        self.store_slot(key_off, 1);
        self.line(format!("lddw %r1, map:{map}"));
        self.line("mov %r2, %r10");
        self.line(format!("add %r2, -{key_off}"));
        self.line("call 1");
        self.line("mov %r6, 0");
        self.line("jeq %r0, 0, +1");
        self.line("ldxdw %r6, [%r0+0]");
        match f {
            Feature::MapCount { .. } => {
                self.line("add %r6, 1");
                self.store_slot(value_off, 6);
                self.store_slot(s, 6);
            }
            Feature::MapSum { add, .. } => {
                self.field_load(7, *add)?;
                self.line("add %r6, %r7");
                self.store_slot(value_off, 6);
                self.store_slot(s, 6);
            }
            Feature::MapPrev { store, .. } => {
                self.store_slot(s, 6);
                self.field_load(7, *store)?;
                self.store_slot(value_off, 7);
            }
            _ => {}
        }
        self.line(format!("lddw %r1, map:{map}"));
        self.line("mov %r2, %r10");
        self.line(format!("add %r2, -{key_off}"));
        self.line("mov %r3, %r10");
        self.line(format!("add %r3, -{value_off}"));
        self.line("mov %r4, 0");
        self.line("call 2");
        Ok(())
    }

    fn derived(&mut self, f: &Feature, s: i32) {
        match f {
            Feature::ByteAt(i) => {
                let h = self.slot[self.index_of(&Feature::Head(i / 8))];
                self.load_slot(3, h);
                self.line(format!("rsh %r3, {}", 8 * (i % 8) as u32));
                self.line("and %r3, 255");
            }
            Feature::Word { offset, size, big_endian } => {
                let h = self.slot[self.index_of(&Feature::Head(offset / 8))];
                self.load_slot(3, h);
                if offset % 8 != 0 {
                    self.line(format!("rsh %r3, {}", 8 * (offset % 8) as u32));
                }
                match size {
                    2 => self.line("and %r3, 0xffff"),
                    4 => self.line("mov32 %r3, %r3"),
                    _ => {}
                }
                if *big_endian {
                    self.line(format!("be{} %r3", 8 * *size as u32));
                }
            }
            Feature::Prefix(p) => {
                // (data + n <= data_end) & (head0 & mask == p0) & (head1 & mask == p1).
                self.line("mov %r3, 1");
                self.line("mov %r4, %r8");
                self.line(format!("add %r4, {}", p.len()));
                self.line("jle %r4, %r9, +1");
                self.line("mov %r3, 0");
                for (k, chunk) in p.chunks(8).enumerate() {
                    let mut word = [0u8; 8];
                    word[..chunk.len()].copy_from_slice(chunk);
                    let want = u64::from_le_bytes(word);
                    let h = self.slot[self.index_of(&Feature::Head(k as u8))];
                    self.load_slot(5, h);
                    if chunk.len() < 8 {
                        self.mov_imm(6, size_mask(chunk.len() as u8));
                        self.line("and %r5, %r6");
                    }
                    self.mov_imm(6, want);
                    self.line("xor %r5, %r6");
                    // is_zero(z) = ((z | -z) >> 63) ^ 1
                    self.line("mov %r6, %r5");
                    self.line("neg %r6");
                    self.line("or %r5, %r6");
                    self.line("rsh %r5, 63");
                    self.line("xor %r5, 1");
                    self.line("and %r3, %r5");
                }
            }
            _ => return,
        }
        self.store_slot(s, 3);
    }

    fn operand_imm(e: &Expr) -> Option<u64> {
        match e {
            Expr::Const(c) if *c <= i32::MAX as u64 => Some(*c),
            _ => None,
        }
    }

    /// Loads feature `i` of the program's list into `reg`.
    fn feature(&mut self, program: &DslProgram, i: usize, reg: u8) -> Result<()> {
        match &program.features[i] {
            Feature::Field(index) => self.field_load(reg, *index),
            f => {
                let s = self.slot[self.index_of(f)];
                self.load_slot(reg, s);
                Ok(())
            }
        }
    }

    fn jump_cond(op: Op) -> &'static str {
        match op {
            Op::Eq => "jeq",
            Op::Ne => "jne",
            Op::Lt => "jlt",
            Op::Le => "jle",
            Op::Gt => "jgt",
            _ => "jge",
        }
    }

    /// Compiles `a op b` for a comparison into a jump to `target` when it holds.
    fn cond_jump(
        &mut self,
        program: &DslProgram,
        op: Op,
        a: &Expr,
        b: &Expr,
        depth: usize,
        target: &str,
    ) -> Result<()> {
        let r = self.expr(program, a, depth)?;
        let j = Self::jump_cond(op);
        match Self::operand_imm(b) {
            Some(imm) => self.line(format!("{j} %r{r}, {imm}, {target}")),
            None => {
                let s = self.expr(program, b, depth + 1)?;
                self.line(format!("{j} %r{r}, %r{s}, {target}"));
            }
        }
        Ok(())
    }

    /// Compiles `e` into `BODY_REGS[depth]`; deeper registers are scratch.
    fn expr(&mut self, program: &DslProgram, e: &Expr, depth: usize) -> Result<u8> {
        let Some(&r) = BODY_REGS.get(depth) else { bail!("expression is too deep for the registers") };
        match e {
            Expr::Const(c) => self.mov_imm(r, *c),
            Expr::Feat(i) => self.feature(program, *i, r)?,
            Expr::Bin(op, a, b) if op.is_cmp() => {
                let yes = self.label("true");
                let end = self.label("end");
                self.cond_jump(program, *op, a, b, depth, &yes)?;
                self.line(format!("mov %r{r}, 0"));
                self.line(format!("ja {end}"));
                self.place(&yes);
                self.line(format!("mov %r{r}, 1"));
                self.place(&end);
            }
            Expr::Bin(op @ (Op::Min | Op::Max), a, b) => {
                self.expr(program, a, depth)?;
                let keep = self.label("keep");
                let j = if *op == Op::Min { "jle" } else { "jge" };
                match Self::operand_imm(b) {
                    Some(imm) => {
                        self.line(format!("{j} %r{r}, {imm}, {keep}"));
                        self.line(format!("mov %r{r}, {imm}"));
                    }
                    None => {
                        let s = self.expr(program, b, depth + 1)?;
                        self.line(format!("{j} %r{r}, %r{s}, {keep}"));
                        self.line(format!("mov %r{r}, %r{s}"));
                    }
                }
                self.place(&keep);
            }
            Expr::Bin(op, a, b) => {
                self.expr(program, a, depth)?;
                let mnemonic = match op {
                    Op::Add => "add",
                    Op::Sub => "sub",
                    Op::Mul => "mul",
                    Op::Div => "div",
                    Op::Mod => "mod",
                    Op::And => "and",
                    Op::Or => "or",
                    Op::Xor => "xor",
                    Op::Shl => "lsh",
                    _ => "rsh",
                };
                match Self::operand_imm(b) {
                    Some(imm) => self.line(format!("{mnemonic} %r{r}, {imm}")),
                    None => {
                        let s = self.expr(program, b, depth + 1)?;
                        self.line(format!("{mnemonic} %r{r}, %r{s}"));
                    }
                }
            }
            Expr::If(c, a, b) => {
                let then = self.label("then");
                let end = self.label("end");
                match c.as_ref() {
                    Expr::Bin(op, x, y) if op.is_cmp() => self.cond_jump(program, *op, x, y, depth, &then)?,
                    other => {
                        let cr = self.expr(program, other, depth)?;
                        self.line(format!("jne %r{cr}, 0, {then}"));
                    }
                }
                self.expr(program, b, depth)?;
                self.line(format!("ja {end}"));
                self.place(&then);
                self.expr(program, a, depth)?;
                self.place(&end);
            }
        }
        Ok(r)
    }
}

/// Compiles a program for a context layout.
pub fn compile(program: &DslProgram, layout: &Layout) -> Result<Compiled> {
    // Every feature to compute: dependencies (heads, length) first, then the program's own.
    let mut all: Vec<Feature> = Vec::new();
    for f in &program.features {
        for d in f.depends_on() {
            if !all.contains(&d) {
                all.push(d);
            }
        }
    }
    for f in &program.features {
        if !all.contains(f) && !matches!(f, Feature::Field(_)) {
            all.push(f.clone());
        }
    }
    let packet = matches!(layout, Layout::Packet);
    if !packet && all.iter().any(|f| f.in_loop() || !f.depends_on().is_empty()) {
        bail!("byte features need a tool program (input bytes)");
    }
    if packet && (all.iter().any(|f| f.uses_map()) || program.features.iter().any(|f| matches!(f, Feature::Field(_)))) {
        bail!("context fields and map state need a decision or timer program");
    }
    let mut g = Gen { out: String::new(), labels: 0, layout, all: all.clone(), slot: Vec::new(), next_slot: 0 };
    let mut aux = Vec::new();
    for f in &all {
        let s = g.alloc()?;
        g.slot.push(s);
        let needs_aux = matches!(
            f,
            Feature::FirstIndex(_) | Feature::Runs(_) | Feature::Decimal | Feature::LastIndex(_) | Feature::Pairs(_)
        );
        aux.push(if needs_aux { g.alloc()? } else { 0 });
    }
    let mut maps = Vec::new();
    if packet {
        g.line("ldxdw %r8, [%r1+0]    # data");
        g.line("ldxdw %r9, [%r1+8]    # data_end");
        let looped: Vec<usize> = (0..all.len()).filter(|&i| all[i].in_loop()).collect();
        if !looped.is_empty() && looped.iter().all(|&i| matches!(all[i], Feature::Head(_))) {
            // Only fixed offsets: read the few bytes directly, no loop over the input.
            for &i in &looped {
                let Feature::Head(k) = all[i] else { continue };
                let done = g.label("head_done");
                let _ = writeln!(g.out, "    # {}", all[i].describe(layout));
                g.line("mov %r3, 0");
                for b in 0..8u32 {
                    let at = 8 * k as u32 + b;
                    g.line("mov %r4, %r8");
                    g.line(format!("add %r4, {}", at + 1));
                    g.line(format!("jgt %r4, %r9, {done}"));
                    g.line(format!("ldxb %r5, [%r8+{at}]"));
                    if b > 0 {
                        g.line(format!("lsh %r5, {}", 8 * b));
                    }
                    g.line("or %r3, %r5");
                }
                g.place(&done);
                let s = g.slot[i];
                g.store_slot(s, 3);
            }
        } else if !looped.is_empty() {
            for &i in &looped {
                let f = all[i].clone();
                g.loop_init(&f, g.slot[i], aux[i]);
            }
            g.line("mov %r2, 0    # byte index");
            g.place("loop");
            g.line(format!("jge %r2, {TOOL_MAX_INPUT_BYTES}, done"));
            g.line("mov %r4, %r8");
            g.line("add %r4, %r2");
            g.line("mov %r5, %r4");
            g.line("add %r5, 1");
            g.line("jgt %r5, %r9, done");
            g.line("ldxb %r4, [%r4+0]");
            for &i in &looped {
                let f = all[i].clone();
                let _ = writeln!(g.out, "    # {}", f.describe(layout));
                g.loop_update(&f, g.slot[i], aux[i]);
            }
            g.line("add %r2, 1");
            g.line("ja loop");
            g.place("done");
            if let Some(i) = all.iter().position(|f| *f == Feature::Len) {
                let s = g.slot[i];
                g.store_slot(s, 2);
            }
        }
        for (i, f) in all.iter().enumerate() {
            if !f.in_loop() {
                let _ = writeln!(g.out, "    # {}", f.describe(layout));
                g.derived(f, g.slot[i]);
            }
        }
    } else {
        g.line("mov %r9, %r1    # context");
        let map_features: Vec<usize> = (0..all.len()).filter(|&i| all[i].uses_map()).collect();
        if !map_features.is_empty() {
            let key_off = g.alloc()?;
            let value_off = g.alloc()?;
            for &i in &map_features {
                let f = all[i].clone();
                let _ = writeln!(g.out, "    # {}", f.describe(layout));
                g.map_feature(&f, g.slot[i], maps.len(), key_off, value_off)?;
                maps.push(STATE_MAP);
            }
        }
    }
    let _ = writeln!(g.out, "    # {}", program.render(layout));
    g.expr(program, &program.body, 0)?;
    g.line("exit");
    Ok(Compiled { asm: g.out, maps })
}

#[cfg(test)]
mod tests {
    use crate::dsl::{DslProgram, Expr, Feature, Fold, PairCmp, Pred};
    use crate::stages::{self, Candidate, Source};
    use crate::task::{Example, Input, Task};

    /// The compiled loop of each newer byte feature agrees with the evaluator on the VM.
    #[test]
    fn loop_features_match_the_evaluator() {
        let inputs: Vec<Vec<u8>> = vec![
            vec![],
            vec![7],
            vec![1, 1, 2],
            vec![0xff, 0x0f, 0xf0, 0x2f, 0x2f, 0x00, 9],
            b"usr/lib/x".to_vec(),
            vec![3, 2, 1, 5, 5, 5, 0, 200, 201],
            vec![0xff; 40],
            vec![0x45, 0, 0, 0x1c, 0, 0, 0x40, 0, 0x40, 0x11, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2],
        ];
        let features = [
            Feature::LastIndex(Pred::byte(b'/')),
            Feature::LastIndex(Pred::byte(5)),
            Feature::Bits,
            Feature::Strided { fold: Fold::Sum, odd: false },
            Feature::Strided { fold: Fold::Xor, odd: true },
            Feature::Pairs(PairCmp::Equal),
            Feature::Pairs(PairCmp::Rising),
            Feature::Pairs(PairCmp::Falling),
            Feature::OnesSum,
        ];
        let work = std::env::temp_dir().join(format!("kingly-codegen-test-{}", std::process::id()));
        for f in features {
            let program = DslProgram { features: vec![f.clone()], body: Expr::Feat(0) };
            let mut task = Task::parse("t", "description = \"x\"\n").unwrap();
            task.examples = inputs.iter().map(|b| Example { input: Input::Bytes(b.clone()), output: 0 }).collect();
            let outputs = program.eval_all(&task.examples, &task.layout);
            for (e, o) in task.examples.iter_mut().zip(outputs) {
                e.output = o;
            }
            let candidate =
                Candidate { source: Source::Dsl(program), plausible: true, origin: "test".into(), tokens: 0 };
            let compiled = stages::compile(&candidate, &task.layout, &work).unwrap();
            let verified = stages::verify(&compiled, task.kind).unwrap_or_else(|e| panic!("{f:?}: {e:?}"));
            let report = stages::test(&verified, &task);
            assert_eq!(report.passed, report.total, "{f:?}: {:?}", report.failures);
        }
        let _ = std::fs::remove_dir_all(work);
    }
}
