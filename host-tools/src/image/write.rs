//! `--write /dev/sdX`: copying the finished image to a card, after refusing any disk that is
//! mounted, held by another block device (LVM, RAID, dm-crypt) or holds the root file system,
//! and after the user typed "yes".

use anyhow::{bail, Context, Result};
use std::fs::File;
use std::io::{BufRead, Read, Write};
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

/// A whole disk that may be overwritten.
#[derive(Debug, Clone)]
pub struct Disk {
    pub device: PathBuf,
    /// Kernel name, e.g. `sdb` or `mmcblk0`.
    pub name: String,
    pub size_bytes: u64,
    pub model: String,
}

/// What the kernel says about a disk and the system, gathered so the decision can be tested.
#[derive(Debug, Clone, Default)]
pub struct DiskState {
    /// The disk's partitions (`sdb1`, `mmcblk0p1`).
    pub partitions: Vec<String>,
    /// `/proc/mounts` lines as (device, mount point), devices already resolved to kernel names.
    pub mounts: Vec<(String, String)>,
    /// Block devices built on the disk or its partitions (`/sys/block/X/holders`, `X/Y/holders`).
    pub holders: Vec<String>,
}

/// Why `disk` must not be written, or `None` when it may be.
pub fn refusal(name: &str, state: &DiskState) -> Option<String> {
    let ours = |device: &str| device == name || state.partitions.iter().any(|p| p == device);
    if let Some((device, _)) = state.mounts.iter().find(|(device, point)| point == "/" && ours(device)) {
        return Some(format!("/dev/{device} holds the root file system: /dev/{name} is this machine's system disk"));
    }
    if let Some((device, point)) = state.mounts.iter().find(|(device, _)| ours(device)) {
        return Some(format!("/dev/{device} is mounted at {point}: unmount it first (umount {point})"));
    }
    if let Some(holder) = state.holders.first() {
        return Some(format!("/dev/{name} is in use by /dev/{holder} (LVM, RAID or dm-crypt): release it first"));
    }
    None
}

fn kernel_name(device: &str) -> Option<String> {
    let path = std::fs::canonicalize(device).ok()?;
    let name = path.strip_prefix("/dev").ok()?.to_str()?;
    Some(name.to_string())
}

fn read_trimmed(path: &Path) -> String {
    std::fs::read_to_string(path).map(|s| s.trim().to_string()).unwrap_or_default()
}

fn list(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|entries| entries.filter_map(|e| e.ok()?.file_name().into_string().ok()).collect())
        .unwrap_or_default()
}

/// Checks that `device` is a whole disk nothing uses; reads `/proc/mounts` and `/sys/block`.
pub fn inspect(device: &Path) -> Result<Disk> {
    let canonical = std::fs::canonicalize(device).with_context(|| format!("{} does not exist", device.display()))?;
    let metadata = std::fs::metadata(&canonical)?;
    if !metadata.file_type().is_block_device() {
        bail!(
            "{} is not a block device; --write takes a whole card such as /dev/sdX or /dev/mmcblk0",
            device.display()
        );
    }
    let name = canonical.file_name().and_then(|n| n.to_str()).context("the device has no name")?.to_string();
    let sys = Path::new("/sys/class/block").join(&name);
    if sys.join("partition").exists() {
        bail!("{} is a partition; give the whole disk (e.g. /dev/sdb, not /dev/sdb1)", device.display());
    }
    let sys = Path::new("/sys/block").join(&name);
    let partitions: Vec<String> = list(&sys).into_iter().filter(|p| p.starts_with(&name) && p != &name).collect();
    let mut holders = list(&sys.join("holders"));
    for partition in &partitions {
        holders.extend(list(&sys.join(partition).join("holders")));
    }
    let mounts_text = std::fs::read_to_string("/proc/mounts").context("reading /proc/mounts")?;
    let mounts = mounts_text
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let device = fields.next()?;
            let point = fields.next()?;
            device.starts_with('/').then(|| Some((kernel_name(device)?, point.to_string())))?
        })
        .collect();
    let state = DiskState { partitions, mounts, holders };
    if let Some(reason) = refusal(&name, &state) {
        bail!("refusing to write {}: {reason}", device.display());
    }
    let size_bytes = read_trimmed(&sys.join("size")).parse::<u64>().unwrap_or(0) * 512;
    let model = [read_trimmed(&sys.join("device/vendor")), read_trimmed(&sys.join("device/model"))]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    Ok(Disk { device: canonical, name, size_bytes, model })
}

/// Asks the user to type `yes`; anything else (or end of input) declines.
pub fn confirm(disk: &Disk, image: &Path, input: &mut dyn BufRead) -> Result<bool> {
    let model = if disk.model.is_empty() { "unknown model".to_string() } else { disk.model.clone() };
    eprint!(
        "kingly: this erases everything on {} ({model}, {:.1} GiB) and writes {}.\nType yes to continue: ",
        disk.device.display(),
        disk.size_bytes as f64 / f64::from(1u32 << 30),
        image.display()
    );
    std::io::stderr().flush()?;
    let mut answer = String::new();
    input.read_line(&mut answer)?;
    Ok(answer.trim() == "yes")
}

/// Copies `image` to the disk with a progress bar, flushes the disk's caches, then reads the
/// disk back and compares (a second bar): a fake or failing card is caught here, not at boot.
pub fn write_image(image: &Path, disk: &Disk) -> Result<()> {
    let mut source = File::open(image).with_context(|| format!("opening {}", image.display()))?;
    let total = source.metadata()?.len();
    if disk.size_bytes != 0 && total > disk.size_bytes {
        bail!(
            "the image is {} MiB but {} holds only {} MiB",
            total >> 20,
            disk.device.display(),
            disk.size_bytes >> 20
        );
    }
    let mut target = std::fs::OpenOptions::new()
        .write(true)
        .open(&disk.device)
        .with_context(|| format!("opening {} for writing (are you root?)", disk.device.display()))?;
    let bar = progress_bar(total, "writing")?;
    let mut buffer = vec![0u8; CHUNK];
    loop {
        let n = source.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        target.write_all(&buffer[..n]).with_context(|| format!("writing {}", disk.device.display()))?;
        bar.inc(n as u64);
    }
    target.sync_all().with_context(|| format!("flushing {}", disk.device.display()))?;
    bar.finish();
    drop(target);
    verify(image, &disk.device)
}

const CHUNK: usize = 4 << 20;

fn progress_bar(total: u64, what: &str) -> Result<indicatif::ProgressBar> {
    let template = format!("{what} {{bytes}}/{{total_bytes}} [{{wide_bar}}] {{bytes_per_sec}}, {{eta}} left");
    Ok(indicatif::ProgressBar::new(total)
        .with_style(indicatif::ProgressStyle::with_template(&template).context("progress bar template")?))
}

/// Reads `device` back and compares it with `image`, byte for byte over the image's length.
/// The device's cached pages are dropped first, so the bytes come from the card.
pub fn verify(image: &Path, device: &Path) -> Result<()> {
    let mut expected = File::open(image).with_context(|| format!("opening {}", image.display()))?;
    let total = expected.metadata()?.len();
    let mut written = File::open(device).with_context(|| format!("opening {} to read it back", device.display()))?;
    // Advice only: where the kernel ignores it the compare still runs, against the cache.
    let _ = rustix::fs::fadvise(&written, 0, None, rustix::fs::Advice::DontNeed);
    let bar = progress_bar(total, "verifying")?;
    let (mut want, mut got) = (vec![0u8; CHUNK], vec![0u8; CHUNK]);
    let mut offset = 0u64;
    while offset < total {
        let n = usize::try_from((total - offset).min(CHUNK as u64)).unwrap_or(CHUNK);
        expected.read_exact(&mut want[..n]).with_context(|| format!("reading {}", image.display()))?;
        written
            .read_exact(&mut got[..n])
            .with_context(|| format!("reading {} back at byte {offset}: the card ended or failed", device.display()))?;
        if let Some(at) = want[..n].iter().zip(&got[..n]).position(|(a, b)| a != b) {
            let at = offset + at as u64;
            bail!(
                "{} does not hold what was written: it differs from {} at byte {at} (MiB {}); \
                 the card may be failing or smaller than it claims. Try another card",
                device.display(),
                image.display(),
                at >> 20
            );
        }
        offset += n as u64;
        bar.inc(n as u64);
    }
    bar.finish();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(mounts: &[(&str, &str)], holders: &[&str]) -> DiskState {
        DiskState {
            partitions: vec!["sdb1".into(), "sdb2".into()],
            mounts: mounts.iter().map(|(d, p)| (d.to_string(), p.to_string())).collect(),
            holders: holders.iter().map(|h| h.to_string()).collect(),
        }
    }

    #[test]
    fn an_unused_disk_may_be_written() {
        assert_eq!(refusal("sdb", &state(&[("sda1", "/"), ("sda2", "/home")], &[])), None);
    }

    #[test]
    fn a_mounted_partition_refuses() {
        let reason = refusal("sdb", &state(&[("sda1", "/"), ("sdb1", "/media/boot")], &[])).unwrap();
        assert!(reason.contains("mounted at /media/boot"), "{reason}");
    }

    #[test]
    fn the_root_disk_refuses() {
        let reason = refusal("sdb", &state(&[("sdb2", "/"), ("sdb1", "/boot")], &[])).unwrap();
        assert!(reason.contains("system disk"), "{reason}");
    }

    #[test]
    fn a_held_disk_refuses() {
        let reason = refusal("sdb", &state(&[], &["dm-0"])).unwrap();
        assert!(reason.contains("dm-0"), "{reason}");
    }

    #[test]
    fn only_yes_confirms() {
        let disk = Disk { device: "/dev/sdz".into(), name: "sdz".into(), size_bytes: 1 << 30, model: String::new() };
        let image = Path::new("kingly.img");
        assert!(confirm(&disk, image, &mut &b"yes\n"[..]).unwrap());
        assert!(!confirm(&disk, image, &mut &b"y\n"[..]).unwrap());
        assert!(!confirm(&disk, image, &mut &b""[..]).unwrap());
    }

    #[test]
    fn read_back_finds_the_first_differing_byte() {
        let dir = tempfile::tempdir().unwrap();
        let (image, card) = (dir.path().join("kingly.img"), dir.path().join("card"));
        let bytes: Vec<u8> = (0..(CHUNK + 5000)).map(|i| (i % 251) as u8).collect();
        std::fs::write(&image, &bytes).unwrap();
        let mut on_card = bytes.clone();
        on_card.extend_from_slice(&[0xaa; 4096]); // a card is larger than the image
        std::fs::write(&card, &on_card).unwrap();
        verify(&image, &card).unwrap();

        on_card[CHUNK + 17] ^= 1;
        std::fs::write(&card, &on_card).unwrap();
        let error = verify(&image, &card).unwrap_err().to_string();
        assert!(error.contains(&format!("at byte {}", CHUNK + 17)), "{error}");

        std::fs::write(&card, &bytes[..1000]).unwrap();
        let error = format!("{:#}", verify(&image, &card).unwrap_err());
        assert!(error.contains("back at byte 0") && error.contains("ended"), "{error}");
    }

    #[test]
    fn regular_files_are_not_disks() {
        let error = inspect(Path::new("/proc/self/status")).unwrap_err().to_string();
        assert!(error.contains("not a block device"), "{error}");
    }
}
