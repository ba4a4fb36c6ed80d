//! Transfer functions: the effect of one instruction on the abstract state, with every
//! safety rule checked on the way.

use crate::error::{ErrorKind, RegionKind};
use crate::helpers::{ArgType, RetType};
use crate::isa::{AluOp, AtomicOp, EndianOp, ImmKind, Insn, JmpCond, Operand, Size, Width, FRAME_POINTER};
use crate::maps::MapDef;
use crate::memory::STACK_FRAME_BYTES;
use crate::program::{ContextKind, ProgramType};

use super::scalar::{Relation, Scalar};
use super::state::{FrameState, Pointer, Region, Stack, State, Value};

/// The fixed facts the transfer functions consult.
pub(crate) struct Facts<'a> {
    pub insns: &'a [Insn],
    pub prog_type: &'a ProgramType,
    pub maps: &'a [MapDef],
    pub reject_division_by_zero: bool,
}

/// Where a path goes after one instruction.
pub(crate) enum Step {
    Next(usize),
    /// Continue at the first pc with the current state; also explore the second with this state.
    Fork(usize, usize, State),
    /// The main frame exited.
    End,
}

type R<T> = Result<T, ErrorKind>;

/// A pointer's offset stays within this many bytes of its object, and a scalar added to it
/// within this range (Linux's `BPF_MAX_VAR_OFF`): no arithmetic can wrap an address around,
/// so no comparison or access can depend on where the object really is.
pub(crate) const MAX_POINTER_OFFSET: i64 = 1 << 29;

/// What an unsigned comparison of a pointer with 0 asks, whatever the address.
#[derive(Clone, Copy, PartialEq, Eq)]
enum NullTest {
    IsNull,
    NotNull,
    Always,
    Never,
}

/// `cond` with the pointer on the left (`pointer_first`) or right and 0 on the other side.
fn null_test(cond: JmpCond, pointer_first: bool) -> Option<NullTest> {
    use JmpCond::*;
    Some(match (cond, pointer_first) {
        (Eq, _) | (Le, true) | (Ge, false) => NullTest::IsNull,
        (Ne, _) | (Gt, true) | (Lt, false) => NullTest::NotNull,
        (Ge, true) | (Le, false) => NullTest::Always,
        (Lt, true) | (Gt, false) => NullTest::Never,
        _ => return None,
    })
}

/// The largest packet a range proof may assume (Linux's `MAX_PACKET_OFF`): a comparison of
/// `data + off` with `data_end` proves nothing for `off` above it.
pub(crate) const MAX_PACKET_OFFSET: i64 = 0xffff;

/// Where a branch goes given the refined operands on its taken (`t`) and fall-through (`f`)
/// edges (`None`: that edge is infeasible); `apply` writes them into a state.
fn split(
    state: &mut State,
    fall: usize,
    taken: usize,
    t: Option<(Scalar, Scalar)>,
    f: Option<(Scalar, Scalar)>,
    apply: impl Fn(&mut State, (Scalar, Scalar)),
) -> Step {
    match (t, f) {
        (Some(t), Some(f)) => {
            let mut other = state.clone();
            apply(&mut other, t);
            apply(state, f);
            Step::Fork(fall, taken, other)
        }
        (Some(t), None) => {
            apply(state, t);
            Step::Next(taken)
        }
        (None, Some(f)) => {
            apply(state, f);
            Step::Next(fall)
        }
        // Contradictory facts: the path itself is infeasible.
        (None, None) => Step::End,
    }
}

fn within_offset_limit(s: &Scalar) -> bool {
    s.smin >= -MAX_POINTER_OFFSET && s.smax <= MAX_POINTER_OFFSET
}

fn read(state: &State, r: u8) -> R<Value> {
    match state.reg(r) {
        Value::Uninit => Err(ErrorKind::ReadBeforeWrite(r)),
        v => Ok(v),
    }
}

fn write(state: &mut State, r: u8, v: Value) -> R<()> {
    if r == FRAME_POINTER {
        return Err(ErrorKind::WriteToFramePointer);
    }
    state.set_reg(r, v);
    Ok(())
}

fn loaded_scalar(size: Size, sign_extend: bool) -> Scalar {
    let bits = size.bytes() as u32 * 8;
    if bits == 64 {
        Scalar::UNKNOWN
    } else if sign_extend {
        Scalar::srange(-(1i64 << (bits - 1)), (1i64 << (bits - 1)) - 1)
    } else {
        Scalar::urange(0, (1u64 << bits) - 1)
    }
}

impl Facts<'_> {
    fn context_size(&self) -> (u64, bool) {
        match self.prog_type.context {
            ContextKind::None => (0, false),
            ContextKind::Buffer { len_bytes } => (len_bytes as u64, true),
            ContextKind::Struct { size_bytes, writable } => (size_bytes as u64, writable),
            ContextKind::Packet { size_bytes, .. } => (size_bytes as u64, false),
        }
    }

    fn packet_writable(&self) -> bool {
        matches!(self.prog_type.context, ContextKind::Packet { writable_packet: true, .. })
    }

    fn region_size(&self, region: &Region, packet_range: i64) -> R<u64> {
        Ok(match *region {
            Region::Context => self.context_size().0,
            Region::Packet => packet_range.max(0) as u64,
            Region::PacketEnd => 0,
            Region::Stack { .. } => STACK_FRAME_BYTES as u64,
            Region::MapValue { map, .. } => {
                self.maps.get(map as usize).ok_or(ErrorKind::UnknownMap(map))?.value_size_bytes as u64
            }
        })
    }

    /// Checks an access of `size` bytes at `ptr + off` and returns its byte range relative to
    /// the region start (the stack's start is its lowest address).
    fn check_access(&self, state: &State, reg: u8, ptr: &Pointer, off: i16, size: u64) -> R<(i64, i64)> {
        if let Region::MapValue { nullable: true, .. } = ptr.region {
            return Err(ErrorKind::PossiblyNull(reg));
        }
        if ptr.off.smin < -MAX_POINTER_OFFSET || ptr.off.smax > MAX_POINTER_OFFSET {
            return Err(ErrorKind::UnboundedOffset(reg));
        }
        let lo = ptr.off.smin + off as i64;
        let hi = ptr.off.smax + off as i64 + size as i64;
        if ptr.region == Region::Packet && ptr.var != 0 && lo >= 0 {
            // Bytes proven for this pointer's variable part, whatever its value.
            let end = ptr.fixed + off as i64 + size as i64;
            if state.var_range(ptr.var).is_some_and(|proven| end <= proven) {
                return Ok((lo, hi));
            }
        }
        let region_size = self.region_size(&ptr.region, state.packet_range)? as i64;
        let (start, end) = match ptr.region {
            Region::Stack { .. } => (-region_size, 0),
            _ => (0, region_size),
        };
        if lo < start || hi > end {
            let at = if lo < start { lo } else { hi - size as i64 };
            return Err(ErrorKind::OutOfBounds { region: ptr.region.kind(), off: at, size: size as u8 });
        }
        Ok((lo, hi))
    }

    fn pointer(&self, state: &State, r: u8) -> R<Pointer> {
        match read(state, r)? {
            Value::Ptr(p) => Ok(p),
            _ => Err(ErrorKind::NotAPointer(r)),
        }
    }

    fn stack_frame(state: &mut State, frame: u8) -> &mut Stack {
        &mut state.frames[frame as usize].stack
    }

    /// Reads `[lo, hi)` of a stack frame; exact when it is one whole spilled slot.
    fn stack_read(state: &mut State, frame: u8, lo: i64, hi: i64, exact: bool) -> R<Option<Value>> {
        let stack = Self::stack_frame(state, frame);
        let (a, b) = (Stack::index(lo), Stack::index(hi));
        if exact && b - a == 8 && a % 8 == 0 {
            let v = stack.spill(a / 8);
            if v != Value::Uninit {
                return Ok(Some(v));
            }
        }
        if exact {
            if let Some(s) = stack.narrow(a, b - a) {
                return Ok(Some(Value::Scalar(s)));
            }
        }
        for byte in a..b {
            if !stack.is_init(byte) {
                return Err(ErrorKind::StackReadBeforeWrite { off: byte as i32 - STACK_FRAME_BYTES as i32 });
            }
            if stack.spill(byte / 8).is_pointer_like() {
                return Err(ErrorKind::PartialPointerAccess);
            }
        }
        Ok(None)
    }

    fn stack_write(state: &mut State, frame: u8, lo: i64, hi: i64, exact: bool, value: Value) -> R<()> {
        let stack = Self::stack_frame(state, frame);
        let (a, b) = (Stack::index(lo), Stack::index(hi));
        stack.clear_narrow(a, b);
        if exact && b - a == 8 && a % 8 == 0 {
            stack.set_spill(a / 8, value);
            for byte in a..b {
                stack.set_init(byte, true);
            }
            return Ok(());
        }
        if value.is_pointer_like() {
            return Err(ErrorKind::PartialPointerAccess);
        }
        for slot in a / 8..=(b - 1) / 8 {
            if stack.spill(slot).is_pointer_like() {
                // The rest of a clobbered pointer is unreadable.
                for byte in slot * 8..slot * 8 + 8 {
                    stack.set_init(byte, false);
                }
            }
            stack.set_spill(slot, Value::Uninit);
        }
        if exact {
            for byte in a..b {
                stack.set_init(byte, true);
            }
            if let Value::Scalar(s) = value {
                stack.set_narrow(a, b - a, s);
            }
        }
        Ok(())
    }

    fn load(&self, state: &mut State, size: Size, sign_extend: bool, dst: u8, src: u8, off: i16) -> R<()> {
        let ptr = self.pointer(state, src)?;
        let (lo, hi) = self.check_access(state, src, &ptr, off, size.bytes() as u64)?;
        let mut value = Value::Scalar(loaded_scalar(size, sign_extend));
        if let (Region::Context, ContextKind::Packet { data_offset, data_end_offset, .. }) =
            (ptr.region, self.prog_type.context)
        {
            let fields = [(data_offset as i64, Region::Packet), (data_end_offset as i64, Region::PacketEnd)];
            for (field, region) in fields {
                if lo < field + 8 && field < hi {
                    if (lo, hi) != (field, field + 8) || size != Size::DW {
                        return Err(ErrorKind::PartialPointerAccess);
                    }
                    value = Value::Ptr(Pointer::new(region, Scalar::constant(0)));
                }
            }
        }
        if let Region::Stack { frame } = ptr.region {
            let exact = ptr.off.as_const().is_some();
            if let Some(v) = Self::stack_read(state, frame, lo, hi, exact)? {
                value = match v {
                    // A narrow store read back with sign extension.
                    Value::Scalar(s) if sign_extend => {
                        Value::Scalar(Scalar::alu64(AluOp::MovSx(size.bytes() * 8), &Scalar::UNKNOWN, &s))
                    }
                    v => v,
                };
            }
        }
        write(state, dst, value)
    }

    fn store(&self, state: &mut State, size: Size, dst: u8, off: i16, src: Operand) -> R<()> {
        let ptr = self.pointer(state, dst)?;
        let value = match src {
            Operand::Imm(imm) => Value::Scalar(Scalar::constant(imm as i64 as u64)),
            Operand::Reg(r) => read(state, r)?,
        };
        let (lo, hi) = self.check_access(state, dst, &ptr, off, size.bytes() as u64)?;
        match ptr.region {
            Region::Stack { frame } => {
                let value = match value {
                    Value::Scalar(s) if size != Size::DW => Value::Scalar(Scalar::alu64(
                        AluOp::And,
                        &s,
                        &Scalar::constant((1u64 << (size.bytes() * 8)) - 1),
                    )),
                    v => v,
                };
                Self::stack_write(state, frame, lo, hi, ptr.off.as_const().is_some(), value)
            }
            Region::Context => {
                if !self.context_size().1 {
                    return Err(ErrorKind::ReadOnlyContext);
                }
                if value.is_pointer_like() {
                    return Err(ErrorKind::PointerStore(RegionKind::Context));
                }
                Ok(())
            }
            Region::MapValue { .. } => {
                if value.is_pointer_like() {
                    return Err(ErrorKind::PointerStore(RegionKind::MapValue));
                }
                Ok(())
            }
            Region::Packet | Region::PacketEnd => {
                if !self.packet_writable() {
                    return Err(ErrorKind::ReadOnlyContext);
                }
                if value.is_pointer_like() {
                    return Err(ErrorKind::PointerStore(RegionKind::Packet));
                }
                Ok(())
            }
        }
    }

    #[allow(clippy::too_many_arguments)] // the instruction's fields, spelled out
    fn atomic(&self, state: &mut State, size: Size, op: AtomicOp, fetch: bool, dst: u8, src: u8, off: i16) -> R<()> {
        let ptr = self.pointer(state, dst)?;
        let value = read(state, src)?;
        if value.is_pointer_like() {
            return Err(ErrorKind::AtomicOnPointer);
        }
        if op == AtomicOp::CmpXchg && read(state, 0)?.is_pointer_like() {
            return Err(ErrorKind::AtomicOnPointer);
        }
        let (lo, hi) = self.check_access(state, dst, &ptr, off, size.bytes() as u64)?;
        match ptr.region {
            Region::Stack { frame } => {
                let exact = ptr.off.as_const().is_some();
                Self::stack_read(state, frame, lo, hi, false)?;
                Self::stack_write(state, frame, lo, hi, exact, Value::Scalar(loaded_scalar(size, false)))?;
                if exact && size == Size::DW && Stack::index(lo).is_multiple_of(8) {
                    // The slot now holds an unknown scalar, not a spill.
                    Self::stack_frame(state, frame).set_spill(Stack::index(lo) / 8, Value::Uninit);
                }
            }
            Region::Context if !self.context_size().1 => return Err(ErrorKind::ReadOnlyContext),
            Region::Packet if !self.packet_writable() => return Err(ErrorKind::ReadOnlyContext),
            _ => {}
        }
        let fetched = Value::Scalar(loaded_scalar(size, false));
        if op == AtomicOp::CmpXchg {
            write(state, 0, fetched)?;
        } else if fetch {
            write(state, src, fetched)?;
        }
        Ok(())
    }

    fn alu(&self, state: &mut State, width: Width, op: AluOp, dst: u8, src: Operand) -> R<()> {
        let b = match src {
            Operand::Imm(imm) => Value::Scalar(Scalar::constant(match width {
                Width::W64 => imm as i64 as u64,
                Width::W32 => imm as u32 as u64,
            })),
            Operand::Reg(r) => read(state, r)?,
        };
        let src_reg = match src {
            Operand::Reg(r) => r,
            Operand::Imm(_) => dst,
        };
        if op == AluOp::Mov {
            let v = match (width, b) {
                (Width::W64, v) => v,
                (Width::W32, Value::Scalar(s)) => Value::Scalar(s.cast32()),
                (Width::W32, _) => return Err(ErrorKind::PointerLeak(src_reg)),
            };
            write(state, dst, v)?;
            if let (Width::W64, Value::Scalar(_), Operand::Reg(s)) = (width, v, src) {
                if s != dst {
                    state.link_copy(dst, s);
                }
            }
            return Ok(());
        }
        if let AluOp::MovSx(_) = op {
            let Value::Scalar(s) = b else {
                return Err(ErrorKind::PointerArithmetic(src_reg));
            };
            return write(state, dst, Value::Scalar(Scalar::alu(width, op, &Scalar::UNKNOWN, &s)));
        }
        let a = read(state, dst)?;
        if self.reject_division_by_zero && matches!(op, AluOp::Div | AluOp::SDiv | AluOp::Mod | AluOp::SMod) {
            if let Value::Scalar(d) = b {
                let d = if width == Width::W32 { d.cast32() } else { d };
                if d.umin == 0 {
                    return Err(ErrorKind::DivisionByZero);
                }
            }
        }
        let result = match (a, b) {
            (Value::Scalar(x), Value::Scalar(y)) => Value::Scalar(Scalar::alu(width, op, &x, &y)),
            (Value::Ptr(p), Value::Scalar(y)) if width == Width::W64 && matches!(op, AluOp::Add | AluOp::Sub) => {
                Value::Ptr(self.pointer_offset(state, dst, p, op, &y, src_reg)?)
            }
            (Value::Scalar(x), Value::Ptr(p)) if width == Width::W64 && op == AluOp::Add => {
                Value::Ptr(self.pointer_offset(state, src_reg, p, op, &x, dst)?)
            }
            (Value::Ptr(p), Value::Ptr(q)) if width == Width::W64 && op == AluOp::Sub => {
                Value::Scalar(self.pointer_difference(state, &p, &q).ok_or(ErrorKind::PointerSubtraction(dst))?)
            }
            (Value::Scalar(_), _) => return Err(ErrorKind::PointerArithmetic(src_reg)),
            _ => return Err(ErrorKind::PointerArithmetic(dst)),
        };
        write(state, dst, result)
    }

    /// `p ± y`, for `p` in register `reg` and the scalar `y` from register `y_reg`: only a
    /// bounded scalar, and only while the offset stays within [`MAX_POINTER_OFFSET`].
    fn pointer_offset(&self, state: &mut State, reg: u8, p: Pointer, op: AluOp, y: &Scalar, y_reg: u8) -> R<Pointer> {
        if let Region::MapValue { nullable: true, .. } | Region::PacketEnd = p.region {
            return Err(ErrorKind::PointerArithmetic(reg));
        }
        if !within_offset_limit(y) {
            return Err(ErrorKind::UnboundedPointerArithmetic(y_reg));
        }
        let off = Scalar::alu64(op, &p.off, y);
        if !within_offset_limit(&off) {
            return Err(ErrorKind::PointerOffsetRange(reg));
        }
        let (var, fixed) = match y.as_const() {
            Some(c) if op == AluOp::Add => (p.var, p.fixed.wrapping_add(c as i64)),
            Some(c) => (p.var, p.fixed.wrapping_sub(c as i64)),
            // A new unknown part: it shares nothing with earlier pointers.
            None if p.region == Region::Packet => (state.fresh_id(), 0),
            None => (0, 0),
        };
        Ok(Pointer { region: p.region, off, var, fixed })
    }

    /// `p - q` as a number, when it does not depend on where memory is: two pointers into one
    /// object (the same lookup's map value, the same stack frame, the context, the packet),
    /// computed from their offsets; or `data_end - data`, the packet's length less `q`'s
    /// offset.
    fn pointer_difference(&self, state: &State, p: &Pointer, q: &Pointer) -> Option<Scalar> {
        let nullable = |r: &Region| matches!(r, Region::MapValue { nullable: true, .. });
        if nullable(&p.region) || nullable(&q.region) {
            return None;
        }
        match (p.region, q.region) {
            (Region::PacketEnd, Region::Packet) => {
                // The length is at least what was proven; the packet itself may be any size.
                let len = Scalar::urange(state.packet_range.max(0) as u64, i64::MAX as u64);
                Some(Scalar::alu64(AluOp::Sub, &len, &q.off))
            }
            (Region::PacketEnd, _) | (_, Region::PacketEnd) => None,
            (a, b) if a.same_object(&b) => Some(Scalar::alu64(AluOp::Sub, &p.off, &q.off)),
            _ => None,
        }
    }

    fn endian(&self, state: &mut State, op: EndianOp, bits: u8, dst: u8) -> R<()> {
        let Value::Scalar(s) = read(state, dst)? else {
            return Err(ErrorKind::PointerArithmetic(dst));
        };
        let r = match (s.as_const(), op, bits) {
            (Some(c), _, _) => Scalar::constant(crate::alu::endian(op, bits, c)),
            (None, EndianOp::ToLe, 64) => s,
            (None, EndianOp::ToLe, 32) => s.cast32(),
            (None, _, 64) => Scalar::UNKNOWN,
            (None, _, b) => Scalar::urange(0, (1u64 << b) - 1),
        };
        write(state, dst, Value::Scalar(r))
    }

    fn check_helper_memory(&self, state: &mut State, reg: u8, size: u64) -> R<()> {
        let ptr = self.pointer(state, reg).map_err(|_| ErrorKind::HelperArgument { arg: reg })?;
        if ptr.region == Region::Context {
            // Keys and values come from the stack or another map value, as in Linux.
            return Err(ErrorKind::HelperArgument { arg: reg });
        }
        let (lo, hi) = self.check_access(state, reg, &ptr, 0, size)?;
        if let Region::Stack { frame } = ptr.region {
            Self::stack_read(state, frame, lo, hi, false)?;
        }
        Ok(())
    }

    fn call_helper(&self, state: &mut State, id: u32) -> R<()> {
        let helper = self.prog_type.helper(id).ok_or(ErrorKind::UnknownHelper(id))?;
        let mut map: Option<u32> = None;
        for (i, arg) in helper.proto.args.iter().enumerate() {
            let reg = i as u8 + 1;
            match arg {
                ArgType::Unused => {}
                ArgType::Anything => {
                    if read(state, reg)?.is_pointer_like() {
                        // Whatever the helper does with it, an address would leave the program.
                        return Err(ErrorKind::PointerLeak(reg));
                    }
                }
                ArgType::Scalar => {
                    if !matches!(read(state, reg)?, Value::Scalar(_)) {
                        return Err(ErrorKind::HelperArgument { arg: reg });
                    }
                }
                ArgType::MapHandle => match read(state, reg)? {
                    Value::MapHandle(m) => map = Some(m),
                    _ => return Err(ErrorKind::HelperArgument { arg: reg }),
                },
                ArgType::MapKey | ArgType::MapValue => {
                    let m = map.ok_or(ErrorKind::HelperArgument { arg: reg })?;
                    let def = self.maps.get(m as usize).ok_or(ErrorKind::UnknownMap(m))?;
                    let size = if *arg == ArgType::MapKey { def.key_size_bytes } else { def.value_size_bytes };
                    self.check_helper_memory(state, reg, size as u64)?;
                }
            }
        }
        for r in 1..=5 {
            state.set_reg(r, Value::Uninit);
        }
        let r0 = match helper.proto.ret {
            RetType::Scalar => Value::Scalar(Scalar::UNKNOWN),
            RetType::ScalarRange(lo, hi) => Value::Scalar(Scalar::urange(lo, hi)),
            RetType::MapValueOrNull => {
                let map = map.ok_or(ErrorKind::HelperArgument { arg: 1 })?;
                let id = state.fresh_id();
                Value::Ptr(Pointer::new(Region::MapValue { map, id, nullable: true }, Scalar::constant(0)))
            }
        };
        state.set_reg(0, r0);
        Ok(())
    }

    fn exit(&self, state: &mut State) -> R<Option<usize>> {
        if state.depth() == 0 {
            let r0 = read(state, 0)?;
            let Value::Scalar(s) = r0 else {
                return Err(ErrorKind::PointerLeak(0));
            };
            if let Some((lo, hi)) = self.prog_type.return_range {
                if s.smin < lo || s.smax > hi {
                    return Err(ErrorKind::ReturnOutOfRange);
                }
            }
            return Ok(None);
        }
        let callee = state.frames.pop().ok_or(ErrorKind::TooManyFrames)?;
        let dead = state.frames.len() as u8;
        let caller = state.frame_mut();
        caller.regs[0..6].copy_from_slice(&callee.regs[0..6]);
        caller.links[0..6].fill(0);
        state.forget_frame_pointers(dead);
        Ok(Some(callee.return_pc))
    }

    #[allow(clippy::too_many_arguments)] // the instruction's fields, spelled out
    fn branch(
        &self,
        state: &mut State,
        pc: usize,
        width: Width,
        cond: JmpCond,
        dst: u8,
        src: Operand,
        off: i16,
    ) -> R<Step> {
        let fall = pc + 1;
        let taken = (pc as i64 + 1 + off as i64) as usize;
        let a = read(state, dst)?;
        let (b, b_reg) = match src {
            Operand::Reg(r) => (read(state, r)?, Some(r)),
            Operand::Imm(imm) => (Value::Scalar(Scalar::constant(imm as i64 as u64)), None),
        };
        let both = |state: &mut State| Ok(Step::Fork(fall, taken, state.clone()));
        match (a, b) {
            (Value::Scalar(x), Value::Scalar(y)) => {
                let refine = |rel: Relation| match width {
                    Width::W64 => Scalar::refine64(rel, &x, &y),
                    Width::W32 => {
                        let (yu, ys) = match src {
                            Operand::Imm(imm) => (Scalar::constant(imm as u32 as u64), y),
                            Operand::Reg(_) => (y, y),
                        };
                        Scalar::refine32(rel, &x, &yu, &ys)
                    }
                };
                let t = refine(Relation::Cond(cond));
                let f = refine(Relation::negate(cond));
                let apply = |state: &mut State, (nx, ny): (Scalar, Scalar)| {
                    state.refine_scalar(dst, nx);
                    if let Some(r) = b_reg {
                        if r != dst {
                            state.refine_scalar(r, ny);
                        }
                    }
                };
                Ok(split(state, fall, taken, t, f, apply))
            }
            (Value::Ptr(p), Value::Scalar(y)) | (Value::Scalar(y), Value::Ptr(p))
                if y.as_const() == Some(0) && width == Width::W64 && null_test(cond, a.is_pointer_like()).is_some() =>
            {
                let ptr_reg = if matches!(a, Value::Ptr(_)) { dst } else { b_reg.unwrap_or(dst) };
                let null_on_taken = match null_test(cond, a.is_pointer_like()) {
                    Some(NullTest::Always) => return Ok(Step::Next(taken)),
                    Some(NullTest::Never) => return Ok(Step::Next(fall)),
                    test => test == Some(NullTest::IsNull),
                };
                match p.region {
                    Region::MapValue { id, nullable: true, .. } => {
                        let mut other = state.clone();
                        let (null_state, ok_state) =
                            if null_on_taken { (&mut other, &mut *state) } else { (&mut *state, &mut other) };
                        null_state.for_each_value(|v| {
                            if let Value::Ptr(Pointer { region: Region::MapValue { id: i, .. }, .. }) = v {
                                if *i == id {
                                    *v = Value::Scalar(Scalar::constant(0));
                                }
                            }
                        });
                        ok_state.for_each_value(|v| {
                            if let Value::Ptr(Pointer { region: Region::MapValue { id: i, nullable, .. }, .. }) = v {
                                if *i == id {
                                    *nullable = false;
                                }
                            }
                        });
                        // `state` continues on the fall-through edge.
                        Ok(Step::Fork(fall, taken, other))
                    }
                    // A pointer inside (or just past) its object is a real, non-zero address;
                    // anywhere else `ptr == 0` would depend on where the object is.
                    _ if self.inside_object(state, &p)? => Ok(Step::Next(if null_on_taken { fall } else { taken })),
                    _ => Err(ErrorKind::PointerComparison(ptr_reg)),
                }
            }
            (Value::Ptr(p), Value::Ptr(q))
                if width == Width::W64
                    && matches!(
                        (p.region, q.region),
                        (Region::Packet, Region::PacketEnd) | (Region::PacketEnd, Region::Packet)
                    ) =>
            {
                let packet_first = p.region == Region::Packet;
                let (packet, packet_reg) = if packet_first { (p, dst) } else { (q, b_reg.unwrap_or(dst)) };
                // Below `data` the address could wrap around zero: the outcome would depend on it.
                if packet.off.smin < 0 {
                    return Err(ErrorKind::PointerComparison(packet_reg));
                }
                // Addresses are below 2^63, so signed and unsigned orders agree.
                let unsigned = match cond {
                    JmpCond::Sgt => JmpCond::Gt,
                    JmpCond::Sge => JmpCond::Ge,
                    JmpCond::Slt => JmpCond::Lt,
                    JmpCond::Sle => JmpCond::Le,
                    JmpCond::Set => return Err(ErrorKind::PointerComparison(packet_reg)),
                    c => c,
                };
                // Which edge proves `data + off <= data_end` (bonus 0) or `<` (bonus 1).
                let (on_taken, bonus) = match (unsigned, packet_first) {
                    (JmpCond::Gt, true) | (JmpCond::Lt, false) => (false, 0),
                    (JmpCond::Ge, true) | (JmpCond::Le, false) => (false, 1),
                    (JmpCond::Lt, true) | (JmpCond::Gt, false) => (true, 1),
                    (JmpCond::Le, true) | (JmpCond::Ge, false) => (true, 0),
                    _ => return both(state),
                };
                let mut other = state.clone();
                let proven = if on_taken { &mut other } else { &mut *state };
                // No proof from an offset beyond the largest packet.
                if packet.off.smax.saturating_add(bonus) <= MAX_PACKET_OFFSET {
                    proven.packet_range = proven.packet_range.max(packet.off.smin + bonus);
                    if packet.var != 0 {
                        proven.prove_var_range(packet.var, packet.fixed + bonus);
                    }
                }
                Ok(Step::Fork(fall, taken, other))
            }
            (Value::Ptr(p), Value::Ptr(q))
                if width == Width::W64
                    && p.region.same_object(&q.region)
                    && !matches!(p.region, Region::MapValue { nullable: true, .. })
                    && self.inside_object(state, &p)?
                    && self.inside_object(state, &q)? =>
            {
                self.compare_in_object(state, pc, cond, dst, p, b_reg.unwrap_or(dst), q)
            }
            (Value::Ptr(_) | Value::MapHandle(_), _) => Err(ErrorKind::PointerComparison(dst)),
            _ => Err(ErrorKind::PointerComparison(b_reg.unwrap_or(dst))),
        }
    }

    /// Two pointers inside one object: their addresses are `base + off` with no wrap-around,
    /// so the addresses compare exactly as the (signed) offsets do, whatever `base` is.
    #[allow(clippy::too_many_arguments)] // two registers and their values, spelled out
    fn compare_in_object(
        &self,
        state: &mut State,
        pc: usize,
        cond: JmpCond,
        dst: u8,
        p: Pointer,
        src: u8,
        q: Pointer,
    ) -> R<Step> {
        let signed = match cond {
            JmpCond::Gt | JmpCond::Sgt => JmpCond::Sgt,
            JmpCond::Ge | JmpCond::Sge => JmpCond::Sge,
            JmpCond::Lt | JmpCond::Slt => JmpCond::Slt,
            JmpCond::Le | JmpCond::Sle => JmpCond::Sle,
            JmpCond::Eq | JmpCond::Ne => cond,
            JmpCond::Set => return Err(ErrorKind::PointerComparison(dst)),
        };
        let Insn::Jcond { off, .. } = self.insns[pc] else { return Err(ErrorKind::PointerComparison(dst)) };
        let (fall, taken) = (pc + 1, (pc as i64 + 1 + off as i64) as usize);
        let t = Scalar::refine64(Relation::Cond(signed), &p.off, &q.off);
        let f = Scalar::refine64(Relation::negate(signed), &p.off, &q.off);
        let apply = |state: &mut State, (np, nq): (Scalar, Scalar)| {
            state.set_reg(dst, Value::Ptr(Pointer { off: np, ..p }));
            if src != dst {
                state.set_reg(src, Value::Ptr(Pointer { off: nq, ..q }));
            }
        };
        Ok(split(state, fall, taken, t, f, apply))
    }

    /// Whether every value `p` may stand for points into its object or one past its end.
    fn inside_object(&self, state: &State, p: &Pointer) -> R<bool> {
        let size = self.region_size(&p.region, state.packet_range)? as i64;
        let (start, end) = match p.region {
            Region::Stack { .. } => (-size, 0),
            _ => (0, size),
        };
        Ok(p.off.smin >= start && p.off.smax <= end)
    }

    /// Executes one instruction abstractly.
    pub fn step(&self, state: &mut State, pc: usize) -> R<Step> {
        let insn = self.insns[pc];
        let next = |n: usize| -> R<Step> {
            if n >= self.insns.len() {
                Err(ErrorKind::FallOffEnd)
            } else {
                Ok(Step::Next(n))
            }
        };
        match insn {
            Insn::Alu { width, op, dst, src } => {
                self.alu(state, width, op, dst, src)?;
                next(pc + 1)
            }
            Insn::Endian { op, bits, dst } => {
                self.endian(state, op, bits, dst)?;
                next(pc + 1)
            }
            Insn::LoadImm64 { dst, kind, imm } => {
                let v = match kind {
                    ImmKind::Value => Value::Scalar(Scalar::constant(imm)),
                    ImmKind::MapIndex => {
                        if imm >= self.maps.len() as u64 {
                            return Err(ErrorKind::UnknownMap(imm as u32));
                        }
                        Value::MapHandle(imm as u32)
                    }
                };
                write(state, dst, v)?;
                next(pc + 2)
            }
            Insn::LoadImm64Tail => Err(ErrorKind::JumpIntoLddw),
            Insn::Load { size, sign_extend, dst, src, off } => {
                self.load(state, size, sign_extend, dst, src, off)?;
                next(pc + 1)
            }
            Insn::Store { size, dst, off, src } => {
                self.store(state, size, dst, off, src)?;
                next(pc + 1)
            }
            Insn::Atomic { size, op, fetch, dst, src, off } => {
                self.atomic(state, size, op, fetch, dst, src, off)?;
                next(pc + 1)
            }
            Insn::Ja { off } | Insn::JaLong { off } => next((pc as i64 + 1 + off as i64) as usize),
            Insn::Jcond { width, cond, dst, src, off } => {
                let step = self.branch(state, pc, width, cond, dst, src, off)?;
                if let Step::Next(n) | Step::Fork(n, _, _) = step {
                    next(n)?;
                }
                Ok(step)
            }
            Insn::CallHelper { id } => {
                self.call_helper(state, id)?;
                next(pc + 1)
            }
            Insn::CallReg { reg } => {
                let Value::Scalar(s) = read(state, reg)? else {
                    return Err(ErrorKind::UnknownCallTarget);
                };
                let id = s.as_const().ok_or(ErrorKind::UnknownCallTarget)?;
                self.call_helper(state, u32::try_from(id).map_err(|_| ErrorKind::UnknownCallTarget)?)?;
                next(pc + 1)
            }
            Insn::CallLocal { off } => {
                if !state.can_call() {
                    return Err(ErrorKind::TooManyFrames);
                }
                let depth = state.frames.len() as u8;
                let mut regs = state.frame().regs;
                regs[10] = Value::Ptr(Pointer::new(Region::Stack { frame: depth }, Scalar::constant(0)));
                state.frames.push(FrameState { regs, stack: Stack::default(), return_pc: pc + 1, links: [0; 11] });
                next((pc as i64 + 1 + off as i64) as usize)
            }
            Insn::Exit => match self.exit(state)? {
                None => Ok(Step::End),
                Some(ret) => next(ret),
            },
        }
    }
}
