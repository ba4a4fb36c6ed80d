//! Tristate numbers: per-bit knowledge of a 64-bit value (`value` bits known, `mask` bits unknown).
//!
//! # Resources
//! The abstraction from Linux `kernel/bpf/tnum.c` and "Sound, Precise, and Fast Abstract
//! Interpretation with Tristate Numbers" (Vishwanathan et al., CGO 2022); written from the paper.

/// Known bits: bit i is unknown when `mask` bit i is set, otherwise it equals `value` bit i.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Tnum {
    pub value: u64,
    pub mask: u64,
}

impl Tnum {
    pub const UNKNOWN: Tnum = Tnum { value: 0, mask: u64::MAX };

    pub const fn constant(v: u64) -> Tnum {
        Tnum { value: v, mask: 0 }
    }

    pub const fn is_const(self) -> bool {
        self.mask == 0
    }

    /// Smallest tnum holding every value in `[min, max]`.
    pub fn range(min: u64, max: u64) -> Tnum {
        let chi = min ^ max;
        let bits = 64 - chi.leading_zeros();
        if bits > 63 {
            return Tnum::UNKNOWN;
        }
        let delta = (1u64 << bits) - 1;
        Tnum { value: min & !delta, mask: delta }
    }

    pub fn plus(self, o: Tnum) -> Tnum {
        let sm = self.mask.wrapping_add(o.mask);
        let sv = self.value.wrapping_add(o.value);
        let sigma = sm.wrapping_add(sv);
        let chi = sigma ^ sv;
        let mu = chi | self.mask | o.mask;
        Tnum { value: sv & !mu, mask: mu }
    }

    pub fn minus(self, o: Tnum) -> Tnum {
        let dv = self.value.wrapping_sub(o.value);
        let alpha = dv.wrapping_add(self.mask);
        let beta = dv.wrapping_sub(o.mask);
        let chi = alpha ^ beta;
        let mu = chi | self.mask | o.mask;
        Tnum { value: dv & !mu, mask: mu }
    }

    pub fn and(self, o: Tnum) -> Tnum {
        let alpha = self.value | self.mask;
        let beta = o.value | o.mask;
        let v = self.value & o.value;
        Tnum { value: v, mask: alpha & beta & !v }
    }

    pub fn or(self, o: Tnum) -> Tnum {
        let v = self.value | o.value;
        let mu = self.mask | o.mask;
        Tnum { value: v, mask: mu & !v }
    }

    pub fn xor(self, o: Tnum) -> Tnum {
        let v = self.value ^ o.value;
        let mu = self.mask | o.mask;
        Tnum { value: v & !mu, mask: mu }
    }

    pub fn lsh(self, shift: u32) -> Tnum {
        Tnum { value: self.value << shift, mask: self.mask << shift }
    }

    pub fn rsh(self, shift: u32) -> Tnum {
        Tnum { value: self.value >> shift, mask: self.mask >> shift }
    }

    pub fn arsh(self, shift: u32) -> Tnum {
        Tnum { value: ((self.value as i64) >> shift) as u64, mask: ((self.mask as i64) >> shift) as u64 }
    }

    /// Multiplication by shift-and-add over the known bits of `self`.
    pub fn times(self, o: Tnum) -> Tnum {
        let mut a = self;
        let mut b = o;
        let acc_v = a.value.wrapping_mul(b.value);
        let mut acc_m = Tnum::constant(0);
        while a.value != 0 || a.mask != 0 {
            if a.value & 1 != 0 {
                acc_m = acc_m.plus(Tnum { value: 0, mask: b.mask });
            } else if a.mask & 1 != 0 {
                acc_m = acc_m.plus(Tnum { value: 0, mask: b.value | b.mask });
            }
            a = a.rsh(1);
            b = b.lsh(1);
        }
        Tnum::constant(acc_v).plus(acc_m)
    }

    /// Values known to both (meet); used after a comparison refines a range.
    pub fn intersect(self, o: Tnum) -> Tnum {
        let v = self.value | o.value;
        let mu = self.mask & o.mask;
        Tnum { value: v & !mu, mask: mu }
    }

    /// Whether the two describe at least one common value.
    pub fn overlaps(self, o: Tnum) -> bool {
        let known_both = !(self.mask | o.mask);
        (self.value ^ o.value) & known_both == 0
    }

    /// Whether every value of `o` is a value of `self`.
    pub fn contains(self, o: Tnum) -> bool {
        o.mask & !self.mask == 0 && (self.value ^ o.value) & !self.mask == 0
    }

    /// Truncation to the low `bytes` bytes.
    pub fn cast(self, bytes: u8) -> Tnum {
        if bytes >= 8 {
            return self;
        }
        let m = (1u64 << (bytes as u32 * 8)) - 1;
        Tnum { value: self.value & m, mask: self.mask & m }
    }

    pub const fn min(self) -> u64 {
        self.value
    }

    pub const fn max(self) -> u64 {
        self.value | self.mask
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_is_sound_on_samples() {
        let a = Tnum::range(4, 7);
        let b = Tnum::constant(3);
        for x in 4..=7u64 {
            assert!(a.plus(b).contains(Tnum::constant(x + 3)));
            assert!(a.minus(b).contains(Tnum::constant(x - 3)));
            assert!(a.times(b).contains(Tnum::constant(x * 3)));
            assert!(a.and(b).contains(Tnum::constant(x & 3)));
        }
        assert_eq!(Tnum::constant(6).times(Tnum::constant(7)), Tnum::constant(42));
    }
}
