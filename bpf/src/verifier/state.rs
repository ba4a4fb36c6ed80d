//! Abstract machine state: typed register values, per-frame stack tracking, and the
//! containment test used to prune paths already proven safe.

use alloc::vec;
use alloc::vec::Vec;

use crate::error::RegionKind;
use crate::isa::REGISTER_COUNT;
use crate::memory::{MAX_FRAMES, STACK_FRAME_BYTES};

use super::scalar::Scalar;

/// What a pointer points into.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Region {
    /// The program type's context or buffer.
    Context,
    /// The stack frame at this call depth.
    Stack { frame: u8 },
    /// A value of map `map`; `nullable` until a NULL check, `id` shared by copies of one lookup.
    MapValue { map: u32, id: u32, nullable: bool },
    /// The packet of a `Packet` context; readable up to [`State::packet_range`].
    Packet,
    /// The packet's end (`data_end`): only for comparisons.
    PacketEnd,
}

impl Region {
    pub fn kind(&self) -> RegionKind {
        match self {
            Region::Context => RegionKind::Context,
            Region::Stack { .. } => RegionKind::Stack,
            Region::MapValue { .. } => RegionKind::MapValue,
            Region::Packet | Region::PacketEnd => RegionKind::Packet,
        }
    }

    /// Same memory object (ignoring nullness).
    pub fn same_object(&self, o: &Region) -> bool {
        match (self, o) {
            (Region::MapValue { map: a, id: x, .. }, Region::MapValue { map: b, id: y, .. }) => a == b && x == y,
            _ => self == o,
        }
    }
}

/// A pointer: a region plus a (possibly variable) byte offset.
///
/// Packet pointers also say which variable part their offset holds: `var` names one unknown
/// value shared by every copy (0: none), and `fixed` is the constant added to it since. A
/// `data_end` comparison proves a length for the variable part's owner ([`State::var_range`]),
/// so `p = data + i; if p + 1 > data_end ...` lets `*p` through whatever `i` is, as in Linux.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Pointer {
    pub region: Region,
    pub off: Scalar,
    pub var: u32,
    pub fixed: i64,
}

impl Pointer {
    /// A pointer with no shared variable part.
    pub fn new(region: Region, off: Scalar) -> Pointer {
        Pointer { region, off, var: 0, fixed: off.as_const().map_or(0, |c| c as i64) }
    }
}

/// How the identities of a proven state map to a new state's while one is compared with the
/// other: every id the old proof relied on (a lookup's map value, a packet pointer's variable
/// part) must stand for one id on the new path, or facts about it would be applied to
/// another object.
#[derive(Default)]
pub struct IdMap {
    pairs: Vec<(u32, u32)>,
}

impl IdMap {
    /// Records that old id `old` is `new` here; false if `old` already stood for another.
    pub fn link(&mut self, old: u32, new: u32) -> bool {
        if old == 0 || new == 0 {
            return old == new;
        }
        match self.pairs.binary_search_by_key(&old, |(o, _)| *o) {
            Ok(i) => self.pairs[i].1 == new,
            Err(i) => {
                self.pairs.insert(i, (old, new));
                true
            }
        }
    }
}

/// The abstract value of a register or spilled stack slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Value {
    /// Never written on this path.
    #[default]
    Uninit,
    Scalar(Scalar),
    Ptr(Pointer),
    /// A map handle from `lddw rX, map N`.
    MapHandle(u32),
}

impl Value {
    pub fn scalar(s: Scalar) -> Value {
        Value::Scalar(s)
    }

    pub fn is_pointer_like(&self) -> bool {
        matches!(self, Value::Ptr(_) | Value::MapHandle(_))
    }

    /// Whether every concrete value `other` may stand for is allowed by `self` on a path that
    /// was already proven safe, with `ids` mapping the identities of `self`'s state to
    /// `other`'s.
    pub fn contains(&self, other: &Value, ids: &mut IdMap) -> bool {
        match (self, other) {
            (Value::Uninit, _) => true,
            (Value::Scalar(a), Value::Scalar(b)) => a.contains(b),
            (Value::Ptr(a), Value::Ptr(b)) => {
                let same = match (a.region, b.region) {
                    (
                        Region::MapValue { map: m1, id: i1, nullable: n1 },
                        Region::MapValue { map: m2, id: i2, nullable: n2 },
                    ) => m1 == m2 && n1 == n2 && ids.link(i1, i2),
                    (x, y) => x == y,
                };
                // A packet pointer's proven length belongs to its variable part.
                let var_kept = a.var == 0 || (a.fixed == b.fixed && ids.link(a.var, b.var));
                same && var_kept && a.off.contains(&b.off)
            }
            (Value::MapHandle(a), Value::MapHandle(b)) => a == b,
            _ => false,
        }
    }
}

const SLOTS: usize = STACK_FRAME_BYTES / 8;

/// One frame's stack: which bytes were written, and what whole 8-byte slots hold.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Stack {
    /// Bit `i` set: byte at frame offset `i - 512` has been written.
    pub init: [u64; SLOTS / 8],
    /// Values spilled by aligned 8-byte stores, by slot (sorted, sparse); other initialised
    /// bytes are plain data.
    spills: Vec<(u8, Value)>,
    /// Scalars stored by 1-, 2- or 4-byte stores at a constant offset: (first byte, size, value).
    narrow: Vec<(u16, u8, Scalar)>,
}

impl Default for Stack {
    fn default() -> Self {
        Stack { init: [0; SLOTS / 8], spills: Vec::new(), narrow: Vec::new() }
    }
}

impl Stack {
    /// Byte index (0..512) of frame offset `off` (-512..0).
    pub fn index(off: i64) -> usize {
        (off + STACK_FRAME_BYTES as i64) as usize
    }

    pub fn is_init(&self, byte: usize) -> bool {
        self.init[byte / 64] >> (byte % 64) & 1 != 0
    }

    pub fn set_init(&mut self, byte: usize, on: bool) {
        if on {
            self.init[byte / 64] |= 1 << (byte % 64);
        } else {
            self.init[byte / 64] &= !(1 << (byte % 64));
        }
    }

    /// The value spilled in 8-byte slot `slot` (0..64), or `Uninit` for data or nothing.
    pub fn spill(&self, slot: usize) -> Value {
        match self.spills.binary_search_by_key(&(slot as u8), |(s, _)| *s) {
            Ok(i) => self.spills[i].1,
            Err(_) => Value::Uninit,
        }
    }

    /// Records (or, with `Uninit`, forgets) the value spilled in `slot`.
    pub fn set_spill(&mut self, slot: usize, value: Value) {
        match (self.spills.binary_search_by_key(&(slot as u8), |(s, _)| *s), value) {
            (Ok(i), Value::Uninit) => {
                self.spills.remove(i);
            }
            (Ok(i), v) => self.spills[i].1 = v,
            (Err(_), Value::Uninit) => {}
            (Err(i), v) => self.spills.insert(i, (slot as u8, v)),
        }
    }

    /// The scalar a narrow store left in exactly `[byte, byte + size)`, if still intact.
    pub fn narrow(&self, byte: usize, size: usize) -> Option<Scalar> {
        // Records never overlap, so they are sorted by first byte and one search finds it.
        let i = self.narrow.binary_search_by_key(&(byte as u16), |(b, _, _)| *b).ok()?;
        let (_, s, v) = self.narrow[i];
        (s as usize == size).then_some(v)
    }

    /// Forgets narrow stores overlapping `[a, b)`.
    pub fn clear_narrow(&mut self, a: usize, b: usize) {
        // Records are at most 4 bytes long: only those starting in `[a - 3, b)` can overlap.
        let from = self.narrow.partition_point(|(byte, _, _)| (*byte as usize) + 3 < a);
        let to = self.narrow.partition_point(|(byte, _, _)| (*byte as usize) < b);
        let mut keep = from;
        for i in from..to {
            let (byte, size, _) = self.narrow[i];
            if byte as usize + size as usize <= a {
                self.narrow[keep] = self.narrow[i];
                keep += 1;
            }
        }
        self.narrow.drain(keep..to);
    }

    /// Records a narrow store of `value` to `[byte, byte + size)`.
    pub fn set_narrow(&mut self, byte: usize, size: usize, value: Scalar) {
        self.clear_narrow(byte, byte + size);
        let at = self.narrow.partition_point(|(b, _, _)| (*b as usize) < byte);
        self.narrow.insert(at, (byte as u16, size as u8, value));
    }

    /// Tracked records (spills and narrow stores): what a copy or comparison costs.
    pub fn records(&self) -> usize {
        self.spills.len() + self.narrow.len()
    }

    fn for_each_spill(&mut self, f: &mut impl FnMut(&mut Value)) {
        self.spills.iter_mut().for_each(|(_, v)| f(v));
        self.spills.retain(|(_, v)| *v != Value::Uninit);
    }

    fn contains(&self, o: &Stack, ids: &mut IdMap) -> bool {
        for w in 0..self.init.len() {
            if self.init[w] & !o.init[w] != 0 {
                return false;
            }
        }
        for &(slot, old) in &self.spills {
            let slot = slot as usize;
            let cur = o.spill(slot);
            if !old.contains(&cur, ids) {
                // A data slot with full init stands for an unknown scalar.
                let cur_is_data = cur == Value::Uninit && (0..8).all(|b| o.is_init(slot * 8 + b));
                if !(cur_is_data && old.contains(&Value::Scalar(Scalar::UNKNOWN), ids)) {
                    return false;
                }
            }
        }
        // Both record lists are sorted by first byte: walk them together.
        let mut cur = o.narrow.iter().peekable();
        for &(byte, size, old) in &self.narrow {
            while cur.next_if(|(b, _, _)| *b < byte).is_some() {}
            let same = cur.peek().filter(|(b, s, _)| *b == byte && *s == size).map(|(_, _, v)| *v);
            let any = Scalar::urange(0, u64::MAX >> (64 - 8 * size as u32));
            if !old.contains(&same.unwrap_or(any)) {
                return false;
            }
        }
        for &(slot, cur) in &o.spills {
            let slot = slot as usize;
            // Old treated these bytes as data (or never read them): a current pointer spill in
            // an initialised byte would be read as data.
            if self.spill(slot) == Value::Uninit && cur.is_pointer_like() && (0..8).any(|b| self.is_init(slot * 8 + b))
            {
                return false;
            }
        }
        true
    }
}

/// One call frame.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FrameState {
    pub regs: [Value; REGISTER_COUNT],
    pub stack: Stack,
    /// Where `exit` returns to (unused for the main frame).
    pub return_pc: usize,
    /// Registers with the same non-zero link hold the same scalar (copies made by `mov`), so a
    /// branch that refines one refines them all.
    pub links: [u32; REGISTER_COUNT],
}

/// The whole abstract state at one program point.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct State {
    pub frames: Vec<FrameState>,
    pub next_id: u32,
    /// Packet bytes `[0, packet_range)` are proven to exist on this path.
    pub packet_range: i64,
    /// `(var, end)`, sorted: for packet pointers with variable part `var`, bytes up to
    /// `fixed < end` are proven to exist (see [`Pointer`]).
    pub var_ranges: Vec<(u32, i64)>,
}

impl State {
    /// Main frame with every register uninitialised except r10.
    pub fn empty() -> State {
        let mut regs = [Value::Uninit; REGISTER_COUNT];
        regs[10] = Value::Ptr(Pointer::new(Region::Stack { frame: 0 }, Scalar::constant(0)));
        State {
            frames: vec![FrameState { regs, stack: Stack::default(), return_pc: 0, links: [0; REGISTER_COUNT] }],
            next_id: 1,
            packet_range: 0,
            var_ranges: Vec::new(),
        }
    }

    /// A fresh identity (for a lookup result or a packet pointer's variable part).
    pub fn fresh_id(&mut self) -> u32 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// The proven end (see [`State::var_ranges`]) for variable part `var`, if one was proven.
    /// With none, nothing is known: not even that the variable part itself is in the packet.
    pub fn var_range(&self, var: u32) -> Option<i64> {
        let i = self.var_ranges.binary_search_by_key(&var, |(v, _)| *v).ok()?;
        Some(self.var_ranges[i].1)
    }

    /// Records that packet bytes up to `fixed < end` exist for variable part `var`.
    pub fn prove_var_range(&mut self, var: u32, end: i64) {
        match self.var_ranges.binary_search_by_key(&var, |(v, _)| *v) {
            Ok(i) => self.var_ranges[i].1 = self.var_ranges[i].1.max(end),
            Err(i) => self.var_ranges.insert(i, (var, end)),
        }
    }

    /// What copying or comparing this state costs, in verifier work units.
    pub fn weight(&self) -> u64 {
        self.frames.iter().map(|f| 1 + f.stack.records() as u64 / 2).sum::<u64>() + self.var_ranges.len() as u64
    }

    pub fn frame(&self) -> &FrameState {
        // `frames` is never empty: the main frame is popped only by ending the path.
        &self.frames[self.frames.len() - 1]
    }

    pub fn frame_mut(&mut self) -> &mut FrameState {
        let last = self.frames.len() - 1;
        &mut self.frames[last]
    }

    pub fn depth(&self) -> usize {
        self.frames.len() - 1
    }

    pub fn reg(&self, r: u8) -> Value {
        self.frame().regs[r as usize]
    }

    pub fn set_reg(&mut self, r: u8, v: Value) {
        let frame = self.frame_mut();
        frame.regs[r as usize] = v;
        frame.links[r as usize] = 0;
    }

    /// Records that `dst` now holds a copy of the scalar in `src`.
    pub fn link_copy(&mut self, dst: u8, src: u8) {
        let mut id = self.frame().links[src as usize];
        if id == 0 {
            id = self.fresh_id();
        }
        let frame = self.frame_mut();
        frame.links[src as usize] = id;
        frame.links[dst as usize] = id;
    }

    /// Narrows register `r` (and every linked copy) to `s`.
    pub fn refine_scalar(&mut self, r: u8, s: Scalar) {
        let frame = self.frame_mut();
        let link = frame.links[r as usize];
        frame.regs[r as usize] = Value::Scalar(s);
        if link != 0 {
            for i in 0..REGISTER_COUNT {
                if frame.links[i] == link {
                    frame.regs[i] = Value::Scalar(s);
                }
            }
        }
    }

    /// Applies `f` to every value (registers and spills of every frame).
    pub fn for_each_value(&mut self, mut f: impl FnMut(&mut Value)) {
        for frame in &mut self.frames {
            frame.regs.iter_mut().for_each(&mut f);
            frame.stack.for_each_spill(&mut f);
        }
    }

    /// Forgets every pointer into frame `dead` or deeper (they dangle once it returns). A
    /// spilled one becomes unreadable bytes, so its address cannot be read back as data.
    pub fn forget_frame_pointers(&mut self, dead: u8) {
        let dangling =
            |v: &Value| matches!(v, Value::Ptr(Pointer { region: Region::Stack { frame }, .. }) if *frame >= dead);
        for frame in &mut self.frames {
            for (r, link) in frame.regs.iter_mut().zip(frame.links.iter_mut()) {
                if dangling(r) {
                    *r = Value::Uninit;
                    *link = 0;
                }
            }
            let stale: Vec<usize> =
                frame.stack.spills.iter().filter(|(_, v)| dangling(v)).map(|(slot, _)| *slot as usize).collect();
            for slot in stale {
                frame.stack.set_spill(slot, Value::Uninit);
                for byte in slot * 8..slot * 8 + 8 {
                    frame.stack.set_init(byte, false);
                }
            }
        }
    }

    /// Whether `self` (a state already proven safe) covers `o`.
    pub fn contains(&self, o: &State) -> bool {
        if self.frames.len() != o.frames.len() || self.packet_range > o.packet_range {
            return false;
        }
        let mut ids = IdMap::default();
        let frames_covered = self.frames.iter().zip(&o.frames).all(|(a, b)| {
            // Equalities the old proof may have used must still hold.
            let links_kept = (0..REGISTER_COUNT).all(|i| {
                a.links[i] == 0
                    || matches!(a.regs[i], Value::Uninit)
                    || (i + 1..REGISTER_COUNT).all(|j| {
                        a.links[j] != a.links[i]
                            || matches!(a.regs[j], Value::Uninit)
                            || (b.links[i] != 0 && b.links[i] == b.links[j])
                    })
            });
            links_kept
                && a.return_pc == b.return_pc
                && a.regs.iter().zip(&b.regs).all(|(x, y)| x.contains(y, &mut ids))
                && a.stack.contains(&b.stack, &mut ids)
        });
        // Every length the old proof had for a variable part holds for the one it maps to.
        frames_covered
            && ids.pairs.iter().all(|&(old, new)| match (self.var_range(old), o.var_range(new)) {
                (None, _) => true,
                (Some(a), Some(b)) => a <= b,
                (Some(_), None) => false,
            })
    }

    pub fn can_call(&self) -> bool {
        self.frames.len() < MAX_FRAMES
    }
}
