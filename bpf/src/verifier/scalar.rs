//! Abstract scalars: unsigned and signed bounds plus known bits, with transfer functions for
//! every ALU operation and refinement by branch conditions.

use crate::alu;
use crate::isa::{AluOp, JmpCond, Width};

use super::tnum::Tnum;

/// A set of 64-bit values: the intersection of `[umin, umax]`, `[smin, smax]` (as i64) and `tnum`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Scalar {
    pub umin: u64,
    pub umax: u64,
    pub smin: i64,
    pub smax: i64,
    pub tnum: Tnum,
}

/// A condition or its negation, as used to refine the two sides of a branch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Relation {
    Cond(JmpCond),
    NotSet,
}

impl Relation {
    /// The relation that holds on the fall-through edge.
    pub fn negate(cond: JmpCond) -> Relation {
        Relation::Cond(match cond {
            JmpCond::Eq => JmpCond::Ne,
            JmpCond::Ne => JmpCond::Eq,
            JmpCond::Gt => JmpCond::Le,
            JmpCond::Ge => JmpCond::Lt,
            JmpCond::Lt => JmpCond::Ge,
            JmpCond::Le => JmpCond::Gt,
            JmpCond::Sgt => JmpCond::Sle,
            JmpCond::Sge => JmpCond::Slt,
            JmpCond::Slt => JmpCond::Sge,
            JmpCond::Sle => JmpCond::Sgt,
            JmpCond::Set => return Relation::NotSet,
        })
    }
}

const U32_MAX: u64 = u32::MAX as u64;

impl Scalar {
    pub const UNKNOWN: Scalar = Scalar { umin: 0, umax: u64::MAX, smin: i64::MIN, smax: i64::MAX, tnum: Tnum::UNKNOWN };

    pub const fn constant(v: u64) -> Scalar {
        Scalar { umin: v, umax: v, smin: v as i64, smax: v as i64, tnum: Tnum::constant(v) }
    }

    /// Values in `[lo, hi]` (unsigned).
    pub fn urange(lo: u64, hi: u64) -> Scalar {
        let mut s = Scalar { umin: lo, umax: hi, ..Scalar::UNKNOWN };
        s.sync();
        s
    }

    /// Values in `[lo, hi]` (signed).
    pub fn srange(lo: i64, hi: i64) -> Scalar {
        let mut s = Scalar { smin: lo, smax: hi, ..Scalar::UNKNOWN };
        s.sync();
        s
    }

    fn from_tnum(t: Tnum) -> Scalar {
        let mut s = Scalar { tnum: t, ..Scalar::UNKNOWN };
        s.sync();
        s
    }

    pub fn as_const(&self) -> Option<u64> {
        if self.tnum.is_const() {
            Some(self.tnum.value)
        } else if self.umin == self.umax {
            Some(self.umin)
        } else {
            None
        }
    }

    /// Whether the set is empty (an infeasible path).
    pub fn is_empty(&self) -> bool {
        self.umin > self.umax || self.smin > self.smax || self.tnum.max() < self.umin || self.tnum.min() > self.umax
    }

    /// Tightens every component from the others (Linux's `reg_bounds_sync`, done our way).
    pub fn sync(&mut self) {
        for _ in 0..2 {
            if self.is_empty() {
                return;
            }
            const SIGN: u64 = 1 << 63;
            self.umin = self.umin.max(self.tnum.min());
            self.umax = self.umax.min(self.tnum.max());
            let t_smin = (self.tnum.value | (self.tnum.mask & SIGN)) as i64;
            let t_smax = (self.tnum.value | (self.tnum.mask & !SIGN)) as i64;
            self.smin = self.smin.max(t_smin);
            self.smax = self.smax.min(t_smax);
            if (self.umin as i64) <= (self.umax as i64) {
                // The unsigned range does not cross the sign boundary.
                self.smin = self.smin.max(self.umin as i64);
                self.smax = self.smax.min(self.umax as i64);
            }
            if self.smin >= 0 || self.smax < 0 {
                self.umin = self.umin.max(self.smin as u64);
                self.umax = self.umax.min(self.smax as u64);
            }
            if self.umin <= self.umax {
                self.tnum = self.tnum.intersect(Tnum::range(self.umin, self.umax));
            }
        }
    }

    /// Whether every value of `other` is in `self`.
    pub fn contains(&self, other: &Scalar) -> bool {
        self.umin <= other.umin
            && other.umax <= self.umax
            && self.smin <= other.smin
            && other.smax <= self.smax
            && self.tnum.contains(other.tnum)
    }

    /// Zero-extension of the low 32 bits.
    pub fn cast32(&self) -> Scalar {
        if self.umax <= U32_MAX {
            return *self;
        }
        Scalar::from_tnum(self.tnum.cast(4))
    }

    /// Sign-extension of the low 32 bits.
    pub fn sext32(&self) -> Scalar {
        if self.smin >= i32::MIN as i64 && self.smax <= i32::MAX as i64 {
            return *self;
        }
        if let Some(c) = self.as_const() {
            return Scalar::constant(c as u32 as i32 as i64 as u64);
        }
        if self.umax <= i32::MAX as u64 {
            return *self;
        }
        Scalar::srange(i32::MIN as i64, i32::MAX as i64)
    }

    /// Sign-extension of the low `bits` bits.
    fn sext(&self, bits: u8) -> Scalar {
        if bits == 32 {
            return self.sext32();
        }
        let lo = -(1i64 << (bits - 1));
        let hi = (1i64 << (bits - 1)) - 1;
        if self.smin >= lo && self.smax <= hi {
            return *self;
        }
        if let Some(c) = self.as_const() {
            let shift = 64 - u32::from(bits);
            return Scalar::constant((((c << shift) as i64) >> shift) as u64);
        }
        Scalar::srange(lo, hi)
    }

    fn add(&self, o: &Scalar) -> Scalar {
        let mut r = Scalar::UNKNOWN;
        if let (Some(lo), Some(hi)) = (self.umin.checked_add(o.umin), self.umax.checked_add(o.umax)) {
            r.umin = lo;
            r.umax = hi;
        }
        if let (Some(lo), Some(hi)) = (self.smin.checked_add(o.smin), self.smax.checked_add(o.smax)) {
            r.smin = lo;
            r.smax = hi;
        }
        r.tnum = self.tnum.plus(o.tnum);
        r.sync();
        r
    }

    fn sub(&self, o: &Scalar) -> Scalar {
        let mut r = Scalar::UNKNOWN;
        if self.umin >= o.umax {
            r.umin = self.umin - o.umax;
            r.umax = self.umax - o.umin;
        }
        if let (Some(lo), Some(hi)) = (self.smin.checked_sub(o.smax), self.smax.checked_sub(o.smin)) {
            r.smin = lo;
            r.smax = hi;
        }
        r.tnum = self.tnum.minus(o.tnum);
        r.sync();
        r
    }

    fn mul(&self, o: &Scalar) -> Scalar {
        let mut r = Scalar::UNKNOWN;
        if let Some(hi) = self.umax.checked_mul(o.umax) {
            r.umin = self.umin * o.umin;
            r.umax = hi;
        }
        r.tnum = self.tnum.times(o.tnum);
        r.sync();
        r
    }

    fn shift_amount(&self, width_bits: u64) -> Option<(u32, u32)> {
        (self.umax < width_bits).then_some((self.umin as u32, self.umax as u32))
    }

    /// 64-bit ALU transfer function.
    pub fn alu64(op: AluOp, a: &Scalar, b: &Scalar) -> Scalar {
        if let (Some(x), Some(y)) = (a.as_const(), b.as_const()) {
            return Scalar::constant(alu::alu64(op, x, y));
        }
        let mut r = match op {
            AluOp::Add => a.add(b),
            AluOp::Sub => a.sub(b),
            AluOp::Mul => a.mul(b),
            AluOp::And => {
                let mut r = Scalar::from_tnum(a.tnum.and(b.tnum));
                r.umax = r.umax.min(a.umax).min(b.umax);
                r
            }
            AluOp::Or => {
                let mut r = Scalar::from_tnum(a.tnum.or(b.tnum));
                r.umin = r.umin.max(a.umin).max(b.umin);
                r
            }
            AluOp::Xor => Scalar::from_tnum(a.tnum.xor(b.tnum)),
            AluOp::Lsh => match b.shift_amount(64) {
                Some((lo, hi)) => {
                    let mut r = Scalar::from_tnum(if lo == hi { a.tnum.lsh(lo) } else { Tnum::UNKNOWN });
                    if a.umax.leading_zeros() >= hi {
                        r.umin = r.umin.max(a.umin << lo);
                        r.umax = r.umax.min(a.umax << hi);
                    }
                    r
                }
                None => Scalar::UNKNOWN,
            },
            AluOp::Rsh => match b.shift_amount(64) {
                Some((lo, hi)) => {
                    let mut r = Scalar::from_tnum(if lo == hi { a.tnum.rsh(lo) } else { Tnum::UNKNOWN });
                    r.umin = r.umin.max(a.umin >> hi);
                    r.umax = r.umax.min(a.umax >> lo);
                    r
                }
                None => Scalar::UNKNOWN,
            },
            AluOp::Arsh => match b.shift_amount(64) {
                Some((lo, hi)) if lo == hi => {
                    let mut r = Scalar::from_tnum(a.tnum.arsh(lo));
                    r.smin = r.smin.max(a.smin >> lo);
                    r.smax = r.smax.min(a.smax >> lo);
                    r
                }
                _ => Scalar::UNKNOWN,
            },
            AluOp::Div => match a.umax.checked_div(b.umin) {
                Some(hi) => Scalar::urange(a.umin / b.umax, hi),
                None => Scalar::urange(0, a.umax),
            },
            AluOp::Mod => {
                if b.umin > 0 {
                    Scalar::urange(0, a.umax.min(b.umax - 1))
                } else {
                    Scalar::urange(0, a.umax)
                }
            }
            AluOp::Neg => {
                if a.smin != i64::MIN {
                    Scalar::srange(-a.smax, -a.smin)
                } else {
                    Scalar::UNKNOWN
                }
            }
            AluOp::Mov => *b,
            AluOp::MovSx(bits) => b.sext(bits),
            AluOp::SDiv | AluOp::SMod => Scalar::UNKNOWN,
        };
        r.sync();
        r
    }

    /// 32-bit ALU transfer function; the result is zero-extended.
    pub fn alu32(op: AluOp, a: &Scalar, b: &Scalar) -> Scalar {
        if let (Some(x), Some(y)) = (a.as_const(), b.as_const()) {
            return Scalar::constant(alu::alu32(op, x, y));
        }
        let (a32, b32) = (a.cast32(), b.cast32());
        let r = match op {
            AluOp::Add | AluOp::Sub | AluOp::Mul | AluOp::And | AluOp::Or | AluOp::Xor | AluOp::Div | AluOp::Mod => {
                Scalar::alu64(op, &a32, &b32)
            }
            AluOp::Lsh | AluOp::Rsh => match b32.shift_amount(32) {
                Some(_) => Scalar::alu64(op, &a32, &b32),
                None => Scalar::urange(0, U32_MAX),
            },
            AluOp::Arsh => match b32.shift_amount(32) {
                Some(_) => Scalar::alu64(op, &a.sext32(), &b32),
                None => Scalar::urange(0, U32_MAX),
            },
            AluOp::Neg => Scalar::alu64(AluOp::Sub, &Scalar::constant(0), &a32),
            AluOp::Mov => b32,
            AluOp::MovSx(bits) => b.sext(bits),
            AluOp::SDiv | AluOp::SMod => Scalar::urange(0, U32_MAX),
        };
        r.cast32()
    }

    /// Either width.
    pub fn alu(width: Width, op: AluOp, a: &Scalar, b: &Scalar) -> Scalar {
        match width {
            Width::W64 => Scalar::alu64(op, a, b),
            Width::W32 => Scalar::alu32(op, a, b),
        }
    }

    fn meet(&self, o: &Scalar) -> Scalar {
        let mut r = Scalar {
            umin: self.umin.max(o.umin),
            umax: self.umax.min(o.umax),
            smin: self.smin.max(o.smin),
            smax: self.smax.min(o.smax),
            tnum: self.tnum.intersect(o.tnum),
        };
        if !self.tnum.overlaps(o.tnum) {
            r.umin = 1;
            r.umax = 0;
        }
        r.sync();
        r
    }

    /// Refines `(a, b)` assuming `a rel b` holds (64-bit). `None` when it cannot hold.
    pub fn refine64(rel: Relation, a: &Scalar, b: &Scalar) -> Option<(Scalar, Scalar)> {
        let (mut a2, mut b2) = (*a, *b);
        match rel {
            Relation::Cond(JmpCond::Eq) => {
                a2 = a.meet(b);
                b2 = a2;
            }
            Relation::Cond(JmpCond::Ne) => {
                if let (Some(x), Some(y)) = (a.as_const(), b.as_const()) {
                    if x == y {
                        return None;
                    }
                }
                for (v, c) in [(&mut a2, b.as_const()), (&mut b2, a.as_const())] {
                    if let Some(c) = c {
                        if v.umin == c {
                            v.umin = v.umin.wrapping_add(1);
                            if c == u64::MAX {
                                return None;
                            }
                        }
                        if v.umax == c {
                            if c == 0 {
                                return None;
                            }
                            v.umax -= 1;
                        }
                        if v.smin == c as i64 && c as i64 != i64::MAX {
                            v.smin += 1;
                        }
                        if v.smax == c as i64 && c as i64 != i64::MIN {
                            v.smax -= 1;
                        }
                    }
                }
            }
            Relation::Cond(JmpCond::Gt) => {
                a2.umin = a.umin.max(b.umin.checked_add(1)?);
                b2.umax = b.umax.min(a.umax.checked_sub(1)?);
            }
            Relation::Cond(JmpCond::Ge) => {
                a2.umin = a.umin.max(b.umin);
                b2.umax = b.umax.min(a.umax);
            }
            Relation::Cond(JmpCond::Lt) => {
                return Self::refine64(Relation::Cond(JmpCond::Gt), b, a).map(|(x, y)| (y, x))
            }
            Relation::Cond(JmpCond::Le) => {
                return Self::refine64(Relation::Cond(JmpCond::Ge), b, a).map(|(x, y)| (y, x))
            }
            Relation::Cond(JmpCond::Sgt) => {
                a2.smin = a.smin.max(b.smin.checked_add(1)?);
                b2.smax = b.smax.min(a.smax.checked_sub(1)?);
            }
            Relation::Cond(JmpCond::Sge) => {
                a2.smin = a.smin.max(b.smin);
                b2.smax = b.smax.min(a.smax);
            }
            Relation::Cond(JmpCond::Slt) => {
                return Self::refine64(Relation::Cond(JmpCond::Sgt), b, a).map(|(x, y)| (y, x))
            }
            Relation::Cond(JmpCond::Sle) => {
                return Self::refine64(Relation::Cond(JmpCond::Sge), b, a).map(|(x, y)| (y, x))
            }
            Relation::Cond(JmpCond::Set) => {
                if a.tnum.max() & b.tnum.max() == 0 {
                    return None;
                }
                if let Some(c) = b.as_const() {
                    if c.is_power_of_two() {
                        a2.tnum = a.tnum.intersect(Tnum { value: c, mask: !c });
                        if !a.tnum.overlaps(Tnum { value: c, mask: !c }) {
                            return None;
                        }
                    }
                }
            }
            Relation::NotSet => {
                if a.tnum.min() & b.tnum.min() != 0 {
                    return None;
                }
                if let Some(c) = b.as_const() {
                    a2.tnum = Tnum { value: a.tnum.value & !c, mask: a.tnum.mask & !c };
                }
            }
        }
        a2.sync();
        b2.sync();
        if a2.is_empty() || b2.is_empty() {
            None
        } else {
            Some((a2, b2))
        }
    }

    /// Refines `(a, b)` assuming `a rel b` holds on the low 32 bits; `b_imm` tells whether `b`
    /// came from an immediate (then both its unsigned and signed readings are tried).
    pub fn refine32(rel: Relation, a: &Scalar, b_u: &Scalar, b_s: &Scalar) -> Option<(Scalar, Scalar)> {
        let signed = matches!(rel, Relation::Cond(JmpCond::Sgt | JmpCond::Sge | JmpCond::Slt | JmpCond::Sle));
        let unsigned = matches!(rel, Relation::Cond(JmpCond::Gt | JmpCond::Ge | JmpCond::Lt | JmpCond::Le));
        let fits_u = |s: &Scalar| s.umax <= U32_MAX;
        let fits_s = |s: &Scalar| s.smin >= i32::MIN as i64 && s.smax <= i32::MAX as i64;
        if !signed && fits_u(a) && fits_u(b_u) {
            return Self::refine64(rel, a, b_u);
        }
        if !unsigned && fits_s(a) && fits_s(b_s) {
            return Self::refine64(rel, a, b_s);
        }
        // Not expressible on the 64-bit value: only decide feasibility on the low halves.
        let feasible = if signed {
            Self::refine64(rel, &a.sext32(), &b_s.sext32()).is_some()
        } else {
            Self::refine64(rel, &a.cast32(), &b_u.cast32()).is_some()
        };
        feasible.then_some((*a, *b_s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn and_then_shift_bounds() {
        let x = Scalar::alu64(AluOp::And, &Scalar::UNKNOWN, &Scalar::constant(1));
        assert_eq!((x.umin, x.umax), (0, 1));
        let y = Scalar::alu64(AluOp::Lsh, &x, &Scalar::constant(3));
        assert_eq!((y.umin, y.umax), (0, 8));
        assert_eq!(y.tnum, Tnum { value: 0, mask: 8 });
    }

    #[test]
    fn branch_refinement() {
        let x = Scalar::urange(0, 100);
        let (t, _) = Scalar::refine64(Relation::Cond(JmpCond::Lt), &x, &Scalar::constant(10)).unwrap();
        assert_eq!((t.umin, t.umax), (0, 9));
        let (f, _) = Scalar::refine64(Relation::negate(JmpCond::Lt), &x, &Scalar::constant(10)).unwrap();
        assert_eq!((f.umin, f.umax), (10, 100));
        assert!(Scalar::refine64(Relation::Cond(JmpCond::Eq), &Scalar::constant(3), &Scalar::constant(4)).is_none());
        assert!(Scalar::refine64(Relation::Cond(JmpCond::Ne), &Scalar::constant(3), &Scalar::constant(3)).is_none());
    }

    #[test]
    fn alu32_zero_extends() {
        let x = Scalar::alu32(AluOp::Add, &Scalar::UNKNOWN, &Scalar::constant(1));
        assert_eq!((x.umin, x.umax), (0, U32_MAX));
        assert_eq!(Scalar::alu32(AluOp::Mov, &Scalar::UNKNOWN, &Scalar::constant(u64::MAX)), Scalar::constant(U32_MAX));
    }
}
