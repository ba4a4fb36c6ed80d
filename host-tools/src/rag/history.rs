//! Fix history available offline: the Debian changelog's upstream commit subjects (with CVE
//! tags), and `git log` when the indexed tree is a git checkout (subjects, `Fixes:` trailers,
//! touched files and the start of each fix's diff).

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};

use super::source::DEBIAN_CHANGELOG;

/// Names of the history sources, used as the documents' path after `history:`.
pub const SOURCES: [&str; 2] = ["debian-changelog", "git-log"];
/// At most this many fix commits are read from `git log`.
const MAX_GIT_FIXES: usize = 20_000;
/// Bytes of a fix commit's diff kept for retrieval.
const MAX_DIFF_BYTES: usize = 4096;

/// One fix: a changelog line or a commit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FixEntry {
    /// `debian-changelog` or `git-log`.
    pub source: &'static str,
    /// Line in the changelog (1-based), or 0 for commits.
    pub line: u32,
    pub subject: String,
    /// Package version and upstream release, or commit id, `Fixes:` trailer and diff.
    pub detail: String,
    /// CVE ids, versions, commit ids.
    pub tags: Vec<String>,
    /// Files touched, or the subject's subsystem prefix (`io_uring/io-wq`).
    pub files: Vec<String>,
}

/// Changelog locations to try: next to the tree (tests), then the Debian package's.
fn changelog_paths(root: &Path) -> Vec<PathBuf> {
    vec![root.join("debian/changelog"), PathBuf::from(DEBIAN_CHANGELOG)]
}

/// A cheap fingerprint of the history inputs, to skip re-reading unchanged history.
pub fn stamp(root: &Path) -> (u64, i64) {
    let mut size = 0u64;
    let mut time = 0i64;
    for path in changelog_paths(root).into_iter().chain([root.join(".git/HEAD"), root.join(".git/index")]) {
        if let Ok(metadata) = fs::metadata(&path) {
            size = size.wrapping_mul(31).wrapping_add(metadata.len());
            let mtime = metadata.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok());
            time = time.wrapping_mul(31).wrapping_add(mtime.map_or(0, |d| d.as_nanos() as i64));
        }
    }
    (size, time)
}

/// Collects all fixes known offline for the tree at `root`.
pub fn collect(root: &Path) -> Result<Vec<FixEntry>> {
    let mut entries = Vec::new();
    if let Some(path) = changelog_paths(root).into_iter().find(|path| path.exists()) {
        let text = read_maybe_gzip(&path)?;
        entries.extend(parse_debian_changelog(&text));
    }
    if root.join(".git").exists() {
        entries.extend(git_fixes(root)?);
    }
    Ok(entries)
}

fn read_maybe_gzip(path: &Path) -> Result<String> {
    let bytes = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut text = String::new();
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_string(&mut text)
            .with_context(|| format!("gunzip {}", path.display()))?;
        Ok(text)
    } else {
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }
}

fn cve_ids(text: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("CVE-") {
        let tail = &rest[at..];
        let end = tail[4..].find(|c: char| !(c.is_ascii_digit() || c == '-')).map_or(tail.len(), |i| i + 4);
        ids.push(tail[..end].trim_end_matches('-').to_string());
        rest = &tail[end..];
    }
    ids
}

/// Parses a Debian kernel changelog: every `- subject` of an upstream stable update and every
/// `* change` of the packaging, with its package version and upstream release as tags.
pub fn parse_debian_changelog(text: &str) -> Vec<FixEntry> {
    let mut entries: Vec<FixEntry> = Vec::new();
    let mut version = String::new();
    let mut upstream = String::new();
    for (row, line) in text.lines().enumerate() {
        if let Some(rest) = line.strip_prefix("linux (") {
            version = rest.split(')').next().unwrap_or_default().to_string();
            upstream.clear();
            continue;
        }
        if let Some(at) = line.find("ChangeLog-") {
            upstream = line[at + "ChangeLog-".len()..].trim().to_string();
            continue;
        }
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        let starts_entry = (indent == 4 && trimmed.starts_with("- ")) || (indent == 2 && trimmed.starts_with("* "));
        if starts_entry {
            let subject = trimmed[2..].trim().to_string();
            if subject.starts_with("New upstream stable update") {
                continue;
            }
            entries.push(FixEntry {
                source: SOURCES[0],
                line: row as u32 + 1,
                subject,
                detail: format!("linux {version} (upstream {upstream})"),
                tags: Vec::new(),
                files: Vec::new(),
            });
        } else if indent >= 6 && !trimmed.is_empty() {
            if let Some(last) = entries.last_mut() {
                if last.line as usize + 4 > row {
                    last.subject.push(' ');
                    last.subject.push_str(trimmed);
                }
            }
        }
    }
    for entry in &mut entries {
        entry.tags = cve_ids(&entry.subject);
        entry.tags.push(entry.detail.split_whitespace().nth(1).unwrap_or_default().to_string());
        if let Some((prefix, _)) = entry.subject.rsplit_once(": ") {
            entry.files.push(prefix.trim_start_matches('[').replace(['[', ']'], " "));
        }
    }
    entries
}

/// Fix commits from `git log`: subject, `Fixes:` trailer, files, and the head of the diff.
fn git_fixes(root: &Path) -> Result<Vec<FixEntry>> {
    let output = Command::new("git")
        .arg("-C")
        .arg(root)
        .args([
            "log",
            "--no-merges",
            "-i",
            "--grep=^Fixes:",
            "--grep=fix",
            "--format=%x1e%H%x1f%s%x1f%b%x1f",
            "-p",
            "--stat",
        ])
        .arg(format!("-n{MAX_GIT_FIXES}"))
        .output()
        .context("running git log")?;
    if !output.status.success() {
        return Ok(Vec::new()); // not a usable checkout (shallow, corrupt): no history, no error
    }
    let text = String::from_utf8_lossy(&output.stdout);
    Ok(parse_git_log(&text))
}

/// Parses the record-separated output of [`git_fixes`].
pub fn parse_git_log(text: &str) -> Vec<FixEntry> {
    let mut entries = Vec::new();
    for record in text.split('\x1e').filter(|record| !record.trim().is_empty()) {
        let mut parts = record.splitn(4, '\x1f');
        let (Some(commit), Some(subject), Some(body)) = (parts.next(), parts.next(), parts.next()) else { continue };
        let patch = parts.next().unwrap_or_default();
        let fixes: Vec<&str> = body.lines().filter(|line| line.starts_with("Fixes:")).collect();
        let files: Vec<String> = patch
            .lines()
            .filter_map(|line| line.strip_prefix("+++ b/").or_else(|| line.strip_prefix("--- a/")))
            .map(str::to_string)
            .fold(Vec::new(), |mut files, file| {
                if !files.contains(&file) {
                    files.push(file);
                }
                files
            });
        let diff_start = patch.find("diff --git").unwrap_or(patch.len());
        let mut diff_end = (diff_start + MAX_DIFF_BYTES).min(patch.len());
        while !patch.is_char_boundary(diff_end) {
            diff_end -= 1;
        }
        let mut tags = vec![commit.chars().take(12).collect::<String>()];
        tags.extend(cve_ids(body));
        entries.push(FixEntry {
            source: SOURCES[1],
            line: 0,
            subject: subject.to_string(),
            detail: format!("commit {commit}\n{}\n{}", fixes.join("\n"), &patch[diff_start..diff_end]),
            tags,
            files,
        });
    }
    entries
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stable_update_entries_with_cves() {
        let text = "\
linux (6.1.1-1) bookworm; urgency=high

  * New upstream stable update:
    https://www.kernel.org/pub/linux/kernel/v6.x/ChangeLog-6.1.1
    - bpf: fix a verifier bug
    - net: sched: fix use-after-free in qdisc
      (CVE-2023-1234)
  * [x86] Enable FOO

 -- Someone <a@b>  Mon, 1 Jan 2024 00:00:00 +0000
";
        let entries = parse_debian_changelog(text);
        assert_eq!(entries.len(), 3);
        assert_eq!(entries[1].subject, "net: sched: fix use-after-free in qdisc (CVE-2023-1234)");
        assert_eq!(entries[1].line, 6);
        assert_eq!(entries[1].tags, ["CVE-2023-1234", "6.1.1-1"]);
        assert_eq!(entries[1].files, ["net: sched"]);
        assert!(entries[0].detail.contains("6.1.1"));
    }

    #[test]
    fn parses_git_records() {
        let text = "\x1eabc123\x1fmm: fix leak\x1fFixes: 0123 (\"mm: add\")\n\x1f\n foo.c | 1 +\ndiff --git a/mm/foo.c b/mm/foo.c\n--- a/mm/foo.c\n+++ b/mm/foo.c\n";
        let entries = parse_git_log(text);
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].files, ["mm/foo.c"]);
        assert!(entries[0].detail.contains("Fixes: 0123"));
    }
}
