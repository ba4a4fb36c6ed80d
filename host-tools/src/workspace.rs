//! Finding the Kingly source tree the kernel is built from.

use anyhow::{bail, Result};
use std::path::{Path, PathBuf};

fn is_kingly_root(dir: &Path) -> bool {
    dir.join("Cargo.toml").is_file()
        && dir.join("kernel/Cargo.toml").is_file()
        && dir.join("linker/kernel.ld").is_file()
}

/// The source tree: `$KINGLY_ROOT`, else the tree this tool was built from, else the
/// current directory or one of its parents.
pub fn root() -> Result<PathBuf> {
    if let Some(root) = std::env::var_os("KINGLY_ROOT") {
        let root = PathBuf::from(root);
        if is_kingly_root(&root) {
            return Ok(root);
        }
        bail!("KINGLY_ROOT={} is not a Kingly source tree (no kernel/Cargo.toml or linker/kernel.ld)", root.display());
    }
    let built_from = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    if is_kingly_root(&built_from) {
        return Ok(built_from.canonicalize()?);
    }
    let cwd = std::env::current_dir()?;
    for dir in cwd.ancestors() {
        if is_kingly_root(dir) {
            return Ok(dir.to_path_buf());
        }
    }
    bail!("cannot find the Kingly source tree: run inside a checkout or set KINGLY_ROOT")
}

/// Where `kingly` keeps its build products: `<root>/target/kingly`.
pub fn output_dir(root: &Path) -> PathBuf {
    root.join("target").join("kingly")
}
