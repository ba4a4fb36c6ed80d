//! Builds the identity-mapping translation tables from a board's memory map.
//!
//! 4 KiB granule, 39-bit virtual addresses (TCR_EL1.T0SZ = 25), so the walk starts at level 1
//! with 1 GiB blocks; a GiB whose memory kinds differ is split into 2 MiB level-2 blocks.
//!
//! # Resources
//! - Arm ARM D8.3 "Translation table descriptor formats"; D8.5 memory attributes (MAIR).

use crate::board::{MemoryKind, Region};

/// Entries per table at every level (4 KiB granule).
pub const ENTRIES: usize = 512;
/// Bytes mapped by one level-1 block.
pub const L1_BLOCK: u64 = 1 << 30;
/// Bytes mapped by one level-2 block.
pub const L2_BLOCK: u64 = 1 << 21;
/// Virtual address bits (64 - T0SZ).
pub const VA_BITS: u32 = 39;
/// Level-2 tables available for split GiBs.
pub const L2_TABLES: usize = 4;

/// MAIR_EL1 attribute index for normal write-back, read/write-allocate memory (0xFF).
pub const ATTR_NORMAL: u64 = 0;
/// MAIR_EL1 attribute index for Device-nGnRE (0x04).
pub const ATTR_DEVICE: u64 = 1;
/// MAIR_EL1 value matching the two indexes above.
pub const MAIR_VALUE: u64 = 0xFF | (0x04 << 8);

const VALID: u64 = 1;
const TABLE: u64 = 0b11;
const BLOCK: u64 = 0b01;
const AF: u64 = 1 << 10;
const SH_INNER: u64 = 0b11 << 8;
const PXN: u64 = 1 << 53;
const UXN: u64 = 1 << 54;

/// A mapping that cannot be expressed with the tables available.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapError {
    /// A region is not 2 MiB aligned.
    Unaligned { base: u64 },
    /// A region lies beyond the 39-bit address space.
    OutOfRange { base: u64 },
    /// More GiBs need splitting than there are level-2 tables.
    OutOfL2Tables,
}

/// Block descriptor for `address` mapped as `kind` (EL1 read/write; EL0 no access).
pub const fn block_descriptor(address: u64, kind: MemoryKind) -> u64 {
    match kind {
        MemoryKind::Normal => address | BLOCK | AF | SH_INNER | (ATTR_NORMAL << 2) | UXN,
        MemoryKind::Device => address | BLOCK | AF | (ATTR_DEVICE << 2) | PXN | UXN,
    }
}

/// The tables' contents; the caller places them in memory and supplies their addresses.
pub struct Tables {
    pub l1: [u64; ENTRIES],
    pub l2: [[u64; ENTRIES]; L2_TABLES],
    pub l2_used: usize,
}

fn kind_at(regions: &[Region], address: u64) -> Option<MemoryKind> {
    regions.iter().find(|r| r.base <= address && address < r.end()).map(|r| r.kind)
}

/// Builds tables mapping every region 1:1. `l2_addresses[i]` is where `Tables::l2[i]` will live.
pub fn build(regions: &[Region], l2_addresses: [u64; L2_TABLES]) -> Result<Tables, MapError> {
    let mut tables = Tables { l1: [0; ENTRIES], l2: [[0; ENTRIES]; L2_TABLES], l2_used: 0 };
    for region in regions {
        if region.base % L2_BLOCK != 0 || region.size % L2_BLOCK != 0 {
            return Err(MapError::Unaligned { base: region.base });
        }
        if region.end() > 1 << VA_BITS {
            return Err(MapError::OutOfRange { base: region.base });
        }
    }
    for (gib, entry) in tables.l1.iter_mut().enumerate() {
        let base = gib as u64 * L1_BLOCK;
        if !regions.iter().any(|r| r.base < base + L1_BLOCK && base < r.end()) {
            continue;
        }
        let kinds: [Option<MemoryKind>; ENTRIES] =
            core::array::from_fn(|i| kind_at(regions, base + i as u64 * L2_BLOCK));
        if kinds.iter().all(|k| *k == kinds[0]) {
            if let Some(kind) = kinds[0] {
                *entry = block_descriptor(base, kind);
            }
            continue;
        }
        if tables.l2_used == L2_TABLES {
            return Err(MapError::OutOfL2Tables);
        }
        let index = tables.l2_used;
        tables.l2_used += 1;
        for (i, kind) in kinds.iter().enumerate() {
            if let Some(kind) = kind {
                tables.l2[index][i] = block_descriptor(base + i as u64 * L2_BLOCK, *kind);
            }
        }
        *entry = l2_addresses[index] | TABLE;
    }
    Ok(tables)
}

/// Walks `tables` like the MMU would: the descriptor's memory kind for `address`, if mapped.
pub fn lookup(tables: &Tables, l2_addresses: [u64; L2_TABLES], address: u64) -> Option<MemoryKind> {
    let l1 = *tables.l1.get((address / L1_BLOCK) as usize)?;
    let descriptor = match l1 & 0b11 {
        TABLE => {
            let table = l2_addresses.iter().position(|a| *a == l1 & 0x0000_ffff_ffff_f000)?;
            tables.l2[table][((address % L1_BLOCK) / L2_BLOCK) as usize]
        }
        BLOCK => l1,
        _ => return None,
    };
    if descriptor & VALID == 0 {
        return None;
    }
    Some(if (descriptor >> 2) & 0b111 == ATTR_DEVICE { MemoryKind::Device } else { MemoryKind::Normal })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::board::{pi5, raspi4b, virt};

    const L2: [u64; L2_TABLES] = [0x10_0000, 0x10_1000, 0x10_2000, 0x10_3000];

    #[test]
    fn raspi4b_peripherals_are_device_and_execute_never() {
        let tables = build(raspi4b::BOARD.memory_map, L2).unwrap();
        assert_eq!(tables.l2_used, 1, "only the fourth GiB mixes RAM and MMIO");
        assert_eq!(lookup(&tables, L2, 0x80000), Some(MemoryKind::Normal));
        assert_eq!(lookup(&tables, L2, 0xFBFF_FFFF), Some(MemoryKind::Normal));
        assert_eq!(lookup(&tables, L2, 0xFC00_0000), Some(MemoryKind::Device));
        assert_eq!(lookup(&tables, L2, 0xFE20_1000), Some(MemoryKind::Device));
        assert_eq!(lookup(&tables, L2, 0xFFFF_FFFF), Some(MemoryKind::Device));
        assert_eq!(lookup(&tables, L2, 0x1_0000_0000), Some(MemoryKind::Normal));
        assert_eq!(lookup(&tables, L2, 0x20_0000_0000), None, "unmapped space faults");
        let uart = tables.l2[0][((0xFE20_1000u64 % L1_BLOCK) / L2_BLOCK) as usize];
        assert_ne!(uart & PXN, 0);
        assert_ne!(uart & UXN, 0);
        let ram = tables.l1[0];
        assert_eq!(ram & PXN, 0, "RAM must stay executable at EL1");
    }

    #[test]
    fn virt_uses_only_gib_blocks() {
        let tables = build(virt::BOARD.memory_map, L2).unwrap();
        assert_eq!(tables.l2_used, 0);
        assert_eq!(lookup(&tables, L2, 0x0900_0000), Some(MemoryKind::Device));
        assert_eq!(lookup(&tables, L2, 0x4008_0000), Some(MemoryKind::Normal));
    }

    #[test]
    fn pi5_peripherals_above_64_gib_are_device_and_execute_never() {
        let tables = build(pi5::BOARD.memory_map, L2).unwrap();
        assert_eq!(tables.l2_used, 0, "RAM and MMIO never share a GiB on the BCM2712");
        for address in [pi5::BOARD.uart_base, pi5::BOARD.gicd_base, pi5::BOARD.gicc_base, 0x10_7D51_7C00] {
            assert_eq!(lookup(&tables, L2, address), Some(MemoryKind::Device), "{address:#x}");
            let descriptor = tables.l1[(address / L1_BLOCK) as usize];
            assert_ne!(descriptor & PXN, 0, "{address:#x} must not be executable");
        }
        assert_eq!(lookup(&tables, L2, 0x80000), Some(MemoryKind::Normal));
        assert_eq!(lookup(&tables, L2, 0x3_ffff_ffff), Some(MemoryKind::Normal), "16 GiB of RAM");
        assert_eq!(lookup(&tables, L2, 0x4_0000_0000), None);
        assert_eq!(lookup(&tables, L2, 0x10_8000_0000), None, "the window ends at 66 GiB");
        // The window's GiBs hold device block descriptors at level 1, entries 64 and 65.
        assert_eq!(tables.l1[64] & !0xfff & 0x0000_ffff_ffff_ffff, 0x10_0000_0000 & !0xfff);
    }

    #[test]
    fn bad_maps_are_refused() {
        let unaligned = [Region { base: 0x1000, size: L2_BLOCK, kind: MemoryKind::Normal }];
        assert_eq!(build(&unaligned, L2).err(), Some(MapError::Unaligned { base: 0x1000 }));
        let far = [Region { base: 1 << 40, size: L2_BLOCK, kind: MemoryKind::Device }];
        assert_eq!(build(&far, L2).err(), Some(MapError::OutOfRange { base: 1 << 40 }));
        let split: Vec<Region> =
            (0..5).map(|i| Region { base: i * L1_BLOCK, size: L2_BLOCK, kind: MemoryKind::Device }).collect();
        assert_eq!(build(&split, L2).err(), Some(MapError::OutOfL2Tables));
    }
}
