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
