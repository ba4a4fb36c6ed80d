//! Building the kernel for a board and turning it into a bootable raw image.

use crate::board::Board;
use crate::raw_image;
use crate::workspace;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Which kernel to build for a board.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Variant {
    /// What boards run and SD cards carry: no test suites, no conformance corpus.
    Production,
    /// With the in-kernel test suites and benches (`kingly boot --test`, the integration
    /// tests): the kernel's `suites` feature.
    Suites,
}

impl Variant {
    /// The variant `kingly boot` needs: the suites only when it runs one.
    pub fn for_test(test: Option<&str>) -> Self {
        if test.is_some() {
            Self::Suites
        } else {
            Self::Production
        }
    }

    /// `raspi4b` or `raspi4b-suites`: names the target and output directories.
    fn directory(self, board: Board) -> String {
        match self {
            Self::Production => board.name().to_string(),
            Self::Suites => format!("{}-suites", board.name()),
        }
    }
}

/// A kernel ready to boot: the ELF (for symbols and debugging) and the raw image QEMU boots.
#[derive(Debug, Clone)]
pub struct KernelArtifacts {
    pub board: Board,
    pub elf: PathBuf,
    pub image: PathBuf,
}

/// Builds `variant` of the kernel for `board` with cargo (release profile, its own target
/// directory per board and variant so switching never rebuilds the other), then writes the
/// raw image. `quiet` asks for a silent up-to-date check; a first build always shows cargo's
/// progress.
pub fn build(board: Board, variant: Variant, quiet: bool) -> Result<KernelArtifacts> {
    let root = workspace::root()?;
    let target_dir = root.join("target").join(format!("kernel-{}", variant.directory(board)));
    let mut features = board.cargo_feature().to_string();
    if variant == Variant::Suites {
        features.push_str(",suites");
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(&root)
        .args(["build", "--release", "-p", "kingly-kernel", "--bin", "kingly-kernel"])
        .args(["--target", "aarch64-unknown-none", "--no-default-features", "--features", &features])
        .arg("--target-dir")
        .arg(&target_dir)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_TARGET_DIR");
    // Cargo's progress is shown whenever the build may take a while (the first build for a
    // board takes a minute or two) or a person watches stderr; `quiet` hides only the
    // "Finished" line of an up-to-date build in scripts and tests.
    let elf = target_dir.join("aarch64-unknown-none/release/kingly-kernel");
    let first_build = !elf.exists();
    if first_build {
        let what = match variant {
            Variant::Production => String::new(),
            Variant::Suites => " with its test suites".to_string(),
        };
        eprintln!("kingly: first kernel build for {board}{what} (a minute or two; cargo's progress follows)");
    }
    if quiet && !first_build && !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        command.arg("--quiet");
    }
    let key_dir = crate::keys::default_dir();
    let (public, created) = crate::keys::ensure(&key_dir)?;
    if created {
        eprintln!(
            "kingly: made a signing key pair in {} (kingly keygen); this kernel accepts programs signed with it",
            key_dir.display()
        );
    }
    command.env("KINGLY_PUBKEY", crate::keys::public_hex(&public));
    let status = command.status().context("running cargo to build the kernel")?;
    if !status.success() {
        bail!(
            "building the kernel for {board} failed (see cargo's output above); \
             if the target is missing: rustup target add aarch64-unknown-none"
        );
    }
    image_from_elf(board, &variant.directory(board), &elf)
}

/// Writes `<target>/kingly/<board>-given/kernel8.img` from a kernel ELF the user names
/// (`--kernel`), beside the built variants' images rather than over them.
pub fn image_from_given_elf(board: Board, elf: &Path) -> Result<KernelArtifacts> {
    image_from_elf(board, &format!("{}-given", board.name()), elf)
}

/// Writes `<target>/kingly/<directory>/kernel8.img` from a kernel ELF linked for `board`.
fn image_from_elf(board: Board, directory: &str, elf: &Path) -> Result<KernelArtifacts> {
    let root = workspace::root()?;
    let bytes = std::fs::read(elf).with_context(|| format!("reading kernel ELF {}", elf.display()))?;
    let image = raw_image::from_elf(&bytes).with_context(|| format!("converting {} to a raw image", elf.display()))?;
    if image.load_address != board.load_address() {
        bail!(
            "{} is linked at {:#x} but {board} loads raw images at {:#x}: was it built for another board?",
            elf.display(),
            image.load_address,
            board.load_address()
        );
    }
    let dir = workspace::output_dir(&root).join(directory);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join("kernel8.img");
    write_atomically(&path, &image.bytes)?;
    Ok(KernelArtifacts { board, elf: elf.to_path_buf(), image: path })
}

/// Writes through a temporary file and a rename, so a failed write never leaves half a file.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    // Named per process: two `kingly` runs that build the same board at once (parallel tests,
    // two terminals) would otherwise write one temporary file and rename each other's half.
    let tmp = path.with_extension(format!("{}.tmp", std::process::id()));
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))?;
    Ok(())
}
