//! The interpreter's address space: tagged 64-bit addresses resolved to bounded regions.
//!
//! A pointer is `region << 32 | offset`. Every access is checked against its region, so even a
//! program run without the verifier cannot touch memory outside the stack, the context and the
//! program's maps.

use crate::maps::Map;

/// Bytes of stack per call frame (RFC 9669 section 2.2 and Linux).
pub const STACK_FRAME_BYTES: usize = 512;
/// Deepest bpf-to-bpf call chain, the main frame included (Linux's `MAX_CALL_FRAMES`).
pub const MAX_FRAMES: usize = 8;
/// Stack for all frames.
pub const STACK_BYTES: usize = STACK_FRAME_BYTES * MAX_FRAMES;

const REGION_SHIFT: u32 = 32;
/// Region id of the stack.
pub const STACK_REGION: u64 = 1;
/// Region id of the context or buffer.
pub const CTX_REGION: u64 = 2;
/// Region id of the packet of a `Packet` context.
pub const PACKET_REGION: u64 = 3;
/// Region id of map 0's values; map `i` is `MAP_REGION_FIRST + i`.
pub const MAP_REGION_FIRST: u64 = 0x100;
/// Tag of map handles loaded by `lddw rX, map`; never dereferenceable.
pub const MAP_HANDLE_TAG: u64 = 0x4d41_5000_0000_0000;

/// Base address of a region.
pub const fn region_base(region: u64) -> u64 {
    region << REGION_SHIFT
}

/// The value frame `depth`'s r10 holds: frames grow down from the top of the stack region.
pub const fn frame_pointer(depth: usize) -> u64 {
    region_base(STACK_REGION) + (STACK_BYTES - depth * STACK_FRAME_BYTES) as u64
}

/// Handle value for map `index`.
pub const fn map_handle(index: usize) -> u64 {
    MAP_HANDLE_TAG | index as u64
}

/// Map index of a handle, if `value` is one.
pub fn map_index_of_handle(value: u64) -> Option<usize> {
    (value & !0xffff_ffff == MAP_HANDLE_TAG).then_some((value & 0xffff_ffff) as usize)
}

/// The regions a running program can reach.
pub struct Memory<'a> {
    pub stack: &'a mut [u8],
    pub ctx: &'a mut [u8],
    pub packet: &'a mut [u8],
    pub maps: &'a mut [Map],
}

impl Memory<'_> {
    /// `len` bytes at `addr`, if they lie inside one region.
    #[inline(always)]
    pub fn bytes_mut(&mut self, addr: u64, len: usize) -> Option<&mut [u8]> {
        let region = addr >> REGION_SHIFT;
        let off = (addr & 0xffff_ffff) as usize;
        let buf: &mut [u8] = match region {
            STACK_REGION => self.stack,
            CTX_REGION => self.ctx,
            PACKET_REGION => self.packet,
            r if r >= MAP_REGION_FIRST => self.maps.get_mut((r - MAP_REGION_FIRST) as usize)?.value_bytes_mut(),
            _ => return None,
        };
        buf.get_mut(off..off.checked_add(len)?)
    }

    /// Loads a little-endian value of `size` bytes.
    #[inline(always)]
    pub fn load(&mut self, addr: u64, size: usize) -> Option<u64> {
        let b = self.bytes_mut(addr, size)?;
        Some(match size {
            1 => b[0] as u64,
            2 => u16::from_le_bytes([b[0], b[1]]) as u64,
            4 => u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as u64,
            _ => u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]),
        })
    }

    /// Stores the low `size` bytes of `value`, little-endian.
    #[inline(always)]
    pub fn store(&mut self, addr: u64, size: usize, value: u64) -> Option<()> {
        let b = self.bytes_mut(addr, size)?;
        b.copy_from_slice(&value.to_le_bytes()[..size]);
        Some(())
    }
}

/// Maps a [`StrictLayout`] can place; a program with more maps cannot run strictly.
pub const STRICT_MAX_MAPS: usize = 16;
/// Regions of a strict layout: stack, context, packet, then the maps.
const STRICT_REGIONS: usize = 3 + STRICT_MAX_MAPS;
/// Random bases keep this far apart (more than any region with its value gaps) and this far
/// from address 0, from map handles and from the top of the address space.
const STRICT_SPACING: u64 = 1 << 40;

/// Opt-in strict checking, for fuzzing the verifier (off by default; the interpreter compiles a
/// separate loop for it, so normal runs pay nothing).
///
/// The normal tagged address space only keeps accesses inside *a* region. Strict mode checks
/// what the verifier promises: every access lies inside one object — one map value (not
/// running into the next value of the same map), the current call frame's 512 bytes or a
/// caller's frame (never a returned callee's), the context, or the packet's actual bytes. A
/// layout also places each region at its own base address and leaves a gap after each map
/// value, so running the same program and inputs under two layouts shows any result, path or
/// stored value that depends on an address, and an access that moves from one value to the next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StrictLayout {
    /// Base of each region: stack, context, packet, map 0, map 1, ...
    bases: [u64; STRICT_REGIONS],
    /// Bytes left free after each map value (0 in production).
    value_gap: u64,
    /// Seed of the bytes the stack holds before a run, so a read of never-written stack also
    /// differs between layouts.
    stack_fill: u64,
}

impl StrictLayout {
    /// The production layout: the tagged bases the interpreter always uses.
    pub fn tagged() -> StrictLayout {
        let mut bases = [0; STRICT_REGIONS];
        bases[0] = region_base(STACK_REGION);
        bases[1] = region_base(CTX_REGION);
        bases[2] = region_base(PACKET_REGION);
        for (i, base) in bases[3..].iter_mut().enumerate() {
            *base = region_base(MAP_REGION_FIRST + i as u64);
        }
        StrictLayout { bases, value_gap: 0, stack_fill: 0 }
    }

    /// Regions at bases drawn from `seed` (splitmix64): anywhere in the 64-bit space, at any
    /// byte alignment, at least 2^40 bytes from each other, from 0, from the top and from map
    /// handles; 1–64 bytes between map values.
    pub fn random(seed: u64) -> StrictLayout {
        let mut state = seed;
        let mut next = || {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
        let stack_fill = next();
        let value_gap = 1 + next() % 64;
        let far = |a: u64, b: u64| a.abs_diff(b) >= STRICT_SPACING;
        let mut bases = [0; STRICT_REGIONS];
        let mut placed = 0;
        while placed < STRICT_REGIONS {
            let base = next();
            let fits = far(base, 0)
                && far(base, u64::MAX)
                && far(base, MAP_HANDLE_TAG)
                && bases[..placed].iter().all(|&b| far(base, b));
            if fits {
                bases[placed] = base;
                placed += 1;
            }
        }
        StrictLayout { bases, value_gap, stack_fill }
    }

    fn slot(region: u64) -> Option<usize> {
        match region {
            STACK_REGION => Some(0),
            CTX_REGION => Some(1),
            PACKET_REGION => Some(2),
            r if r >= MAP_REGION_FIRST && r - MAP_REGION_FIRST < STRICT_MAX_MAPS as u64 => {
                Some(3 + (r - MAP_REGION_FIRST) as usize)
            }
            _ => None,
        }
    }

    /// Base address of a region (`STACK_REGION`, `CTX_REGION`, ...) in this layout.
    pub fn base(&self, region: u64) -> u64 {
        Self::slot(region).map_or(region_base(region), |i| self.bases[i])
    }

    /// The value frame `depth`'s r10 holds in this layout.
    pub fn frame_pointer(&self, depth: usize) -> u64 {
        self.bases[0] + (STACK_BYTES - depth * STACK_FRAME_BYTES) as u64
    }

    /// Value size and distance between values of map `index` in this layout.
    fn value_stride(&self, maps: &[Map], index: usize) -> Option<(u64, u64)> {
        let value_size = maps.get(index)?.def().value_size_bytes as u64;
        Some((value_size, value_size + self.value_gap))
    }

    /// This layout's address for a tagged address (as the map helpers compute them).
    pub fn from_tagged(&self, maps: &[Map], tagged: u64) -> u64 {
        let region = tagged >> REGION_SHIFT;
        let off = tagged & 0xffff_ffff;
        let off = match region.checked_sub(MAP_REGION_FIRST).and_then(|i| self.value_stride(maps, i as usize)) {
            Some((value_size, stride)) => off / value_size * stride + off % value_size,
            None => off,
        };
        self.base(region).wrapping_add(off)
    }

    /// The region holding `addr` (one past the end included when `one_past_end`), as
    /// (region id, offset in this layout, length in this layout), given the lengths of the
    /// variable regions.
    fn find(
        &self,
        ctx_len: usize,
        packet_len: usize,
        maps: &[Map],
        addr: u64,
        one_past_end: bool,
    ) -> Option<(u64, u64, u64)> {
        let fixed =
            [(STACK_REGION, STACK_BYTES as u64), (CTX_REGION, ctx_len as u64), (PACKET_REGION, packet_len as u64)];
        let maps = maps.iter().enumerate().map(|(i, m)| {
            let values = m.value_bytes().len() as u64 / (m.def().value_size_bytes as u64).max(1);
            (MAP_REGION_FIRST + i as u64, values * (m.def().value_size_bytes as u64 + self.value_gap))
        });
        fixed.into_iter().chain(maps).find_map(|(region, len)| {
            let off = addr.wrapping_sub(self.base(region));
            let inside = if one_past_end { off <= len } else { off < len };
            inside.then_some((region, off, len))
        })
    }

    /// The tagged address of a `size`-byte access at `addr` by a program `depth` calls deep,
    /// if it lies inside one object (see the type's documentation).
    pub fn resolve(&self, mem: &Memory<'_>, addr: u64, size: usize, depth: usize) -> Option<u64> {
        let (region, off, len) = self.find(mem.ctx.len(), mem.packet.len(), mem.maps, addr, false)?;
        let end = off.checked_add(size as u64)?;
        if size == 0 || end > len {
            return None;
        }
        let tagged_off = match region {
            STACK_REGION => {
                // Frame k (0 = main) holds [STACK_BYTES - (k + 1) * 512, STACK_BYTES - k * 512).
                let frame = |byte: u64| (STACK_BYTES as u64 - 1 - byte) / STACK_FRAME_BYTES as u64;
                (frame(off) == frame(end - 1) && frame(off) <= depth as u64).then_some(off)?
            }
            CTX_REGION | PACKET_REGION => off,
            _ => {
                let (value_size, stride) = self.value_stride(mem.maps, (region - MAP_REGION_FIRST) as usize)?;
                let (value, within) = (off / stride, off % stride);
                (within + size as u64 <= value_size).then_some(value * value_size + within)?
            }
        };
        Some(region_base(region) + tagged_off)
    }

    /// Whether `value` is an address inside (or one past the end of) a region of this layout,
    /// for a run with this context, packet and maps.
    pub fn is_address(&self, ctx_len: usize, packet_len: usize, maps: &[Map], value: u64) -> bool {
        self.find(ctx_len, packet_len, maps, value, true).is_some()
    }

    /// Fills the stack with this layout's bytes (xorshift64 from the layout's seed).
    pub fn fill_stack(&self, stack: &mut [u8]) {
        let mut x = self.stack_fill | 1;
        for chunk in stack.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::maps::{MapDef, MapKind};

    #[test]
    fn strict_layouts_keep_each_access_inside_one_object() {
        let def = MapDef { kind: MapKind::Array, key_size_bytes: 4, value_size_bytes: 8, max_entries: 2 };
        let mut maps = [Map::new(def, 1).unwrap()];
        let (mut stack, mut ctx) = ([0u8; STACK_BYTES], [0u8; 16]);
        let mem = Memory { stack: &mut stack, ctx: &mut ctx, packet: &mut [], maps: &mut maps };
        let value1_tagged = region_base(MAP_REGION_FIRST) + 8;
        for layout in [StrictLayout::tagged(), StrictLayout::random(1), StrictLayout::random(2)] {
            let value1 = layout.from_tagged(mem.maps, value1_tagged);
            assert_eq!(layout.resolve(&mem, value1, 8, 0), Some(value1_tagged));
            assert_eq!(layout.resolve(&mem, layout.base(MAP_REGION_FIRST) + 4, 8, 0), None, "two values");
            let ctx = layout.base(CTX_REGION);
            assert_eq!(layout.resolve(&mem, ctx + 8, 8, 0), Some(region_base(CTX_REGION) + 8));
            assert_eq!(layout.resolve(&mem, ctx + 9, 8, 0), None);
            // The main frame from any depth, a callee's only while it runs, never across two.
            let (main, callee) = (layout.frame_pointer(0), layout.frame_pointer(1));
            assert!(layout.resolve(&mem, main - 8, 8, 1).is_some());
            assert!(layout.resolve(&mem, callee - 8, 8, 1).is_some());
            assert_eq!(layout.resolve(&mem, callee - 8, 8, 0), None);
            assert_eq!(layout.resolve(&mem, callee - 4, 8, 1), None);
            assert!(layout.is_address(16, 0, mem.maps, main));
        }
        // Random layouts leave a gap after each value: the byte after value 0 is in no value.
        let layout = StrictLayout::random(3);
        assert_eq!(layout.resolve(&mem, layout.base(MAP_REGION_FIRST) + 8, 1, 0), None);
        assert_ne!(StrictLayout::random(1).base(CTX_REGION), StrictLayout::random(2).base(CTX_REGION));
    }
}
