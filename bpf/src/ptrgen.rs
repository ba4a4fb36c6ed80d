//! Pointer-heavy random programs and a strict oracle for them, aimed at the verifier's pointer
//! reasoning: NULL checks, pointer arithmetic and comparisons, pointer differences, spills and
//! fills, joins, packet ranges, and stack pointers passed to subprograms.
//!
//! [`generate`] writes labelled assembly from fragments that keep a rough model of what each
//! register holds, so most choices are safe and a few ([`Shape::hostile_percent`]) are subtly
//! not. [`check`] runs a program the verifier accepted with strict region checks
//! ([`StrictLayout`]) under the production layout and two random ones, for a few random inputs:
//! a fault, a budget overrun, or a result, path or memory that depends on where the regions
//! live is a verifier bug. `tests/pointer_fuzz.rs` and `examples/pointer_fuzz.rs` drive both.

use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use crate::asm::{self, AsmError};
use crate::disasm;
use crate::hooks::{Kind, DECISION_CTX_BYTES, TOOL_CTX_BYTES};
use crate::interp::{Env, FixedPlatform, Interpreter, RunErrorKind};
use crate::isa::{Insn, RawInsn};
use crate::load::AnyProgram;
use crate::maps::{Map, MapDef, MapError, MapKind};
use crate::memory::{self, StrictLayout};
use crate::program::ProgramType;
use crate::testgen::Rng;

/// Bytes of the buffer a `conformance` program gets.
pub const CONFORMANCE_BUFFER_BYTES: u32 = 32;

/// The program types generated programs are written for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Target {
    /// 48-byte read-only context ([`Kind::Decision`]).
    Decision,
    /// Read-only packet reached through `data` at ctx+0 and `data_end` at ctx+8 ([`Kind::Tool`]).
    Tool,
    /// A writable buffer in r1, its length in r2 ([`ProgramType::conformance`]).
    Conformance,
}

impl Target {
    pub const ALL: [Target; 3] = [Target::Decision, Target::Tool, Target::Conformance];

    pub fn name(self) -> &'static str {
        match self {
            Target::Decision => "decision",
            Target::Tool => "tool",
            Target::Conformance => "conformance",
        }
    }

    pub fn from_name(name: &str) -> Option<Target> {
        Target::ALL.into_iter().find(|t| t.name() == name)
    }

    pub fn program_type(self) -> ProgramType {
        match self {
            Target::Decision => Kind::Decision.program_type(),
            Target::Tool => Kind::Tool.program_type(),
            Target::Conformance => ProgramType::conformance(CONFORMANCE_BUFFER_BYTES),
        }
    }

    fn ctx_bytes(self) -> i64 {
        match self {
            Target::Decision => DECISION_CTX_BYTES as i64,
            Target::Tool => TOOL_CTX_BYTES as i64,
            Target::Conformance => CONFORMANCE_BUFFER_BYTES as i64,
        }
    }
}

/// What to generate.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    pub target: Target,
    /// Fragments in the main program (each a handful of instructions).
    pub fragments: usize,
    /// Percent of choices that take a deliberately unsafe variant; 0 aims for safe programs.
    pub hostile_percent: u64,
    /// Whether to compare pointers plus minus their production address with 0 (`jeq p + K,
    /// 0`), a probe so effective against a "pointers are never NULL" shortcut that it hides
    /// every other finding in the same program.
    pub address_probes: bool,
}

impl Shape {
    /// A random shape for `target`: 2–9 fragments; a fifth of the programs aim to be safe.
    pub fn random(rng: &mut Rng, target: Target) -> Shape {
        Shape {
            target,
            fragments: 2 + rng.below(8) as usize,
            hostile_percent: rng.one_of(&[0, 3, 8, 15, 30]),
            address_probes: rng.odds(25),
        }
    }
}

/// A generated program.
#[derive(Clone, Debug)]
pub struct Generated {
    pub target: Target,
    pub maps: Vec<MapDef>,
    /// Labelled assembly, as [`asm::assemble`] reads it.
    pub source: String,
    pub slots: Vec<RawInsn>,
}

/// The small draws the generator needs on top of [`Rng`].
trait Draw {
    fn odds(&mut self, percent: u64) -> bool;
    fn one_of<T: Copy>(&mut self, items: &[T]) -> T;
    /// A number in `lo..=hi`.
    fn within(&mut self, lo: i64, hi: i64) -> i64;
}

impl Draw for Rng {
    fn odds(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    fn one_of<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
    fn within(&mut self, lo: i64, hi: i64) -> i64 {
        if hi <= lo {
            return lo;
        }
        match u64::try_from(hi as i128 - lo as i128 + 1) {
            Ok(span) => lo.wrapping_add(self.below(span) as i64),
            Err(_) => self.next_u64() as i64,
        }
    }
}

/// What the generator believes a register holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Held {
    /// Unwritten, clobbered, or unknown after a join: used only by hostile choices.
    Nothing,
    /// A number no larger than `max` (unsigned).
    Scalar {
        max: u64,
    },
    Ctx,
    /// `r10 + off` of the current frame.
    Stack {
        off: i64,
    },
    /// A value of map `map` from lookup `lookup` (joins get fresh lookups); usable once checked.
    Value {
        map: usize,
        lookup: u32,
        checked: bool,
    },
    /// The packet's `data`, with `range` bytes proven.
    Packet {
        range: i64,
    },
    PacketEnd,
    /// A pointer on one path and something else on another.
    Mixed,
}

impl Held {
    fn is_pointer(self) -> bool {
        !matches!(self, Held::Nothing | Held::Scalar { .. })
    }
}

/// Stack bytes `[-INIT_BYTES, 0)` of every frame are written by the prologue.
const INIT_BYTES: i64 = 64;
/// Aligned slots below the initialised area that spill fragments use.
const SPILL_SLOTS: [i64; 6] = [-72, -80, -88, -96, -104, -112];
/// Constants far beyond any region, some of them wrapping.
const HUGE: [u64; 9] =
    [1 << 32, 1 << 40, (1 << 63) - 1, 1 << 63, u64::MAX, u64::MAX - 7, 0x1_0000, 0xffff_ffff, 0x8000_0000_0000_0008];

struct Gen<'r> {
    rng: &'r mut Rng,
    target: Target,
    maps: Vec<MapDef>,
    hostile_percent: u64,
    address_probes: bool,
    /// Instructions of the function being written.
    out: String,
    /// Out-of-line blocks placed after the main program's exits.
    tail: String,
    /// Subprograms, placed last.
    subs: String,
    regs: [Held; 10],
    labels: u32,
    lookups: u32,
    /// Label a failed NULL or packet check jumps to in the current function.
    bail: String,
    /// Call depth of the function being written (0 = main).
    depth: usize,
}

/// Writes a random program of `shape`; see the module documentation.
pub fn generate(rng: &mut Rng, shape: &Shape) -> Generated {
    let maps = random_maps(rng);
    let mut g = Gen {
        rng,
        target: shape.target,
        maps,
        hostile_percent: shape.hostile_percent,
        address_probes: shape.address_probes,
        out: String::new(),
        tail: String::new(),
        subs: String::new(),
        regs: [Held::Nothing; 10],
        labels: 0,
        lookups: 0,
        bail: String::from("bail"),
        depth: 0,
    };
    g.prologue();
    for _ in 0..shape.fragments {
        g.fragment();
    }
    g.epilogue();
    let source = format!("{}bail:\n    mov %r0, 0\n    exit\n{}{}", g.out, g.tail, g.subs);
    // Every line comes from the formats in this file: a refusal is a bug here, not an input.
    let slots =
        asm::assemble(&source).unwrap_or_else(|e| panic!("ptrgen wrote a line the assembler refuses ({e}):\n{source}"));
    Generated { target: shape.target, maps: g.maps, source, slots }
}

/// 1–3 maps: arrays, hashes and per-CPU arrays with different value sizes.
fn random_maps(rng: &mut Rng) -> Vec<MapDef> {
    let count = 1 + rng.below(3) as usize;
    (0..count)
        .map(|_| {
            let kind =
                rng.one_of(&[MapKind::Array, MapKind::Array, MapKind::Hash, MapKind::Hash, MapKind::PerCpuArray]);
            let key_size_bytes = if kind == MapKind::Hash { rng.one_of(&[4, 8]) } else { 4 };
            MapDef {
                kind,
                key_size_bytes,
                value_size_bytes: rng.one_of(&[4, 8, 12, 16, 24, 32, 48, 64]),
                max_entries: rng.one_of(&[1, 2, 4, 8]),
            }
        })
        .collect()
}

impl Gen<'_> {
    fn hostile(&mut self) -> bool {
        self.rng.odds(self.hostile_percent)
    }

    /// For constructs that are rarely safe (address-dependent comparisons, differences of
    /// pointers into different objects): `percent` of the time, in programs allowed hostility.
    fn risky(&mut self, percent: u64) -> bool {
        self.hostile_percent > 0 && self.rng.odds(percent)
    }

    fn e(&mut self, line: String) {
        self.out.push_str("    ");
        self.out.push_str(&line);
        self.out.push('\n');
    }

    fn label(&mut self) -> String {
        self.labels += 1;
        format!("l{}", self.labels)
    }

    fn place(&mut self, label: &str) {
        self.out.push_str(label);
        self.out.push_str(":\n");
    }

    fn set(&mut self, r: u8, held: Held) {
        if (r as usize) < self.regs.len() {
            self.regs[r as usize] = held;
        }
    }

    fn held(&self, r: u8) -> Held {
        match r {
            10 => Held::Stack { off: 0 },
            r => self.regs[r as usize],
        }
    }

    /// A helper call clobbers r1–r5.
    fn clobber(&mut self) {
        for r in 1..=5 {
            self.regs[r] = Held::Nothing;
        }
    }

    fn call_helper(&mut self, id: u32, r0: Held) {
        self.e(format!("call {id}"));
        self.clobber();
        self.regs[0] = r0;
    }

    /// A register for a value that must survive helper calls.
    fn keeper(&mut self) -> u8 {
        self.rng.one_of(&[7, 8, 9])
    }

    /// A scratch register, not one of `avoid`.
    fn temp(&mut self, avoid: &[u8]) -> u8 {
        loop {
            let r = self.rng.one_of(&[0, 1, 2, 3, 4, 5]);
            if !avoid.contains(&r) {
                return r;
            }
        }
    }

    /// A register holding a usable pointer (r10 included); with a hostile choice, anything.
    fn pointer(&mut self, avoid: &[u8]) -> (u8, Held) {
        let hostile = self.hostile();
        let mut found: Vec<u8> = (0..10u8)
            .filter(|r| !avoid.contains(r))
            .filter(|&r| match self.regs[r as usize] {
                Held::Value { checked, .. } => checked || hostile,
                Held::Packet { range } => range > 0 || hostile,
                // A tool's context holds only `data` and `data_end`.
                Held::Ctx => self.target != Target::Tool || hostile,
                Held::Stack { .. } => true,
                Held::PacketEnd | Held::Mixed | Held::Nothing | Held::Scalar { .. } => hostile,
            })
            .collect();
        if found.is_empty() || self.rng.odds(15) {
            found.push(10);
        }
        let r = self.rng.one_of(&found);
        (r, self.held(r))
    }

    /// Byte range `[lo, hi)` around a pointer that can be accessed, and whether it is writable.
    fn extent(&self, held: Held) -> (i64, i64, bool) {
        match held {
            Held::Ctx if self.target == Target::Tool => (0, 0, false),
            Held::Ctx => (0, self.target.ctx_bytes(), self.target == Target::Conformance),
            Held::Stack { off } => (-INIT_BYTES - off, -off, true),
            Held::Value { map, .. } => (0, self.maps[map].value_size_bytes as i64, true),
            Held::Packet { range } => (0, range, false),
            _ => (0, 8, true),
        }
    }

    fn size_for(&mut self, room: i64) -> (u8, &'static str) {
        let sizes: &[(u8, &str)] = &[(1, "b"), (2, "h"), (4, "w"), (8, "dw")];
        let fitting: Vec<(u8, &str)> = sizes.iter().copied().filter(|(n, _)| *n as i64 <= room).collect();
        if fitting.is_empty() || self.hostile() {
            self.rng.one_of(sizes)
        } else {
            self.rng.one_of(&fitting)
        }
    }

    /// A load, store or atomic through `base`, whose offset varies over `[smin, smax]` on top
    /// of what `held` says; the instruction offset keeps it in bounds unless a hostile choice
    /// says otherwise.
    fn access(&mut self, base: u8, held: Held, smin: i64, smax: i64) -> Option<u8> {
        let (lo, hi, writable) = self.extent(held);
        let (size, suffix) = self.size_for((hi - lo).saturating_sub(smax.saturating_sub(smin)));
        let first = lo.saturating_sub(smin);
        let last = hi.saturating_sub(size as i64).saturating_sub(smax);
        let off = if self.hostile() {
            match self.rng.below(4) {
                0 => last.saturating_add(self.rng.within(1, 8)),
                1 => first.saturating_sub(self.rng.within(1, 8)),
                // The next entry of the same map, or past the frame.
                2 => hi.saturating_sub(smax),
                _ => self.rng.within(-600, 600),
            }
        } else {
            self.rng.within(first, last.max(first))
        };
        let off = off.clamp(i16::MIN as i64, i16::MAX as i64);
        let at = if off < 0 { format!("[%r{base}{off}]") } else { format!("[%r{base}+{off}]") };
        let write = (writable || self.hostile()) && self.rng.odds(40);
        if !write {
            let dst = self.temp(&[]);
            let signed = if size < 8 && self.rng.odds(20) { "s" } else { "" };
            self.e(format!("ldx{signed}{suffix} %r{dst}, {at}"));
            let max = if size == 8 || !signed.is_empty() { u64::MAX } else { (1u64 << (8 * size)) - 1 };
            self.set(dst, Held::Scalar { max });
            return Some(dst);
        }
        match self.rng.below(4) {
            0 if size >= 4 => {
                let src = self.scalar_reg();
                let w = if size == 8 { "" } else { "32" };
                let fetch = if self.rng.odds(30) { "fetch " } else { "" };
                self.e(format!("lock {fetch}add{w} {at}, %r{src}"));
                if !fetch.is_empty() {
                    self.set(src, Held::Scalar { max: u64::MAX });
                }
            }
            1 => {
                let src = self.scalar_reg();
                self.e(format!("stx{suffix} {at}, %r{src}"));
            }
            _ => {
                let value = self.rng.within(-3, 300);
                self.e(format!("st{suffix} {at}, {value}"));
            }
        }
        None
    }

    /// A register holding a scalar (a hostile choice may give a pointer), set to one if needed.
    fn scalar_reg(&mut self) -> u8 {
        let hostile = self.hostile();
        let found: Vec<u8> = (0..10u8)
            .filter(|&r| match self.regs[r as usize] {
                Held::Scalar { .. } => true,
                Held::Nothing => false,
                _ => hostile,
            })
            .collect();
        if found.is_empty() {
            let r = self.temp(&[]);
            let v = self.rng.within(0, 100);
            self.e(format!("mov %r{r}, {v}"));
            self.set(r, Held::Scalar { max: v as u64 });
            return r;
        }
        self.rng.one_of(&found)
    }

    fn prologue(&mut self) {
        self.e(String::from("mov %r6, %r1"));
        self.set(1, Held::Ctx);
        self.set(6, Held::Ctx);
        if self.target == Target::Conformance {
            self.set(2, Held::Scalar { max: CONFORMANCE_BUFFER_BYTES as u64 });
        }
        self.init_stack();
        for r in [0, 7, 8, 9] {
            let v = self.rng.within(0, 16);
            self.e(format!("mov %r{r}, {v}"));
            self.set(r, Held::Scalar { max: v as u64 });
        }
        if self.target == Target::Tool && self.rng.odds(70) {
            self.packet_check();
        }
    }

    /// Writes the initialised area of the current frame (sometimes, hostile, leaves a gap).
    fn init_stack(&mut self) {
        let skip = if self.hostile() { self.rng.within(1, INIT_BYTES / 8) } else { 0 };
        for slot in 1..=INIT_BYTES / 8 {
            if slot != skip {
                let v = self.rng.within(0, 8);
                self.e(format!("stdw [%r10-{}], {v}", slot * 8));
            }
        }
    }

    fn fragment(&mut self) {
        let choice = self.rng.below(100);
        match choice {
            0..=17 => self.lookup(),
            18..=31 => self.pointer_arith(),
            32..=39 => self.pointer_difference(),
            40..=49 => self.compare(),
            50..=57 => self.spill_fill(),
            58..=66 => self.join(),
            67..=72 => self.bounded_loop(),
            73..=80 => self.call_subprogram(),
            81..=85 => self.update_helper(),
            86..=92 if self.target == Target::Tool => self.packet_check(),
            86..=92 => {
                let (base, held) = self.pointer(&[]);
                self.access(base, held, 0, 0);
            }
            _ if self.hostile() => self.forbidden_alu(),
            _ => {
                let (base, held) = self.pointer(&[]);
                self.access(base, held, 0, 0);
            }
        }
    }

    /// A number from the program's inputs into `dst`: context fields, buffer or packet bytes,
    /// or a helper. Returns its unsigned maximum.
    fn input(&mut self, dst: u8) -> u64 {
        let packet = (0..10u8).find(|&r| matches!(self.regs[r as usize], Held::Packet { range } if range > 0));
        match (self.target, packet) {
            (Target::Tool, Some(p)) if self.rng.odds(60) => {
                let Held::Packet { range } = self.regs[p as usize] else { return u64::MAX };
                let off = self.rng.within(0, range - 1);
                self.e(format!("ldxb %r{dst}, [%r{p}+{off}]"));
                self.set(dst, Held::Scalar { max: 255 });
                255
            }
            (Target::Decision | Target::Conformance, _) if self.rng.odds(75) => {
                let (size, suffix, max) =
                    self.rng.one_of(&[(8, "dw", u64::MAX), (4, "w", u32::MAX as u64), (1, "b", 255)]);
                let off = self.rng.within(0, self.target.ctx_bytes() - size);
                self.e(format!("ldx{suffix} %r{dst}, [%r6+{off}]"));
                self.set(dst, Held::Scalar { max });
                max
            }
            _ => {
                let (id, max) = self.rng.one_of(&[(7, u32::MAX as u64), (8, u32::MAX as u64)]);
                self.call_helper(id, Held::Scalar { max });
                if dst != 0 {
                    self.e(format!("mov %r{dst}, %r0"));
                }
                self.set(dst, Held::Scalar { max });
                max
            }
        }
    }

    /// A scalar in `dst` for pointer arithmetic, usually bounded. Returns its range and, for a
    /// compare-bound, the label the caller places after its use.
    fn offset_scalar(&mut self, dst: u8) -> (i64, i64, Option<String>) {
        if self.rng.odds(30) {
            let k = self.rng.within(0, 16);
            self.e(format!("mov %r{dst}, {k}"));
            self.set(dst, Held::Scalar { max: k as u64 });
            return (k, k, None);
        }
        if self.hostile() && self.rng.odds(40) {
            let k = self.rng.one_of(&HUGE);
            self.e(format!("lddw %r{dst}, {k:#x}"));
            self.set(dst, Held::Scalar { max: k });
            return (k as i64, k as i64, None);
        }
        let max = self.input(dst);
        let hostile = self.hostile();
        match self.rng.below(5) {
            _ if hostile && self.rng.odds(30) => (0, max.min(i64::MAX as u64) as i64, None),
            0 | 1 => {
                let mask = if hostile {
                    self.rng.one_of(&[0xffff_ffff_i64, 0x7fff_ffff, 0x1fff])
                } else {
                    self.rng.one_of(&[1, 3, 7, 15, 31])
                };
                self.e(format!("and %r{dst}, {mask:#x}"));
                (0, mask, None)
            }
            2 => {
                let n = self.rng.within(1, 24);
                let skip = self.label();
                let cond =
                    if hostile { self.rng.one_of(&["jsgt", "jge", "jlt"]) } else { self.rng.one_of(&["jgt", "jge"]) };
                self.e(format!("{cond} %r{dst}, {n}, {skip}"));
                // What the fall-through knows; `jsgt` leaves it unbounded below, which the
                // model ignores (a hostile choice).
                let (lo, hi) = match cond {
                    "jge" => (0, n - 1),
                    "jlt" => (n, max.min(i64::MAX as u64) as i64),
                    _ => (0, n),
                };
                (lo, hi, Some(skip))
            }
            3 => {
                let n = self.rng.within(1, 24);
                self.e(format!("mod %r{dst}, {n}"));
                (0, n - 1, None)
            }
            _ => {
                let shift = if hostile { self.rng.one_of(&[1, 16, 31]) } else { self.rng.one_of(&[59, 60, 62]) };
                self.e(format!("rsh %r{dst}, {shift}"));
                (0, ((u64::MAX >> shift).min(i64::MAX as u64)) as i64, None)
            }
        }
    }

    /// `map_lookup_elem` with a stack key, then a NULL check (sometimes missing, on a copy,
    /// against a non-zero value ...), keeping the pointer in r7–r9.
    fn lookup(&mut self) {
        let map = self.rng.below(self.maps.len() as u64) as usize;
        self.lookup_map(map, &[]);
    }

    /// [`Gen::lookup`] of `map`, kept in a register other than `avoid`, which it returns.
    fn lookup_map(&mut self, map: usize, avoid: &[u8]) -> u8 {
        let def = self.maps[map];
        let key_off: i64 =
            if def.key_size_bytes == 8 { self.rng.one_of(&[-8, -16]) } else { self.rng.one_of(&[-4, -8, -12, -16]) };
        let key_suffix = if def.key_size_bytes == 8 { "dw" } else { "w" };
        let mut key_const = None;
        match self.rng.below(4) {
            0 | 1 => {
                let beyond = if self.hostile() { 4 } else { 0 };
                let key = self.rng.within(0, def.max_entries as i64 + beyond - 1);
                self.e(format!("st{key_suffix} [%r10{key_off}], {key}"));
                key_const = Some(key);
            }
            2 => {
                let r = self.temp(&[]);
                self.input(r);
                self.e(format!("and %r{r}, {}", def.max_entries.next_power_of_two() - 1));
                self.e(format!("stx{key_suffix} [%r10{key_off}], %r{r}"));
            }
            _ => {}
        }
        let hostile_key = self.hostile();
        if hostile_key && self.rng.odds(50) {
            let r = self.rng.one_of(&[6, 7, 8, 9]);
            self.e(format!("mov %r2, %r{r}"));
        } else {
            self.e(String::from("mov %r2, %r10"));
            let off = if hostile_key { key_off + self.rng.one_of(&[2, 4, -300, -600]) } else { key_off };
            self.e(format!("add %r2, {off}"));
        }
        self.e(format!("lddw %r1, map:{map}"));
        self.lookups += 1;
        let lookup = self.lookups;
        self.call_helper(1, Held::Value { map, lookup, checked: false });
        let keep = loop {
            let r = self.keeper();
            if !avoid.contains(&r) {
                break r;
            }
        };
        let checked = Held::Value { map, lookup, checked: true };
        let bail = self.bail.clone();
        let hostile = self.hostile();
        match self.rng.below(10) {
            _ if hostile => {
                // Missing, misdirected or malformed checks.
                match self.rng.below(6) {
                    0 => {}
                    1 => self.e(format!("jne %r0, 0, {bail}")),
                    2 => self.e(format!("jeq %r0, 1, {bail}")),
                    3 => self.e(format!("jeq32 %r0, 0, {bail}")),
                    4 => {
                        self.e(String::from("add %r0, 8"));
                        self.e(format!("jeq %r0, 0, {bail}"));
                    }
                    _ => {
                        self.e(format!("jgt %r0, 0, {bail}"));
                    }
                }
                self.e(format!("mov %r{keep}, %r0"));
                self.set(keep, checked);
                self.set(0, checked);
            }
            0..=4 => {
                self.e(format!("jeq %r0, 0, {bail}"));
                self.e(format!("mov %r{keep}, %r0"));
                self.set(keep, checked);
                self.set(0, checked);
            }
            5 | 6 => {
                // Checked on a copy; the original is used.
                self.e(format!("mov %r{keep}, %r0"));
                let ok = self.label();
                self.e(format!("jne %r{keep}, 0, {ok}"));
                self.e(String::from("mov %r0, 0"));
                self.e(String::from("exit"));
                self.place(&ok);
                self.set(keep, checked);
                self.set(0, checked);
            }
            7 => {
                // Checked after a round trip through the stack.
                let slot = self.rng.one_of(&SPILL_SLOTS);
                self.e(format!("stxdw [%r10{slot}], %r0"));
                self.e(format!("jeq %r0, 0, {bail}"));
                self.e(format!("ldxdw %r{keep}, [%r10{slot}]"));
                self.set(keep, checked);
                self.set(0, checked);
            }
            _ => {
                // A local check around one use; afterwards the register is a join of NULL
                // and a pointer.
                let skip = self.label();
                self.e(format!("jeq %r0, 0, {skip}"));
                self.set(0, checked);
                self.access(0, checked, 0, 0);
                self.place(&skip);
                self.e(format!("mov %r{keep}, %r0"));
                self.set(keep, Held::Mixed);
                self.set(0, Held::Mixed);
            }
        }
        if let (Some(key), MapKind::Array, true) = (key_const, def.kind, self.address_probes) {
            if self.rng.odds(10 + self.hostile_percent) {
                self.known_address_test(keep, map, key);
            }
        }
        keep
    }

    /// `jeq ptr + K, 0` with K minus the production address of the pointer: the branch is
    /// taken at run time, so a verifier that decides "never NULL" skips a real path.
    fn known_address_test(&mut self, reg: u8, map: usize, key: i64) {
        let vs = self.maps[map].value_size_bytes as u64;
        let addr = memory::region_base(memory::MAP_REGION_FIRST + map as u64) + key as u64 * vs;
        self.address_probe(reg, addr);
    }

    fn address_probe(&mut self, reg: u8, addr: u64) {
        let (t, k) = (self.temp(&[reg]), self.rng.one_of(&[2, 3, 4, 5]));
        let k = if k == t { 1 } else { k };
        self.e(format!("mov %r{t}, %r{reg}"));
        self.e(format!("lddw %r{k}, {:#x}", addr.wrapping_neg()));
        self.e(format!("add %r{t}, %r{k}"));
        self.set(t, Held::Mixed);
        self.set(k, Held::Scalar { max: u64::MAX });
        // The path the verifier may think impossible: it returns a pointer or reads far away.
        let bad = match self.rng.below(3) {
            0 => format!("mov %r0, %r{reg}"),
            1 => format!("ldxdw %r0, [%r{reg}+4000]"),
            _ => String::from("mov %r0, %r10"),
        };
        let label = self.label();
        if self.rng.odds(50) {
            self.e(format!("jeq %r{t}, 0, {label}"));
            self.tail.push_str(&format!("{label}:\n    {bad}\n    exit\n"));
        } else {
            self.e(format!("jne %r{t}, 0, {label}"));
            self.e(bad);
            self.e(String::from("exit"));
            self.place(&label);
        }
    }

    /// A pointer plus or minus a constant or a scalar (bounded or not), then an access.
    fn pointer_arith(&mut self) {
        // The scalar first: making it may call a helper, which clobbers r1–r5.
        let s = self.temp(&[]);
        let (smin, smax, skip) = self.offset_scalar(s);
        let (base, held) = self.pointer(&[s]);
        let q = self.temp(&[s, base]);
        let (smin, smax) = if self.rng.odds(25) {
            // Scalar first, pointer added.
            self.e(format!("mov %r{q}, %r{s}"));
            self.e(format!("add %r{q}, %r{base}"));
            (smin, smax)
        } else if self.rng.odds(20) {
            self.e(format!("mov %r{q}, %r{base}"));
            self.e(format!("sub %r{q}, %r{s}"));
            (smax.wrapping_neg(), smin.wrapping_neg())
        } else {
            self.e(format!("mov %r{q}, %r{base}"));
            self.e(format!("add %r{q}, %r{s}"));
            (smin, smax)
        };
        self.set(q, Held::Mixed);
        let loaded = if smin == smax && self.rng.odds(30) {
            // Back to the start: a huge constant added and removed is harmless.
            self.e(format!("sub %r{q}, %r{s}"));
            self.access(q, held, 0, 0)
        } else {
            self.access(q, held, smin, smax)
        };
        if let Some(skip) = skip {
            self.place(&skip);
            // On the skipping path the loaded register kept its old value.
            if let Some(r) = loaded {
                self.set(r, Held::Nothing);
            }
        }
        self.set(q, Held::Nothing);
    }

    /// Two pointers subtracted; the difference then offsets a pointer, is stored, or returned.
    fn pointer_difference(&mut self) {
        let pointers: Vec<u8> = (0..10u8).filter(|&r| self.regs[r as usize].is_pointer()).chain([10]).collect();
        let p = self.rng.one_of(&pointers);
        let same = !self.risky(50);
        let d = self.temp(&[p]);
        let (q, known) = if same || pointers.len() == 1 {
            // Same object: a copy moved by a constant.
            let q = self.temp(&[p, d]);
            let k = self.rng.within(0, 16) * self.rng.one_of(&[1, -1]);
            self.e(format!("mov %r{q}, %r{p}"));
            self.e(format!("add %r{q}, {k}"));
            self.set(q, Held::Mixed);
            (q, Some(-k))
        } else {
            (self.rng.one_of(&pointers), None)
        };
        self.e(format!("mov %r{d}, %r{p}"));
        self.e(format!("sub %r{d}, %r{q}"));
        self.set(d, Held::Scalar { max: u64::MAX });
        match self.rng.below(3) {
            0 => {
                // As an offset into another pointer.
                let (base, held) = self.pointer(&[]);
                let t = self.temp(&[d, base]);
                self.e(format!("mov %r{t}, %r{base}"));
                self.e(format!("add %r{t}, %r{d}"));
                self.set(t, Held::Mixed);
                let k = known.unwrap_or(0);
                self.access(t, held, k, k);
                self.set(t, Held::Nothing);
            }
            1 => {
                // Stored where the caller can read it.
                let values: Vec<u8> =
                    (6..10u8).filter(|&r| matches!(self.regs[r as usize], Held::Value { checked: true, .. })).collect();
                if let Some(&v) = values.first() {
                    let Held::Value { map, .. } = self.regs[v as usize] else { return };
                    if self.maps[map].value_size_bytes >= 8 {
                        self.e(format!("stxdw [%r{v}+0], %r{d}"));
                    }
                }
            }
            _ => {
                let keep = self.keeper();
                self.e(format!("mov %r{keep}, %r{d}"));
                self.set(keep, Held::Scalar { max: u64::MAX });
            }
        }
    }

    /// Pointer comparisons: with 0 on a non-NULL pointer moved by a known address, with
    /// itself plus a huge constant, with constants and with other pointers.
    fn compare(&mut self) {
        if !self.risky(70) {
            // The comparisons a verifier can allow: NULL checks and packet bounds.
            return if self.target == Target::Tool { self.packet_check() } else { self.lookup() };
        }
        let (p, held) = self.pointer(&[]);
        let hostile = self.hostile();
        match self.rng.below(5) {
            0 if self.address_probes => {
                let addr = match held {
                    Held::Stack { off } => memory::frame_pointer(self.depth).wrapping_add(off as u64),
                    Held::Ctx => memory::region_base(memory::CTX_REGION),
                    Held::Packet { .. } => memory::region_base(memory::PACKET_REGION),
                    _ => memory::region_base(memory::MAP_REGION_FIRST),
                };
                self.address_probe(p, addr);
            }
            1 | 2 => {
                // p + K against p: true or false depending on whether p + K wraps.
                let (q, k, r) = (self.temp(&[p]), self.rng.one_of(&[2, 3, 4, 5]), self.keeper());
                let k = if k == q { 1 } else { k };
                self.e(format!("mov %r{q}, %r{p}"));
                if self.rng.odds(50) {
                    let huge = self.rng.one_of(&HUGE);
                    self.e(format!("lddw %r{k}, {huge:#x}"));
                    self.e(format!("add %r{q}, %r{k}"));
                    self.set(k, Held::Scalar { max: huge });
                } else {
                    let small = self.rng.within(1, 64);
                    self.e(format!("add %r{q}, {small}"));
                }
                self.set(q, Held::Mixed);
                let cond = self.rng.one_of(&["jgt", "jge", "jlt", "jle", "jsgt", "jslt", "jeq", "jne"]);
                let (yes, done) = (self.label(), self.label());
                self.e(format!("mov %r{r}, 0"));
                self.e(format!("{cond} %r{q}, %r{p}, {yes}"));
                self.e(format!("ja {done}"));
                self.place(&yes);
                self.e(format!("mov %r{r}, 1"));
                self.place(&done);
                self.set(r, Held::Scalar { max: 1 });
            }
            3 if hostile => {
                // Forbidden forms: a pointer against a number, or in 32 bits.
                let form =
                    self.rng.one_of(&["jgt %rP, 0", "jlt %rP, 4096", "jeq %rP, 5", "jeq32 %rP, 0", "jset %rP, 1"]);
                let skip = self.label();
                self.e(format!("{}, {skip}", form.replace("%rP", &format!("%r{p}"))));
                self.access(p, held, 0, 0);
                self.place(&skip);
            }
            _ => {
                // Two pointers; usually into one object.
                let others: Vec<u8> =
                    (0..10u8).filter(|&r| r != p && self.regs[r as usize].is_pointer()).chain([10]).collect();
                let q = self.rng.one_of(&others);
                let skip = self.label();
                let cond = self.rng.one_of(&["jgt", "jeq", "jne", "jlt"]);
                self.e(format!("{cond} %r{p}, %r{q}, {skip}"));
                self.access(p, held, 0, 0);
                self.place(&skip);
            }
        }
    }

    /// `data + N > data_end` checks with small and huge N, in both operand orders, then reads.
    fn packet_check(&mut self) {
        let (d, end, t) = (self.keeper(), self.rng.one_of(&[2, 3]), self.rng.one_of(&[4, 5]));
        self.e(format!("ldxdw %r{d}, [%r6+0]"));
        self.e(format!("ldxdw %r{end}, [%r6+8]"));
        self.set(end, Held::PacketEnd);
        let n: i64 = if self.hostile() {
            let huge = self.rng.one_of(&HUGE);
            self.e(format!("lddw %r{t}, {huge:#x}"));
            huge as i64
        } else {
            let n = self.rng.within(1, 40);
            self.e(format!("mov %r{t}, {n}"));
            n
        };
        self.e(format!("add %r{t}, %r{d}"));
        let bail = self.bail.clone();
        let (form, range) = match self.rng.below(5) {
            0 => (format!("jgt %r{t}, %r{end}, {bail}"), n),
            1 => (format!("jlt %r{end}, %r{t}, {bail}"), n),
            2 => (format!("jge %r{t}, %r{end}, {bail}"), n.saturating_add(1)),
            3 => (format!("jle %r{end}, %r{t}, {bail}"), n.saturating_add(1)),
            // Backwards: the fall-through proves nothing.
            _ => (format!("jle %r{t}, %r{end}, {bail}"), 0),
        };
        self.e(form);
        self.set(t, Held::Mixed);
        let held = Held::Packet { range: if self.hostile() { range.saturating_add(8) } else { range } };
        let held = match held {
            Held::Packet { range } if range > 0x7fff => Held::Packet { range: 0x7fff },
            h => h,
        };
        self.set(d, held);
        if matches!(held, Held::Packet { range } if range > 0) {
            self.access(d, held, 0, 0);
        }
    }

    /// A pointer spilled to the stack (sometimes misaligned or partly overwritten) and filled
    /// back, maybe across a helper call, then used.
    fn spill_fill(&mut self) {
        let (p, held) = self.pointer(&[]);
        let hostile = self.hostile();
        let slot = self.rng.one_of(&SPILL_SLOTS) + if hostile && self.rng.odds(30) { 4 } else { 0 };
        if self.rng.odds(20) {
            let t = self.temp(&[p]);
            self.e(format!("mov %r{t}, %r10"));
            self.e(format!("stxdw [%r{t}{slot}], %r{p}"));
        } else {
            self.e(format!("stxdw [%r10{slot}], %r{p}"));
        }
        let mut now = held;
        if self.rng.odds(25) {
            self.call_helper(7, Held::Scalar { max: u32::MAX as u64 });
        }
        if hostile && self.rng.odds(50) {
            let (suffix, at) = self.rng.one_of(&[("b", 3), ("w", 0), ("h", 6), ("w", 4)]);
            self.e(format!("st{suffix} [%r10{}], 1", slot + at));
            now = Held::Mixed;
        }
        let keep = self.keeper();
        if hostile && self.rng.odds(30) {
            let (suffix, at) = self.rng.one_of(&[("w", 0), ("w", 4), ("b", 0)]);
            self.e(format!("ldx{suffix} %r{keep}, [%r10{}]", slot + at));
            now = Held::Scalar { max: u32::MAX as u64 };
        } else {
            self.e(format!("ldxdw %r{keep}, [%r10{slot}]"));
        }
        self.set(keep, now);
        if now.is_pointer() || hostile {
            self.access(keep, held, 0, 0);
        }
    }

    /// The same register holding different things on two paths, then used.
    fn join(&mut self) {
        // Twins: two lookups in one map, which a pruning that ignores lookup identity confuses.
        let twins = if self.rng.odds(30) {
            let map = self.rng.below(self.maps.len() as u64) as usize;
            let first = self.lookup_map(map, &[]);
            Some((first, self.lookup_map(map, &[first])))
        } else {
            None
        };
        let c = self.temp(&[]);
        self.input(c);
        let candidates: Vec<u8> = (0..10u8).filter(|&r| self.regs[r as usize].is_pointer()).chain([10]).collect();
        let (a, b) = match twins {
            Some((a, b)) => (a, Some(b)),
            None => {
                let a = self.rng.one_of(&candidates);
                (a, if self.rng.odds(20) { None } else { Some(self.rng.one_of(&candidates)) })
            }
        };
        let r = loop {
            let r = self.keeper();
            if twins.is_none() || r != a {
                break r;
            }
        };
        let (other, done) = (self.label(), self.label());
        let cond = self.rng.one_of(&["jgt", "jeq", "jset", "jlt"]);
        let k = self.rng.within(0, 8);
        self.e(format!("{cond} %r{c}, {k}, {other}"));
        self.e(format!("mov %r{r}, %r{a}"));
        self.e(format!("ja {done}"));
        self.place(&other);
        match b {
            Some(b) => self.e(format!("mov %r{r}, %r{b}")),
            None => {
                let v = self.rng.within(0, 64);
                self.e(format!("mov %r{r}, {v}"));
            }
        }
        self.place(&done);
        // Left unread, the condition is dead here, so the two paths can meet in one state.
        self.set(c, Held::Nothing);
        let (ha, hb) = (self.held(a), b.map(|b| self.held(b)));
        let joined = match (ha, hb) {
            (x, Some(y)) if x == y => x,
            (Held::Value { map: m1, checked: c1, .. }, Some(Held::Value { map: m2, checked: c2, .. })) if m1 == m2 => {
                self.lookups += 1;
                Held::Value { map: m1, lookup: self.lookups, checked: c1 && c2 }
            }
            _ => Held::Mixed,
        };
        self.set(r, joined);
        if self.rng.odds(60) {
            let held = if joined == Held::Mixed { ha } else { joined };
            if joined != Held::Mixed || self.hostile() {
                self.access(r, held, 0, 0);
            }
        }
        if self.risky(if twins.is_some() { 80 } else { 40 }) {
            // The difference from one of the joined pointers, used as an offset.
            let d = self.temp(&[r, a]);
            self.e(format!("mov %r{d}, %r{r}"));
            self.e(format!("sub %r{d}, %r{a}"));
            let t = self.temp(&[d]);
            let base = if self.rng.odds(50) { 10 } else { a };
            self.e(format!("mov %r{t}, %r{base}"));
            self.e(format!("add %r{t}, %r{d}"));
            let held = self.held(base);
            self.set(d, Held::Scalar { max: u64::MAX });
            self.set(t, Held::Mixed);
            self.access(t, held, 0, 0);
        }
    }

    /// A counted loop walking a pointer through its object.
    fn bounded_loop(&mut self) {
        let (p, held) = self.pointer(&[]);
        let (lo, hi, _) = self.extent(held);
        let i = self.temp(&[p]);
        let q = self.temp(&[p, i]);
        let t = self.temp(&[p, i, q]);
        let step = self.rng.one_of(&[1, 1, 2, 4, 8]);
        let room = (hi - lo).max(1);
        let n = if self.hostile() { room + self.rng.within(0, 8) } else { self.rng.within(1, room.min(40)) };
        let head = self.label();
        let cond = if self.hostile() { self.rng.one_of(&["jlt", "jle", "jne"]) } else { "jlt" };
        self.e(format!("mov %r{i}, 0"));
        self.place(&head);
        if self.rng.odds(50) {
            self.e(format!("mov %r{q}, %r{p}"));
            self.e(format!("add %r{q}, %r{i}"));
            self.e(format!("ldxb %r{t}, [%r{q}{:+}]", lo));
        } else {
            self.e(format!("mov %r{q}, %r{i}"));
            self.e(format!("add %r{q}, %r{p}"));
            let store_ok = self.extent(held).2;
            if store_ok {
                self.e(format!("stb [%r{q}{:+}], 7", lo));
            } else {
                self.e(format!("ldxb %r{t}, [%r{q}{:+}]", lo));
            }
        }
        self.e(format!("add %r{i}, {step}"));
        self.e(format!("{cond} %r{i}, {n}, {head}"));
        self.set(i, Held::Scalar { max: n as u64 + 8 });
        self.set(q, Held::Nothing);
        self.set(t, Held::Scalar { max: 255 });
    }

    /// `call local` passing a pointer into this frame (and maybe a map value); the
    /// subprogram reads and writes through it and returns a number or a pointer.
    fn call_subprogram(&mut self) {
        if self.depth >= 2 {
            return;
        }
        let k = self.rng.one_of(&[8, 16, 24, 32, 64]);
        let value = (6..10u8).find(|&r| matches!(self.regs[r as usize], Held::Value { checked: true, .. }));
        self.e(String::from("mov %r1, %r10"));
        self.e(format!("add %r1, -{k}"));
        if let Some(v) = value {
            self.e(format!("mov %r2, %r{v}"));
        }
        let name = self.label().replace('l', "sub");
        self.e(format!("call local {name}"));
        let returns = self.write_subprogram(&name, k, value.map(|v| self.regs[v as usize]));
        self.clobber();
        self.regs[0] = returns;
        if returns.is_pointer() || self.hostile() {
            self.access(0, if returns.is_pointer() { returns } else { Held::Stack { off: -k } }, 0, 0);
        }
    }

    /// Writes subprogram `name`: r1 = caller's `r10 - k`, r2 = a map value if `value`.
    /// Returns what it leaves in r0, as the caller sees it.
    fn write_subprogram(&mut self, name: &str, k: i64, value: Option<Held>) -> Held {
        let saved_out = core::mem::take(&mut self.out);
        let saved_regs = self.regs;
        let saved_bail = core::mem::replace(&mut self.bail, format!("{name}_bail"));
        self.depth += 1;
        self.place(name);
        // The callee sees the caller's registers; r1/r2 are the arguments.
        // Through the argument: [r1 + 0, r1 + k) is the caller's initialised area, which the
        // model describes as this frame's would be from `r10 - k`.
        let arg = Held::Stack { off: -k };
        self.set(1, arg);
        if let Some(v) = value {
            self.set(2, v);
        }
        let hostile = self.hostile();
        self.init_stack();
        let (off, size) = if hostile {
            (self.rng.one_of(&[k, k - 4, -8, 512]), "dw")
        } else {
            (self.rng.within(0, k / 8 - 1) * 8, "dw")
        };
        let v = self.rng.within(0, 9);
        self.e(format!("st{size} [%r1{off:+}], {v}"));
        if value.is_some() {
            self.access(2, value.unwrap_or(Held::Nothing), 0, 0);
        }
        if self.rng.odds(30) {
            self.fragment();
        }
        let returns = match self.rng.below(6) {
            0 if hostile => {
                self.e(String::from("mov %r0, %r10"));
                self.e(String::from("add %r0, -8"));
                Held::Mixed
            }
            1 if hostile => {
                self.e(String::from("stxdw [%r1+0], %r10"));
                self.e(String::from("mov %r0, 0"));
                Held::Scalar { max: 0 }
            }
            2 => {
                self.e(String::from("mov %r0, %r1"));
                arg
            }
            3 if value.is_some() => {
                self.e(String::from("mov %r0, %r2"));
                value.unwrap_or(Held::Nothing)
            }
            _ => {
                let off = if hostile { self.rng.one_of(&[k, -16, 8]) } else { self.rng.within(0, k / 8 - 1) * 8 };
                self.e(format!("ldxdw %r0, [%r1{off:+}]"));
                Held::Scalar { max: u64::MAX }
            }
        };
        self.e(String::from("exit"));
        let bail = self.bail.clone();
        self.place(&bail);
        self.e(String::from("mov %r0, 0"));
        self.e(String::from("exit"));
        let body = core::mem::replace(&mut self.out, saved_out);
        self.subs.push_str(&body);
        self.regs = saved_regs;
        self.bail = saved_bail;
        self.depth -= 1;
        returns
    }

    /// `map_update_elem` with the value taken from the stack or another map's value (whose
    /// size may differ).
    fn update_helper(&mut self) {
        let map = self.rng.below(self.maps.len() as u64) as usize;
        let def = self.maps[map];
        let key_suffix = if def.key_size_bytes == 8 { "dw" } else { "w" };
        let key = self.rng.within(0, def.max_entries as i64 - 1);
        self.e(format!("st{key_suffix} [%r10-8], {key}"));
        let values: Vec<u8> =
            (6..10u8).filter(|&r| matches!(self.regs[r as usize], Held::Value { checked: true, .. })).collect();
        let vs = def.value_size_bytes as i64;
        match (values.is_empty(), self.rng.odds(50)) {
            (false, true) => {
                let v = self.rng.one_of(&values);
                let Held::Value { map: from, .. } = self.regs[v as usize] else { return };
                let room = self.maps[from].value_size_bytes as i64;
                if room < vs && !self.hostile() {
                    return;
                }
                self.e(format!("mov %r3, %r{v}"));
            }
            _ => {
                let off = if self.hostile() { self.rng.one_of(&[-vs + 8, 0, -600]) } else { -INIT_BYTES };
                if -off < vs && !self.hostile() {
                    return;
                }
                self.e(String::from("mov %r3, %r10"));
                self.e(format!("add %r3, {off}"));
            }
        }
        self.e(String::from("mov %r2, %r10"));
        self.e(String::from("add %r2, -8"));
        self.e(format!("lddw %r1, map:{map}"));
        let flags = if self.hostile() { String::from("%r7") } else { String::from("0") };
        self.e(format!("mov %r4, {flags}"));
        self.call_helper(2, Held::Scalar { max: u64::MAX });
    }

    /// Operations the verifier must refuse on pointers.
    fn forbidden_alu(&mut self) {
        let (p, held) = self.pointer(&[]);
        let q = self.temp(&[p]);
        let op = self.rng.one_of(&[
            "mov32 %rQ, %rP",
            "and %rQ, -8",
            "lsh %rQ, 1",
            "or %rQ, 0",
            "add32 %rQ, 0",
            "neg %rQ",
            "mul %rQ, 1",
        ]);
        if !op.starts_with("mov32") {
            self.e(format!("mov %r{q}, %r{p}"));
        }
        self.e(op.replace("%rQ", &format!("%r{q}")).replace("%rP", &format!("%r{p}")));
        self.set(q, Held::Mixed);
        self.access(q, held, 0, 0);
    }

    /// r0: a constant, a fold of scalars, or (hostile) something pointer-derived; then exit.
    fn epilogue(&mut self) {
        let scalars: Vec<u8> = (0..10u8).filter(|&r| matches!(self.regs[r as usize], Held::Scalar { .. })).collect();
        let hostile = self.hostile();
        match self.rng.below(4) {
            _ if hostile => {
                let pointers: Vec<u8> = (0..10u8).filter(|&r| self.regs[r as usize].is_pointer()).chain([10]).collect();
                let p = self.rng.one_of(&pointers);
                self.e(format!("mov %r0, %r{p}"));
                if self.rng.odds(50) {
                    let shift = self.rng.one_of(&[1, 32, 40, 63]);
                    self.e(format!("rsh %r0, {shift}"));
                }
            }
            0 => {
                let v = self.rng.within(0, 255);
                self.e(format!("mov %r0, {v}"));
            }
            _ if !scalars.is_empty() => {
                let first = self.rng.one_of(&scalars);
                if first != 0 {
                    self.e(format!("mov %r0, %r{first}"));
                }
                for _ in 0..self.rng.below(3) {
                    let r = self.rng.one_of(&scalars);
                    let op = self.rng.one_of(&["add", "xor", "sub"]);
                    self.e(format!("{op} %r0, %r{r}"));
                }
            }
            _ => self.e(String::from("mov %r0, 1")),
        }
        self.e(String::from("exit"));
    }
}

/// What the strict runs found wrong with a program the verifier accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FindingKind {
    /// An access (or helper argument) left its object, or another run-time fault.
    Fault,
    /// The run needed more instructions than the verifier's worst-case path.
    OverBudget,
    /// r0 at exit is an address in the layout.
    ReturnsAddress,
    /// r0 differs between layouts (an address leaked into it, or unwritten stack was read).
    ResultDependsOnLayout,
    /// The executed path differs between layouts (a branch on an address).
    PathDependsOnLayout,
    /// Map, context or packet bytes differ between layouts after the run.
    MemoryDependsOnLayout,
}

impl FindingKind {
    pub const ALL: [FindingKind; 6] = [
        FindingKind::Fault,
        FindingKind::OverBudget,
        FindingKind::ReturnsAddress,
        FindingKind::ResultDependsOnLayout,
        FindingKind::PathDependsOnLayout,
        FindingKind::MemoryDependsOnLayout,
    ];

    pub fn name(self) -> &'static str {
        match self {
            FindingKind::Fault => "fault",
            FindingKind::OverBudget => "over-budget",
            FindingKind::ReturnsAddress => "returns-address",
            FindingKind::ResultDependsOnLayout => "result-depends-on-layout",
            FindingKind::PathDependsOnLayout => "path-depends-on-layout",
            FindingKind::MemoryDependsOnLayout => "memory-depends-on-layout",
        }
    }
}

/// A verifier bug shown by running an accepted program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub kind: FindingKind,
    /// Which input and layout, and what happened.
    pub detail: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.name(), self.detail)
    }
}

/// One run's inputs: context bytes, packet bytes and the seed the maps are filled from.
#[derive(Clone, Debug)]
pub struct Inputs {
    pub ctx: Vec<u8>,
    pub packet: Vec<u8>,
    pub map_seed: u64,
}

impl Inputs {
    /// Random inputs for `target`: small and extreme context fields, packets of 0–100 bytes.
    pub fn random(rng: &mut Rng, target: Target) -> Inputs {
        let ctx_len = target.ctx_bytes() as usize;
        let mut ctx = vec![0u8; ctx_len];
        for chunk in ctx.chunks_mut(8) {
            let v: u64 = match rng.below(4) {
                0 => rng.below(8),
                1 => rng.below(256),
                2 => rng.one_of(&[u64::MAX, 1 << 63, 0x7fff_ffff, 0xffff_ffff]),
                _ => rng.next_u64(),
            };
            chunk.copy_from_slice(&v.to_le_bytes()[..chunk.len()]);
        }
        let packet_len = if target == Target::Tool { rng.one_of(&[0, 1, 4, 8, 14, 20, 33, 40, 64, 100]) } else { 0 };
        let packet = (0..packet_len).map(|_| rng.next_u64() as u8).collect();
        Inputs { ctx, packet, map_seed: rng.next_u64() }
    }
}

/// Fresh maps for `defs`, filled from `seed`: arrays entirely, hashes with keys 0, 1, ...
pub fn filled_maps(defs: &[MapDef], seed: u64) -> Result<Vec<Map>, MapError> {
    let mut rng = Rng(seed);
    defs.iter()
        .map(|def| {
            let mut map = Map::new(*def, 2)?;
            let vs = def.value_size_bytes as usize;
            let filled = match def.kind {
                MapKind::Hash => rng.below(def.max_entries as u64 + 1) as u32,
                _ => def.max_entries,
            };
            for k in 0..filled {
                let value: Vec<u8> =
                    (0..vs).map(|_| if rng.below(3) == 0 { 0 } else { rng.next_u64() as u8 }).collect();
                let mut key = vec![0u8; def.key_size_bytes as usize];
                let n = key.len().min(4);
                key[..n].copy_from_slice(&k.to_le_bytes()[..n]);
                for cpu in 0..2 {
                    map.update(&key, &value, 0, cpu)?;
                }
            }
            Ok(map)
        })
        .collect()
}

/// What one strict run left behind.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Outcome {
    r0: u64,
    trace: u64,
    memory: u64,
    insns: u64,
}

fn fnv(hash: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(hash, |h, &b| (h ^ b as u64).wrapping_mul(0x0100_0000_01b3))
}

/// Counts of a [`check`].
#[derive(Clone, Copy, Debug, Default)]
pub struct CheckStats {
    pub runs: u64,
    pub insns: u64,
}

/// Budget for programs loaded without the verifier (which gives no worst-case bound).
pub const UNVERIFIED_BUDGET_INSNS: u64 = 1 << 20;

/// Runs an accepted program (or, to see what a refused one would do, an unchecked one) on
/// `rounds` random inputs, each under the production layout and two random ones, strictly;
/// the first problem found is returned.
pub fn check<'p>(
    prog: impl Into<AnyProgram<'p>>,
    target: Target,
    rng: &mut Rng,
    rounds: usize,
    interp: &mut Interpreter,
) -> Result<CheckStats, Finding> {
    let prog = prog.into();
    let mut stats = CheckStats::default();
    for round in 0..rounds {
        let inputs = Inputs::random(rng, target);
        let layouts = [
            ("production", StrictLayout::tagged()),
            ("random-1", StrictLayout::random(rng.next_u64())),
            ("random-2", StrictLayout::random(rng.next_u64())),
        ];
        let mut first: Option<(&str, Outcome)> = None;
        for (name, layout) in layouts {
            let outcome = run_strict(prog, target, &inputs, &layout, interp)
                .map_err(|(kind, what)| Finding { kind, detail: format!("input {round}, {name} layout: {what}") })?;
            stats.runs += 1;
            stats.insns += outcome.insns;
            let Some((first_name, expected)) = &first else {
                first = Some((name, outcome));
                continue;
            };
            let differs = |kind, what: String| Finding {
                kind,
                detail: format!("input {round}: {what} under the {first_name} and {name} layouts"),
            };
            if outcome.r0 != expected.r0 {
                let what = format!("r0 {:#x} vs {:#x}", expected.r0, outcome.r0);
                return Err(differs(FindingKind::ResultDependsOnLayout, what));
            }
            if outcome.trace != expected.trace {
                return Err(differs(FindingKind::PathDependsOnLayout, String::from("different paths")));
            }
            if outcome.memory != expected.memory {
                return Err(differs(FindingKind::MemoryDependsOnLayout, String::from("different memory")));
            }
        }
    }
    Ok(stats)
}

/// One strict run; a problem comes back as its kind and a description.
fn run_strict(
    prog: AnyProgram<'_>,
    target: Target,
    inputs: &Inputs,
    layout: &StrictLayout,
    interp: &mut Interpreter,
) -> Result<Outcome, (FindingKind, String)> {
    let bound = prog.stats().map_or(UNVERIFIED_BUDGET_INSNS, |s| s.worst_case_path_insns);
    let mut maps = filled_maps(prog.decoded().maps(), inputs.map_seed)
        .map_err(|e| (FindingKind::Fault, format!("the maps cannot be made: {e}")))?;
    let mut ctx = inputs.ctx.clone();
    let mut packet = inputs.packet.clone();
    let mut platform = FixedPlatform::default();
    let mut env = Env { maps: &mut maps, platform: &mut platform, budget_insns: bound };
    interp.set_strict(Some(*layout));
    let result = interp.run_any(prog, &mut ctx, &mut packet, &mut env);
    let r0 = match result {
        Ok(r0) => r0,
        Err(e) if e.kind == RunErrorKind::BudgetExhausted => {
            return Err((FindingKind::OverBudget, format!("{e} (worst-case bound {bound})")));
        }
        Err(e) => return Err((FindingKind::Fault, format!("{e}"))),
    };
    // Production addresses are small numbers a program may well return; random ones are not.
    if *layout != StrictLayout::tagged() && layout.is_address(ctx.len(), packet.len(), &maps, r0) {
        return Err((FindingKind::ReturnsAddress, format!("r0 = {r0:#x} is an address")));
    }
    let mut memory = fnv(0xcbf2_9ce4_8422_2325, &packet);
    if target != Target::Tool {
        // A tool context holds `data`/`data_end`, which differ by layout on purpose.
        memory = fnv(memory, &ctx);
    }
    for map in &maps {
        memory = fnv(memory, map.value_bytes());
    }
    Ok(Outcome { r0, trace: interp.last_run_trace(), memory, insns: interp.last_run_insns() })
}

/// Why a saved program did not load.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileError {
    /// No `# type: decision|tool|conformance` line.
    MissingType,
    /// A `#map` line (1-based) that is not `#map KIND key=N value=N max=N`.
    Map {
        line: usize,
    },
    Asm(AsmError),
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FileError::MissingType => f.write_str("no `# type: decision|tool|conformance` line"),
            FileError::Map { line } => write!(f, "line {line}: write maps as `#map array key=4 value=8 max=4`"),
            FileError::Asm(e) => write!(f, "{e}"),
        }
    }
}

/// A saved program: `# type:`, `#map` lines (asm's map directives) and `# finding:`, then the
/// disassembly, which `asm` reads back.
pub fn to_file(target: Target, maps: &[MapDef], insns: &[Insn], finding: &str) -> String {
    let mut text = format!("# type: {}\n", target.name());
    for def in maps {
        let kind = match def.kind {
            MapKind::Array => "array",
            MapKind::Hash => "hash",
            MapKind::PerCpuArray => "percpu_array",
        };
        text.push_str(&format!(
            "#map {kind} key={} value={} max={}\n",
            def.key_size_bytes, def.value_size_bytes, def.max_entries
        ));
    }
    for line in finding.lines() {
        text.push_str(&format!("# finding: {line}\n"));
    }
    for (pc, insn) in insns.iter().enumerate() {
        if *insn != Insn::LoadImm64Tail {
            text.push_str(&format!("{:<40}# {pc}\n", disasm::format_insn(insn)));
        }
    }
    text
}

/// Reads a file written by [`to_file`] (or by hand in the same form).
pub fn from_file(text: &str) -> Result<(Target, Vec<MapDef>, Vec<RawInsn>), FileError> {
    let target = text
        .lines()
        .find_map(|l| l.strip_prefix("# type:"))
        .and_then(|t| Target::from_name(t.trim()))
        .ok_or(FileError::MissingType)?;
    let mut maps = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let mut words = line.split_whitespace();
        if words.next() == Some("#map") {
            maps.push(map_directive(words).ok_or(FileError::Map { line: index + 1 })?);
        }
    }
    let slots = asm::assemble(text).map_err(FileError::Asm)?;
    Ok((target, maps, slots))
}

/// The words after `#map`: `KIND key=N value=N max=N`, KIND `array`, `hash` or `percpu_array`
/// (the syntax `kingly bpf` reads; a local parser until the assembler's own is committed).
fn map_directive<'a>(mut words: impl Iterator<Item = &'a str>) -> Option<MapDef> {
    let kind = match words.next()? {
        "array" => MapKind::Array,
        "hash" => MapKind::Hash,
        "percpu_array" => MapKind::PerCpuArray,
        _ => return None,
    };
    let (mut key, mut value, mut max) = (None, None, None);
    for word in words {
        let (field, number) = word.split_once('=')?;
        let n = u32::try_from(asm::parse_int(number)?.0).ok()?;
        match field {
            "key" => key = Some(n),
            "value" => value = Some(n),
            "max" => max = Some(n),
            _ => return None,
        }
    }
    Some(MapDef { kind, key_size_bytes: key?, value_size_bytes: value?, max_entries: max? })
}
