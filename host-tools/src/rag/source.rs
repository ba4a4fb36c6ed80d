//! Where the indexed tree comes from: a directory, or a `.tar.xz` (the Debian
//! `linux-source-6.1` package) unpacked once next to the index so hits can show their lines.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use super::chunk::FileType;

/// The tarball `apt-get install linux-source-6.1` installs; the default source.
pub const DEBIAN_TARBALL: &str = "/usr/src/linux-source-6.1.tar.xz";
/// The Debian changelog shipped with that package: upstream fix subjects and CVE tags.
pub const DEBIAN_CHANGELOG: &str = "/usr/share/doc/linux-source-6.1/changelog.Debian.gz";

/// One indexable file: path relative to the root (with `/`), size and modification time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceFile {
    pub path: String,
    pub size_bytes: u64,
    pub mtime_ns: i64,
}

/// Resolves `--source` (or the default tarball) to a directory to index.
pub fn resolve(source: Option<&Path>, index_dir: &Path) -> Result<PathBuf> {
    let source = match source {
        Some(path) => path.to_path_buf(),
        None if Path::new(DEBIAN_TARBALL).exists() => PathBuf::from(DEBIAN_TARBALL),
        None => bail!(
            "no --source given and {DEBIAN_TARBALL} is missing: `apt-get install linux-source-6.1`, or pass --source DIR"
        ),
    };
    if source.is_dir() {
        return Ok(source);
    }
    let name = source.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    if name.ends_with(".tar.xz") || name.ends_with(".txz") {
        return unpack_tarball(&source, &index_dir.join("source"));
    }
    bail!("--source {}: neither a directory nor a .tar.xz", source.display())
}

/// Unpacks `tarball` under `dest` unless the same tarball (by size and mtime) already is;
/// returns the tree's root (the tarball's single top directory when it has one).
fn unpack_tarball(tarball: &Path, dest: &Path) -> Result<PathBuf> {
    let stamp_path = dest.join(".kingly-unpacked");
    let metadata = fs::metadata(tarball).with_context(|| format!("reading {}", tarball.display()))?;
    let stamp = format!("{} {} {}\n", tarball.display(), metadata.len(), mtime_ns(&metadata));
    if fs::read_to_string(&stamp_path).ok().as_deref() != Some(stamp.as_str()) {
        if dest.exists() {
            fs::remove_dir_all(dest).with_context(|| format!("clearing {}", dest.display()))?;
        }
        fs::create_dir_all(dest)?;
        eprintln!("kingly rag: unpacking {} into {} (once)", tarball.display(), dest.display());
        let file = fs::File::open(tarball)?;
        let decoder = xz2::read::XzDecoder::new_multi_decoder(std::io::BufReader::with_capacity(1 << 20, file));
        tar::Archive::new(decoder).unpack(dest).with_context(|| format!("unpacking {}", tarball.display()))?;
        fs::write(&stamp_path, &stamp)?;
    }
    let mut dirs = fs::read_dir(dest)?
        .filter_map(|entry| entry.ok())
        .filter(|entry| entry.file_type().is_ok_and(|t| t.is_dir()))
        .map(|entry| entry.path())
        .collect::<Vec<_>>();
    Ok(if dirs.len() == 1 { dirs.remove(0) } else { dest.to_path_buf() })
}

fn mtime_ns(metadata: &fs::Metadata) -> i64 {
    metadata
        .modified()
        .ok()
        .and_then(|time| time.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |duration| duration.as_nanos() as i64)
}

/// Lists the files under `root` that the index takes, sorted by path. Hidden directories
/// (`.git`) are skipped.
pub fn list_files(root: &Path) -> Result<Vec<SourceFile>> {
    let mut files = Vec::new();
    let walker = walkdir::WalkDir::new(root).into_iter().filter_entry(|entry| {
        entry.depth() == 0 || !entry.file_name().to_str().is_some_and(|name| name.starts_with('.'))
    });
    for entry in walker {
        let entry = entry.with_context(|| format!("walking {}", root.display()))?;
        if !entry.file_type().is_file() {
            continue;
        }
        let Ok(relative) = entry.path().strip_prefix(root) else { continue };
        let Some(path) = relative.to_str().map(|p| p.replace('\\', "/")) else { continue };
        if FileType::of(&path).is_none() {
            continue;
        }
        let metadata = entry.metadata()?;
        files.push(SourceFile { path, size_bytes: metadata.len(), mtime_ns: mtime_ns(&metadata) });
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}

/// Lines `start_line..=end_line` (1-based) of `path` in the tree, at most `max_lines` of them,
/// or `None` when the file cannot be read or is shorter. The file is read whole and its
/// newlines found with memchr: reading line by line allocated a String per line up to the
/// range, which took most of a query's time in big files.
pub fn read_lines(root: &Path, path: &str, start_line: u32, end_line: u32, max_lines: usize) -> Option<String> {
    let bytes = fs::read(root.join(path)).ok()?;
    let start = match (start_line as usize).checked_sub(2) {
        None => 0,
        Some(newlines) => memchr::memchr_iter(b'\n', &bytes).nth(newlines)? + 1,
    };
    let rest = &bytes[start..];
    let count = (end_line as usize + 1).saturating_sub(start_line as usize).min(max_lines);
    let end = count
        .checked_sub(1)
        .map_or(0, |newlines| memchr::memchr_iter(b'\n', rest).nth(newlines).map_or(rest.len(), |index| index + 1));
    Some(String::from_utf8_lossy(&rest[..end]).into_owned())
}
