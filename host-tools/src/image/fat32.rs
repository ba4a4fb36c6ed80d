//! The FAT32 boot partition, made with the `fatfs` crate inside a window of the image file.
//!
//! Reproducible by construction: every timestamp is the DOS epoch (1980-01-01 00:00:00), the
//! volume id is derived from the contents, files are written in a fixed order, and the volume is
//! unmounted cleanly (no dirty bit).
//!
//! # Resources
//! - Microsoft, "FAT: General Overview of On-Disk Format" (fatgen103): FAT32 needs at least
//!   65,525 clusters; the default cluster sizes by volume size; BPB_HiddSec at offset 0x1C.

use anyhow::{bail, Context, Result};
use std::io::{self, Read, Seek, SeekFrom, Write};

/// The fewest clusters a FAT32 volume may have (fewer makes it FAT16 by definition).
pub const FAT32_MIN_CLUSTERS: u32 = 65_525;
/// An upper bound on FAT32 reserved sectors (boot sector, FSInfo, backup at 6): fatfs uses 8, mkfs.fat 32.
const RESERVED_SECTORS: u64 = 32;
const SECTOR_BYTES: u64 = 512;
/// Offset of BPB_HiddSec: the sectors before the partition (its start LBA).
const BPB_HIDDEN_SECTORS: u64 = 0x1C;
const BACKUP_BOOT_SECTOR: u64 = 6;

/// A file to put in the root directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    pub name: String,
    pub bytes: Vec<u8>,
}

/// Cluster size for a partition of `partition_bytes`, after Microsoft's FAT32 table
/// (512 B up to 260 MB, 4 KiB up to 8 GB, 8 KiB to 16 GB, 16 KiB to 32 GB, 32 KiB beyond).
pub fn cluster_bytes(partition_bytes: u64) -> u32 {
    const MB: u64 = 1_000_000;
    match partition_bytes {
        b if b <= 260 * MB => 512,
        b if b <= 8_000 * MB => 4096,
        b if b <= 16_000 * MB => 8192,
        b if b <= 32_000 * MB => 16_384,
        _ => 32_768,
    }
}

/// How many data clusters a FAT32 volume of `sectors` sectors has with two FATs.
pub fn data_clusters(sectors: u64, cluster_bytes: u32) -> u64 {
    let sectors_per_cluster = u64::from(cluster_bytes) / SECTOR_BYTES;
    let available = sectors.saturating_sub(RESERVED_SECTORS);
    // Each cluster costs its own sectors plus 4 bytes in each of the two FATs.
    let clusters_upper = available / sectors_per_cluster;
    let fat_sectors = ((clusters_upper + 2) * 4).div_ceil(SECTOR_BYTES);
    available.saturating_sub(2 * fat_sectors) / sectors_per_cluster
}

/// A window `[start, start + len)` of a seekable stream, seen as a stream of its own.
pub struct Window<T> {
    inner: T,
    start: u64,
    len: u64,
    position: u64,
}

impl<T: Seek> Window<T> {
    pub fn new(inner: T, start: u64, len: u64) -> io::Result<Self> {
        let mut window = Window { inner, start, len, position: 0 };
        window.inner.seek(SeekFrom::Start(start))?;
        Ok(window)
    }

    fn remaining(&self, want: usize) -> usize {
        want.min(self.len.saturating_sub(self.position) as usize)
    }
}

impl<T: Read + Seek> Read for Window<T> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.remaining(buf.len());
        let n = self.inner.read(&mut buf[..n])?;
        self.position += n as u64;
        Ok(n)
    }
}

impl<T: Write + Seek> Write for Window<T> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.remaining(buf.len());
        if n == 0 && !buf.is_empty() {
            return Err(io::Error::new(io::ErrorKind::WriteZero, "write past the end of the partition"));
        }
        let n = self.inner.write(&buf[..n])?;
        self.position += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<T: Seek> Seek for Window<T> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        let target = match pos {
            SeekFrom::Start(offset) => Some(offset),
            SeekFrom::Current(delta) => self.position.checked_add_signed(delta),
            SeekFrom::End(delta) => self.len.checked_add_signed(delta),
        };
        let target = target
            .filter(|&t| t <= self.len)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek outside the partition"))?;
        self.inner.seek(SeekFrom::Start(self.start + target))?;
        self.position = target;
        Ok(target)
    }
}

/// Every timestamp is the DOS epoch, so the same files always give the same bytes.
#[derive(Debug)]
struct DosEpoch;

const EPOCH_DATE: fatfs::Date = fatfs::Date { year: 1980, month: 1, day: 1 };

impl fatfs::TimeProvider for DosEpoch {
    fn get_current_date(&self) -> fatfs::Date {
        EPOCH_DATE
    }
    fn get_current_date_time(&self) -> fatfs::DateTime {
        fatfs::DateTime { date: EPOCH_DATE, time: fatfs::Time { hour: 0, min: 0, sec: 0, millis: 0 } }
    }
}

static DOS_EPOCH: DosEpoch = DosEpoch;

/// What the volume looks like.
#[derive(Debug, Clone, Copy)]
pub struct VolumeOptions {
    /// Partition length in sectors.
    pub sectors: u32,
    /// The partition's start LBA (BPB_HiddSec).
    pub hidden_sectors: u32,
    pub volume_id: u32,
    pub label: [u8; 11],
}

/// Formats the (zeroed) partition as FAT32 and writes `files` into its root directory.
pub fn write_volume<T: Read + Write + Seek>(
    mut partition: T,
    options: VolumeOptions,
    files: &[FileEntry],
) -> Result<()> {
    let partition_bytes = u64::from(options.sectors) * SECTOR_BYTES;
    let cluster = cluster_bytes(partition_bytes);
    let clusters = data_clusters(u64::from(options.sectors), cluster);
    if clusters < u64::from(FAT32_MIN_CLUSTERS) {
        bail!(
            "a {} MiB partition has {clusters} clusters of {cluster} bytes; FAT32 needs at least {FAT32_MIN_CLUSTERS}",
            partition_bytes >> 20
        );
    }
    let format = fatfs::FormatVolumeOptions::new()
        .fat_type(fatfs::FatType::Fat32)
        .bytes_per_sector(SECTOR_BYTES as u16)
        .bytes_per_cluster(cluster)
        .total_sectors(options.sectors)
        .volume_id(options.volume_id)
        .volume_label(options.label);
    partition.seek(SeekFrom::Start(0))?;
    fatfs::format_volume(&mut partition, format).context("formatting the FAT32 partition")?;
    // fatfs writes BPB_HiddSec = 0; a partition's boot sector (and its backup) names its start.
    for sector in [0, BACKUP_BOOT_SECTOR] {
        partition.seek(SeekFrom::Start(sector * SECTOR_BYTES + BPB_HIDDEN_SECTORS))?;
        partition.write_all(&options.hidden_sectors.to_le_bytes())?;
    }
    partition.seek(SeekFrom::Start(0))?;

    let fs = fatfs::FileSystem::new(&mut partition, fatfs::FsOptions::new().time_provider(&DOS_EPOCH))
        .context("mounting the new FAT32 partition")?;
    if fs.fat_type() != fatfs::FatType::Fat32 {
        bail!("the partition came out as {:?}, not FAT32", fs.fat_type());
    }
    {
        let root = fs.root_dir();
        for file in files {
            let mut handle =
                root.create_file(&file.name).with_context(|| format!("creating {} on the card", file.name))?;
            handle.truncate()?;
            handle.write_all(&file.bytes).with_context(|| {
                format!("writing {} ({} bytes): is the image too small for the files?", file.name, file.bytes.len())
            })?;
            handle.flush()?;
        }
    }
    // Counting the free clusters records the count in FSInfo, which unmount then writes
    // (fsck.fat reports an unset count).
    fs.stats().context("counting free clusters")?;
    fs.unmount().context("unmounting the FAT32 partition")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    #[test]
    fn cluster_sizes_follow_the_fat32_table() {
        assert_eq!(cluster_bytes(63 << 20), 512);
        assert_eq!(cluster_bytes(1 << 30), 4096);
        assert_eq!(cluster_bytes(64 << 30), 32_768);
    }

    #[test]
    fn sixty_three_mib_is_fat32_and_thirty_one_is_not() {
        assert!(data_clusters((63 << 20) / 512, 512) >= u64::from(FAT32_MIN_CLUSTERS));
        assert!(data_clusters((31 << 20) / 512, 512) < u64::from(FAT32_MIN_CLUSTERS));
    }

    #[test]
    fn window_stays_inside_its_range() {
        let mut window = Window::new(Cursor::new(vec![0u8; 16]), 4, 8).unwrap();
        window.write_all(b"12345678").unwrap();
        assert!(window.write(b"9").is_err());
        assert!(window.seek(SeekFrom::Start(9)).is_err());
        let bytes = window.inner.into_inner();
        assert_eq!(&bytes[4..12], b"12345678");
        assert_eq!(&bytes[..4], &[0; 4]);
        assert_eq!(&bytes[12..], &[0; 4]);
    }

    #[test]
    fn same_files_give_the_same_bytes() {
        let sectors = (63u32 << 20) / 512;
        let files = [FileEntry { name: "config.txt".into(), bytes: b"arm_64bit=1\n".to_vec() }];
        let make = || {
            let mut disk = Cursor::new(vec![0u8; (sectors as usize) * 512]);
            let options = VolumeOptions { sectors, hidden_sectors: 2048, volume_id: 7, label: *b"KINGLY     " };
            write_volume(&mut disk, options, &files).unwrap();
            disk.into_inner()
        };
        let first = make();
        assert_eq!(first, make());
        assert_eq!(&first[0x1C..0x20], &2048u32.to_le_bytes());
        assert_eq!(&first[0x52..0x5A], b"FAT32   ");
    }
}
