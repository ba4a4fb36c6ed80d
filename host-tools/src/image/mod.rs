//! `kingly image`: a flashable SD card image for the Raspberry Pi 4, 5 or both.
//!
//! The image is an MBR ([`mbr`]) with one FAT32 partition at LBA 2048 ([`fat32`]) holding
//! `config.txt` ([`config_txt`]), the kernels, the Pi 4 firmware and the device trees
//! ([`firmware`]). It is built in a temporary file next to the output and renamed into place,
//! so a failure never leaves half an image; the same inputs always give the same bytes.
//! `--write` then copies it to a card ([`write`]).

pub mod config_txt;
pub mod fat32;
pub mod firmware;
pub mod mbr;
pub mod write;

use crate::board::Board;
use crate::kernel_build;
use anyhow::{bail, Context, Result};
use fat32::FileEntry;
use kingly_proto::chainload::LoaderBoard;
use kingly_proto::line_rate;
use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Which boards the card boots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ImageBoard {
    /// Raspberry Pi 4 (`raspi4b`, the name `kingly boot` uses, is taken too).
    #[value(alias = "raspi4b")]
    Pi4,
    /// Raspberry Pi 5.
    Pi5,
    /// One card that boots on either.
    Both,
}

/// The boards an image carries files for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Boards {
    pub pi4: bool,
    pub pi5: bool,
}

impl From<ImageBoard> for Boards {
    fn from(board: ImageBoard) -> Self {
        Boards { pi4: board != ImageBoard::Pi5, pi5: board != ImageBoard::Pi4 }
    }
}

/// Default image size: the smallest power of two whose partition can be FAT32 (512-byte clusters).
pub const DEFAULT_SIZE_MIB: u64 = 64;
/// Largest image: beyond 32 GiB FAT32 clusters grow past what the tools like, and no kernel needs it.
pub const MAX_SIZE_MIB: u64 = 32 * 1024;
/// A kernel image larger than this is certainly not a Kingly kernel.
const MAX_KERNEL_BYTES: usize = 64 << 20;

/// Options of `kingly image`.
#[derive(clap::Args, Debug, Clone)]
#[command(after_help = "Examples:\n  \
    kingly image --board pi4 -o kingly.img                       # builds the Pi 4 kernel itself\n  \
    kingly image --board both -o kingly.img                      # builds the Pi 4 and Pi 5 kernels\n  \
    kingly image --board pi5 --kernel-pi5 k5.img -o kingly.img   # a kernel built elsewhere\n  \
    kingly image --board pi4 -o kingly.img --write /dev/sdX      # asks before erasing the card\n\n\
    Inputs: the Pi 4 firmware (start4.elf, fixup4.dat, licence) from Debian's raspi-firmware\n\
    package (non-free-firmware) or --firmware DIR; the device trees from scripts/fetch-dtbs.sh,\n\
    an installed Debian arm64 kernel or --dtb DIR.")]
pub struct ImageArgs {
    /// Boards the card boots: pi4, pi5 or both.
    #[arg(long, value_enum, default_value_t = ImageBoard::Pi4)]
    pub board: ImageBoard,
    /// Directory with start4.elf, fixup4.dat and LICENCE.broadcom (default: Debian's /usr/lib/raspi-firmware).
    #[arg(long, value_name = "DIR")]
    pub firmware: Option<PathBuf>,
    /// Directory with bcm2711-rpi-4-b.dtb / bcm2712-rpi-5-b.dtb (default: tests/fixtures/dtb, then
    /// /usr/lib/linux-image-*/broadcom).
    #[arg(long, value_name = "DIR")]
    pub dtb: Option<PathBuf>,
    /// Image size in MiB: a power of two, at least 64 (FAT32 needs 65,525 clusters).
    #[arg(long, value_name = "MiB", default_value_t = DEFAULT_SIZE_MIB)]
    pub size: u64,
    /// Pi 4 kernel (raw image or ELF linked at 0x80000) instead of building one.
    #[arg(long, value_name = "FILE")]
    pub kernel_pi4: Option<PathBuf>,
    /// Pi 5 kernel (raw image or ELF linked at 0x80000) instead of building one.
    #[arg(long, value_name = "FILE")]
    pub kernel_pi5: Option<PathBuf>,
    /// Put the serial chainloader on the card instead of a kernel: each boot then waits for
    /// `kingly boot --board pi4|pi5 --serial /dev/ttyXXX` to send one, so kernel changes need
    /// no reflashing.
    #[arg(long, conflicts_with_all = ["kernel_pi4", "kernel_pi5"])]
    pub chainload: bool,
    /// The loader's line rate (with --chainload): written as `kingly.baud=N` to cmdline.txt, which
    /// the loader reads, and as `init_uart_baud=N` to config.txt for the firmware's own log.
    /// 9600 to 3000000 (the Pi 5's debug UART stops at 576000); `kingly boot --baud N` must match.
    /// Default 115200.
    #[arg(long, value_name = "N")]
    pub baud: Option<u32>,
    /// Where to write the image.
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
    /// Then copy the image to this whole disk (e.g. /dev/sdX), after confirmation.
    #[arg(long, value_name = "DEVICE")]
    pub write: Option<PathBuf>,
    /// Do not ask before --write erases the disk.
    #[arg(long, requires = "write")]
    pub yes: bool,
}

/// Runs `kingly image`; returns the process exit code.
pub fn run(args: &ImageArgs) -> Result<i32> {
    let size_bytes = check_size(args.size)?;
    if args.baud.is_some() && !args.chainload {
        // (clap's `requires` takes the flag's implicit `false` for presence.)
        bail!("--baud sets the serial chainloader's line rate: it needs --chainload");
    }
    // Check the disk before the (possibly slow) build, so a refusal comes first.
    let disk = args.write.as_deref().map(write::inspect).transpose()?;
    let files = gather(args)?;
    build_image(&args.output, size_bytes, &files)?;
    eprintln!(
        "kingly: wrote {} ({} MiB): {}",
        args.output.display(),
        args.size,
        files.iter().map(|f| f.name.as_str()).collect::<Vec<_>>().join(", ")
    );
    if let Some(disk) = disk {
        if !args.yes && !write::confirm(&disk, &args.output, &mut std::io::stdin().lock())? {
            eprintln!("kingly: not confirmed; {} left untouched", disk.device.display());
            return Ok(1);
        }
        write::write_image(&args.output, &disk)?;
        eprintln!("kingly: {} is ready; eject it and put it in the board", disk.device.display());
    }
    Ok(0)
}

/// `--size` in bytes, or why it is refused.
pub fn check_size(size_mib: u64) -> Result<u64> {
    if !size_mib.is_power_of_two() {
        bail!("--size {size_mib} is not a power of two (try {})", size_mib.next_power_of_two().max(DEFAULT_SIZE_MIB));
    }
    if size_mib < DEFAULT_SIZE_MIB {
        bail!(
            "--size {size_mib} MiB is too small: after the 1 MiB partition offset a FAT32 volume needs at least \
             {} clusters, so the smallest image is {DEFAULT_SIZE_MIB} MiB",
            fat32::FAT32_MIN_CLUSTERS
        );
    }
    if size_mib > MAX_SIZE_MIB {
        bail!("--size {size_mib} MiB is larger than the {MAX_SIZE_MIB} MiB this tool makes");
    }
    Ok(size_mib << 20)
}

/// Everything that goes on the card, in the order it is written.
fn gather(args: &ImageArgs) -> Result<Vec<FileEntry>> {
    let boards = Boards::from(args.board);
    let chainload_baud =
        if args.chainload { Some(check_baud(boards, args.baud.unwrap_or(line_rate::DEFAULT_BAUD))?) } else { None };
    let mut files =
        vec![FileEntry { name: "config.txt".into(), bytes: config_txt::render(boards, chainload_baud).into_bytes() }];
    if let Some(baud) = chainload_baud {
        files.push(FileEntry { name: "cmdline.txt".into(), bytes: config_txt::render_cmdline(baud).into_bytes() });
    }
    if boards.pi4 {
        let kernel = match &args.kernel_pi4 {
            _ if args.chainload => built_loader(Board::Raspi4b)?,
            Some(path) => kernel_file(path, 0x80000)?,
            None => built_kernel(Board::Raspi4b)?,
        };
        files.push(FileEntry { name: config_txt::PI4_KERNEL.into(), bytes: kernel });
    }
    if boards.pi5 {
        let kernel = match &args.kernel_pi5 {
            _ if args.chainload => built_loader(Board::Pi5)?,
            Some(path) => kernel_file(path, 0x80000)?,
            None => built_kernel(Board::Pi5)?,
        };
        files.push(FileEntry { name: config_txt::PI5_KERNEL.into(), bytes: kernel });
    }
    if boards.pi4 {
        files.extend(firmware::pi4_firmware(args.firmware.as_deref())?);
        files.push(firmware::dtb(firmware::PI4_DTB, args.dtb.as_deref())?);
    }
    if boards.pi5 {
        files.push(firmware::dtb(firmware::PI5_DTB, args.dtb.as_deref())?);
    }
    Ok(files)
}

/// `--baud`, if every board's loader can listen at it.
pub fn check_baud(boards: Boards, baud: u32) -> Result<u32> {
    let selected = [(boards.pi4, LoaderBoard::Pi4), (boards.pi5, LoaderBoard::Pi5)];
    for board in selected.into_iter().filter_map(|(on, board)| on.then_some(board)) {
        match line_rate::check_baud(baud, board.uart_clock_hz()) {
            Ok(_) => {}
            Err(line_rate::LineRateError::BeyondClock { clock_hz, .. }) => bail!(
                "--baud {baud} is beyond the {} loader's UART: its {clock_hz} Hz clock makes at most {} baud",
                board.name(),
                clock_hz / 16
            ),
            Err(_) => bail!(
                "--baud {baud} is not a rate the loader offers: one of {}",
                line_rate::SUPPORTED_BAUD_RATES.map(|rate| rate.to_string()).join(", ")
            ),
        }
    }
    Ok(baud)
}

/// The chainloader's raw image, in the kernel's place: it moves itself out of the kernel's way.
fn built_loader(board: Board) -> Result<Vec<u8>> {
    eprintln!("kingly: building the chainloader for {board}");
    let path = crate::chainload::build_loader(board, true)?;
    std::fs::read(&path).with_context(|| format!("reading {}", path.display()))
}

fn built_kernel(board: Board) -> Result<Vec<u8>> {
    eprintln!("kingly: building the kernel for {board}");
    let artifacts = kernel_build::build(board, kernel_build::Variant::Production, true)?;
    std::fs::read(&artifacts.image).with_context(|| format!("reading {}", artifacts.image.display()))
}

/// A kernel given on the command line: an ELF becomes its raw image; a raw image is taken as is.
fn kernel_file(path: &Path, load_address: u64) -> Result<Vec<u8>> {
    let bytes = std::fs::read(path).with_context(|| format!("reading the kernel {}", path.display()))?;
    if bytes.is_empty() {
        bail!("the kernel {} is empty", path.display());
    }
    if bytes.starts_with(b"\x7fELF") {
        let image = crate::raw_image::from_elf(&bytes).with_context(|| format!("converting {}", path.display()))?;
        if image.load_address != load_address {
            bail!(
                "{} is linked at {:#x}, but config.txt loads kernels at {load_address:#x}",
                path.display(),
                image.load_address
            );
        }
        return Ok(image.bytes);
    }
    if bytes.len() > MAX_KERNEL_BYTES {
        bail!(
            "the kernel {} is {} MiB; a raw kernel image above 64 MiB is certainly wrong",
            path.display(),
            bytes.len() >> 20
        );
    }
    if raw_kernel_kind(&bytes).is_none() {
        bail!(
            "{} is not an AArch64 kernel the firmware can start: it is not an ELF, has no Linux arm64 \
             Image header (\"ARM\\x64\" at byte 56) and no Kingly boot-argument area. Pass the kernel \
             ELF or the kernel8.img that `kingly boot`/`kingly image` build (target/kingly/<board>/kernel8.img)",
            path.display()
        );
    }
    Ok(bytes)
}

/// What a raw kernel image is, by its marks: an arm64 Linux `Image` (magic at byte 56) or a
/// Kingly kernel (its boot-argument area, which every Kingly kernel carries). `None` for
/// anything else, such as random bytes, text or an x86 kernel.
pub fn raw_kernel_kind(bytes: &[u8]) -> Option<&'static str> {
    const ARM64_IMAGE_MAGIC: &[u8; 4] = b"ARM\x64";
    if bytes.get(56..60) == Some(ARM64_IMAGE_MAGIC) {
        return Some("arm64 Linux Image");
    }
    let magic = kingly_proto::bootargs::MAGIC;
    bytes.windows(magic.len()).any(|w| w == magic).then_some("Kingly kernel")
}

/// FNV-1a over every file's name and contents: the volume id and disk signature follow the
/// contents, so two different cards rarely share a `PARTUUID`, and the same inputs never differ.
fn content_hash(files: &[FileEntry]) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for file in files {
        for &byte in file.name.as_bytes().iter().chain(&(file.bytes.len() as u64).to_le_bytes()).chain(&file.bytes) {
            hash = (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193);
        }
    }
    hash
}

/// Writes the image to `output` through a temporary file in the same directory.
pub fn build_image(output: &Path, size_bytes: u64, files: &[FileEntry]) -> Result<()> {
    let payload: u64 = files.iter().map(|f| f.bytes.len() as u64).sum();
    let partition_bytes = size_bytes - u64::from(mbr::PARTITION_START_LBA) * mbr::SECTOR_BYTES;
    // Leave room for the FATs and per-file cluster slack; a clear message beats a full disk.
    if payload + payload / 8 + (2 << 20) > partition_bytes {
        bail!(
            "the files take {} MiB, too much for a {} MiB image: pass a larger --size",
            payload.div_ceil(1 << 20),
            size_bytes >> 20
        );
    }
    let sectors = u32::try_from(partition_bytes / mbr::SECTOR_BYTES).context("partition too large for an MBR")?;
    let directory = match output.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let file_name = output.file_name().context("the output needs a file name")?.to_string_lossy().into_owned();
    let temporary = directory.join(format!(".{file_name}.{}.partial", std::process::id()));
    let result = (|| -> Result<()> {
        let mut image = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&temporary)
            .with_context(|| format!("creating {}", temporary.display()))?;
        image.set_len(size_bytes)?;
        let hash = content_hash(files);
        image.write_all(&mbr::build(hash.rotate_left(16) ^ 0x4b49_4e47, mbr::PARTITION_START_LBA, sectors))?;
        let start = u64::from(mbr::PARTITION_START_LBA) * mbr::SECTOR_BYTES;
        let partition = fat32::Window::new(&mut image, start, partition_bytes)?;
        let options = fat32::VolumeOptions {
            sectors,
            hidden_sectors: mbr::PARTITION_START_LBA,
            volume_id: hash,
            label: *b"KINGLY     ",
        };
        fat32::write_volume(partition, options, files)?;
        image.seek(SeekFrom::Start(0))?;
        image.sync_all()?;
        std::fs::rename(&temporary, output)
            .with_context(|| format!("renaming {} to {}", temporary.display(), output.display()))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_must_be_powers_of_two_of_at_least_64_mib() {
        assert_eq!(check_size(64).unwrap(), 64 << 20);
        assert!(check_size(32).unwrap_err().to_string().contains("too small"));
        assert!(check_size(100).unwrap_err().to_string().contains("not a power of two"));
        assert!(check_size(0).is_err());
        assert!(check_size(MAX_SIZE_MIB * 2).is_err());
    }

    #[test]
    fn board_choice_selects_files() {
        assert_eq!(Boards::from(ImageBoard::Both), Boards { pi4: true, pi5: true });
        assert_eq!(Boards::from(ImageBoard::Pi5), Boards { pi4: false, pi5: true });
    }
}
