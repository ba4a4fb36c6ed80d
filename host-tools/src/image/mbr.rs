//! The master boot record: one primary FAT32 (LBA) partition, type 0x0C, starting at LBA 2048.
//!
//! # Resources
//! - The MBR layout: 446 bytes of boot code, four 16-byte partition entries at 0x1BE, the
//!   signature 0x55AA at 0x1FE; the 32-bit disk signature at 0x1B8 (Linux shows it as the
//!   `PARTUUID` prefix).

/// Bytes per sector: SD cards and every Pi boot ROM use 512.
pub const SECTOR_BYTES: u64 = 512;
/// Where the partition starts: 1 MiB, aligned to any erase block an SD card has.
pub const PARTITION_START_LBA: u32 = 2048;
/// Partition type: FAT32 with LBA addressing (what the Raspberry Pi boot ROM and firmware expect).
pub const PARTITION_TYPE_FAT32_LBA: u8 = 0x0C;

/// CHS value written when an address does not fit CHS (every modern tool does the same).
const CHS_UNUSED: [u8; 3] = [0xFE, 0xFF, 0xFF];

/// The 512-byte MBR for a disk whose only partition spans `[start_lba, start_lba + sectors)`.
pub fn build(disk_signature: u32, start_lba: u32, sectors: u32) -> [u8; 512] {
    let mut mbr = [0u8; 512];
    mbr[0x1B8..0x1BC].copy_from_slice(&disk_signature.to_le_bytes());
    let entry = &mut mbr[0x1BE..0x1CE];
    entry[0] = 0x00; // not marked active: the Pi ignores the flag
    entry[1..4].copy_from_slice(&CHS_UNUSED);
    entry[4] = PARTITION_TYPE_FAT32_LBA;
    entry[5..8].copy_from_slice(&CHS_UNUSED);
    entry[8..12].copy_from_slice(&start_lba.to_le_bytes());
    entry[12..16].copy_from_slice(&sectors.to_le_bytes());
    mbr[0x1FE] = 0x55;
    mbr[0x1FF] = 0xAA;
    mbr
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_fat32_partition_at_2048() {
        let mbr = build(0x1234_5678, PARTITION_START_LBA, 129_024);
        assert_eq!(&mbr[0x1FE..], &[0x55, 0xAA]);
        assert_eq!(&mbr[0x1B8..0x1BC], &[0x78, 0x56, 0x34, 0x12]);
        assert_eq!(mbr[0x1BE + 4], 0x0C);
        assert_eq!(u32::from_le_bytes(mbr[0x1C6..0x1CA].try_into().unwrap()), 2048);
        assert_eq!(u32::from_le_bytes(mbr[0x1CA..0x1CE].try_into().unwrap()), 129_024);
        assert!(mbr[0x1CE..0x1FE].iter().all(|&b| b == 0), "the other three entries stay empty");
    }
}
