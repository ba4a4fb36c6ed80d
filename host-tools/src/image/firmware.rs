//! Finding what goes on the card besides the kernels: the Pi 4 firmware with its licence, and
//! the board device trees. Every missing input is an error that names where to get it.

use super::fat32::FileEntry;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

/// Where Debian's `raspi-firmware` package (non-free-firmware) installs the firmware.
pub const DEBIAN_FIRMWARE_DIR: &str = "/usr/lib/raspi-firmware";
/// The firmware licence as Debian ships it.
pub const DEBIAN_FIRMWARE_LICENCE: &str = "/usr/share/doc/raspi-firmware/copyright";
/// The licence file's name on the card, as in the Raspberry Pi firmware repository.
pub const LICENCE_NAME: &str = "LICENCE.broadcom";
/// The Pi 4 firmware files (the Pi 5 keeps its firmware in EEPROM).
pub const PI4_FIRMWARE: [&str; 2] = ["start4.elf", "fixup4.dat"];
pub const PI4_DTB: &str = "bcm2711-rpi-4-b.dtb";
pub const PI5_DTB: &str = "bcm2712-rpi-5-b.dtb";

const GET_FIRMWARE: &str = "install Debian's raspi-firmware package (component non-free-firmware: \
                            apt-get install raspi-firmware) or pass --firmware DIR";
const GET_DTBS: &str = "run scripts/fetch-dtbs.sh (extracts them from Debian's arm64 kernel package \
                        linux-image-<version>-arm64, broadcom/), or pass --dtb DIR";

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

/// `start4.elf`, `fixup4.dat` and `LICENCE.broadcom`, from `dir` or Debian's package.
pub fn pi4_firmware(dir: Option<&Path>) -> Result<Vec<FileEntry>> {
    let (dir, licence_candidates): (PathBuf, Vec<PathBuf>) = match dir {
        Some(dir) => {
            if !dir.is_dir() {
                bail!("firmware directory {} does not exist; {GET_FIRMWARE}", dir.display());
            }
            (dir.to_path_buf(), vec![dir.join(LICENCE_NAME), dir.join("copyright")])
        }
        None => (PathBuf::from(DEBIAN_FIRMWARE_DIR), vec![PathBuf::from(DEBIAN_FIRMWARE_LICENCE)]),
    };
    let mut files = Vec::new();
    for name in PI4_FIRMWARE {
        let path = dir.join(name);
        if !path.is_file() {
            bail!("the Pi 4 firmware file {} is missing; {GET_FIRMWARE}", path.display());
        }
        files.push(FileEntry { name: name.to_string(), bytes: read(&path)? });
    }
    let Some(licence) = licence_candidates.iter().find(|p| p.is_file()) else {
        bail!(
            "the firmware licence is missing (looked for {}); it must ship with start4.elf: {GET_FIRMWARE}",
            licence_candidates.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
        );
    };
    files.push(FileEntry { name: LICENCE_NAME.to_string(), bytes: read(licence)? });
    Ok(files)
}

/// Directories searched for device trees when `--dtb` is not given: the fixtures that
/// `scripts/fetch-dtbs.sh` fetches, then an installed Debian arm64 kernel (newest first).
fn default_dtb_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Ok(root) = crate::workspace::root() {
        dirs.push(root.join("tests/fixtures/dtb"));
    }
    if let Ok(entries) = std::fs::read_dir("/usr/lib") {
        let mut kernels: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("linux-image-")))
            .map(|p| p.join("broadcom"))
            .collect();
        kernels.sort();
        dirs.extend(kernels.into_iter().rev());
    }
    dirs
}

/// The device tree `name`, from `dir` (or its `broadcom/` subdirectory) or the default places.
pub fn dtb(name: &str, dir: Option<&Path>) -> Result<FileEntry> {
    let dirs = match dir {
        Some(dir) => {
            if !dir.is_dir() {
                bail!("device tree directory {} does not exist; {GET_DTBS}", dir.display());
            }
            vec![dir.to_path_buf(), dir.join("broadcom")]
        }
        None => default_dtb_dirs(),
    };
    let Some(path) = dirs.iter().map(|d| d.join(name)).find(|p| p.is_file()) else {
        let looked: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
        bail!("the device tree {name} is missing (looked in {}); {GET_DTBS}", looked.join(", "));
    };
    let bytes = read(&path)?;
    if bytes.get(..4) != Some(&[0xd0, 0x0d, 0xfe, 0xed][..]) {
        bail!("{} is not a device tree blob (no 0xd00dfeed magic)", path.display());
    }
    Ok(FileEntry { name: name.to_string(), bytes })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_firmware_names_the_package() {
        let error = pi4_firmware(Some(Path::new("/nonexistent/firmware"))).unwrap_err().to_string();
        assert!(error.contains("raspi-firmware") && error.contains("/nonexistent/firmware"), "{error}");
    }

    #[test]
    fn missing_dtb_names_the_script_and_package() {
        let error = dtb(PI5_DTB, Some(Path::new("/"))).unwrap_err().to_string();
        assert!(error.contains(PI5_DTB) && error.contains("fetch-dtbs.sh") && error.contains("linux-image"), "{error}");
    }
}
