//! File cards: one document per source file and per directory that says what it is for, so a
//! question such as "which file implements the BPF hash table map" is answered at file level.
//!
//! A card holds the path, the Kconfig prompt and help text of the symbols whose Makefile lines
//! build the file (`obj-$(CONFIG_X) += foo.o`, composite objects `foo-y += a.o` included), the
//! file's top comment, its `MODULE_DESCRIPTION`, and the names it defines. Directory cards hold
//! the Kconfig text of the symbol that builds the directory (`obj-$(CONFIG_X) += dir/`) and the
//! prompts of the files in it. Cards are built in the same pass as the chunks (see
//! [`super::index`]); [`CardContext::scan`] reads the Makefiles and Kconfig files once before it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs;
use std::path::Path;

use anyhow::{Context, Result};

use super::chunk::{Chunk, FileType};
use super::source::SourceFile;

/// Kind (in the index's `kind` field) of a file card.
pub const FILE_CARD: &str = "file";
/// Kind of a directory card.
pub const DIR_CARD: &str = "dir";
/// Most bytes of a top-of-file comment kept in a card.
const TOP_COMMENT_BYTES: usize = 1200;
/// Most bytes of one Kconfig help text kept in a card.
const HELP_BYTES: usize = 800;
/// Most names (defined functions, types, macros) listed in a card.
const MAX_NAMES: usize = 400;
/// Bytes of the stored summary: the snippet of a card hit and the text that gets embedded.
const SUMMARY_BYTES: usize = 600;

/// One Kconfig entry's words.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KconfigEntry {
    pub prompt: String,
    pub help: String,
}

/// A query that matches every card (file and directory) and nothing else; it scores nothing.
pub fn any_card(kind_field: tantivy::schema::Field) -> tantivy::query::BooleanQuery {
    use tantivy::query::{Occur, Query, TermQuery};
    let kind = |name: &str| -> (Occur, Box<dyn Query>) {
        let term = tantivy::Term::from_field_text(kind_field, name);
        (Occur::Should, Box::new(TermQuery::new(term, tantivy::schema::IndexRecordOption::Basic)))
    };
    tantivy::query::BooleanQuery::new(vec![kind(FILE_CARD), kind(DIR_CARD)])
}

/// What the cards are made from besides the file itself: which Kconfig symbols build each
/// file and directory, and what those symbols' entries say.
#[derive(Clone, Debug, Default)]
pub struct CardContext {
    /// `CONFIG_` symbol (without the prefix) → its entry; several definitions are merged.
    pub kconfig: HashMap<String, KconfigEntry>,
    /// Path of a file, or of a directory with a trailing `/`, → symbols that build it.
    pub built_by: HashMap<String, Vec<String>>,
    /// A fingerprint of every Makefile, Kbuild and Kconfig file (path, size, mtime): when it
    /// changes, every card may change.
    pub stamp: u64,
}

/// A card, ready to be indexed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Card {
    /// A file path, or a directory path ending in `/`.
    pub path: String,
    /// [`FILE_CARD`] or [`DIR_CARD`].
    pub kind: &'static str,
    /// Names the file defines, space separated.
    pub names: String,
    /// Everything indexed for BM25.
    pub text: String,
    /// A short description: path, prompt, module description, top comment.
    pub summary: String,
    pub end_line: u32,
}

impl CardContext {
    /// Reads every Makefile, Kbuild and Kconfig file under `root`. `files` are the indexed
    /// files: only objects whose source is one of them are mapped.
    pub fn scan(root: &Path, files: &[SourceFile]) -> Result<CardContext> {
        let present: HashSet<&str> = files.iter().map(|file| file.path.as_str()).collect();
        let mut context = CardContext { stamp: FNV_OFFSET, ..CardContext::default() };
        let walker = walkdir::WalkDir::new(root).sort_by_file_name().into_iter().filter_entry(|entry| {
            entry.depth() == 0 || !entry.file_name().to_str().is_some_and(|name| name.starts_with('.'))
        });
        for entry in walker {
            let entry = entry.with_context(|| format!("walking {}", root.display()))?;
            let name = entry.file_name().to_string_lossy();
            let is_make = name == "Makefile" || name == "Kbuild";
            let is_kconfig = name.starts_with("Kconfig");
            if !entry.file_type().is_file() || !(is_make || is_kconfig) {
                continue;
            }
            let Ok(relative) = entry.path().strip_prefix(root) else { continue };
            let relative = relative.to_string_lossy().replace('\\', "/");
            let metadata = entry.metadata()?;
            let modified = metadata.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok());
            let key = format!("{relative} {} {}", metadata.len(), modified.map_or(0, |d| d.as_nanos()));
            context.stamp = fnv1a_extend(context.stamp, key.as_bytes());
            let Ok(bytes) = fs::read(entry.path()) else { continue };
            let text = String::from_utf8_lossy(&bytes);
            let dir = relative.rsplit_once('/').map_or("", |(dir, _)| dir);
            if is_make {
                parse_makefile(dir, &text, &present, &mut context.built_by);
            } else {
                parse_kconfig(&text, &mut context.kconfig);
            }
        }
        Ok(context)
    }

    /// The Kconfig text of the symbols that build `path`: `CONFIG_X prompt help`, each once.
    fn kconfig_text(&self, path: &str, help: bool) -> String {
        let mut out = String::new();
        for symbol in self.built_by.get(path).into_iter().flatten() {
            out.push_str("CONFIG_");
            out.push_str(symbol);
            if let Some(entry) = self.kconfig.get(symbol) {
                out.push(' ');
                out.push_str(&entry.prompt);
                if help && !entry.help.is_empty() {
                    out.push_str(". ");
                    out.push_str(&entry.help);
                }
            }
            out.push('\n');
        }
        out
    }

    /// The card of one file, from its text and the chunks cut from it.
    pub fn file_card(&self, path: &str, src: &str, chunks: &[Chunk]) -> Card {
        let file_type = FileType::of(path);
        let mut names: Vec<&str> = Vec::new();
        let mut seen = HashSet::new();
        for chunk in chunks {
            for name in chunk.symbol.split_whitespace() {
                if names.len() < MAX_NAMES && seen.insert(name) {
                    names.push(name);
                }
            }
        }
        let heading = match file_type {
            Some(FileType::Doc) => doc_title(src),
            Some(FileType::C | FileType::Asm) => top_comment(src),
            _ => String::new(),
        };
        let description = module_description(src);
        let kconfig = self.kconfig_text(path, true);
        let prompts = self.kconfig_text(path, false);
        let path_words = path.replace(['/', '.', '-', '_'], " ");
        // The names go to the symbol field only: in the text their parts would drown the words
        // that say what the file is for.
        let text = format!("{path_words}\n{kconfig}{description}\n{heading}");
        let summary = summarise(&[path, prompts.trim(), &description, &heading]);
        let end_line = memchr::memchr_iter(b'\n', src.as_bytes()).count().max(1) as u32;
        Card { path: path.to_string(), kind: FILE_CARD, names: names.join(" "), text, summary, end_line }
    }

    /// Cards for every directory holding indexed files: the Kconfig text of the symbols that
    /// build it and the prompts and names of the files directly in it.
    pub fn dir_cards(&self, files: &[SourceFile]) -> Vec<Card> {
        let mut children: BTreeMap<String, Vec<&str>> = BTreeMap::new();
        for file in files {
            let mut path = file.path.as_str();
            let mut child = path;
            while let Some((dir, _)) = path.rsplit_once('/') {
                let entry = children.entry(format!("{dir}/")).or_default();
                // A directory lists its own files and its subdirectories' names, once.
                if entry.last() != Some(&child) {
                    entry.push(child);
                }
                child = dir;
                path = dir;
            }
        }
        children
            .into_iter()
            .map(|(dir, members)| {
                let own = self.kconfig_text(&dir, true);
                let mut files_text = String::new();
                for member in &members {
                    let name = member.rsplit('/').next().unwrap_or(member);
                    files_text.push_str(name);
                    files_text.push(' ');
                    files_text.push_str(&self.kconfig_text(member, false).replace('\n', " "));
                    files_text.push('\n');
                }
                let path_words = dir.replace(['/', '.', '-', '_'], " ");
                let text = format!("{path_words}\n{own}{files_text}");
                let summary = summarise(&[&dir, own.lines().next().unwrap_or_default(), &files_text]);
                Card { path: dir, kind: DIR_CARD, names: String::new(), text, summary, end_line: 1 }
            })
            .collect()
    }
}

/// Joins the non-empty parts with `; `, at most [`SUMMARY_BYTES`].
fn summarise(parts: &[&str]) -> String {
    let mut summary = String::new();
    for part in parts.iter().map(|part| part.trim()).filter(|part| !part.is_empty()) {
        if !summary.is_empty() {
            summary.push_str("; ");
        }
        summary.push_str(&part.split_whitespace().collect::<Vec<_>>().join(" "));
    }
    truncate(&mut summary, SUMMARY_BYTES);
    summary
}

/// Shortens `text` to at most `max_bytes`, on a character boundary.
pub(crate) fn truncate(text: &mut String, max_bytes: usize) {
    if text.len() > max_bytes {
        let mut end = max_bytes;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
}

/// The FNV-1a offset basis: the hash of nothing.
pub(crate) const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// 64-bit FNV-1a over `bytes`, continuing from `hash`.
pub(crate) fn fnv1a_extend(hash: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(hash, |hash, &byte| (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3))
}

/// Lines of a Makefile with `\` continuations joined and comments removed.
fn logical_lines(text: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or_default();
        match line.trim_end().strip_suffix('\\') {
            Some(head) => {
                current.push_str(head);
                current.push(' ');
            }
            None => {
                current.push_str(line);
                lines.push(std::mem::take(&mut current));
            }
        }
    }
    if !current.is_empty() {
        lines.push(current);
    }
    lines
}

/// Splits a Makefile assignment's left side: `obj-$(CONFIG_X)` → (`obj`, Some(`X`)),
/// `foo-y` / `foo-objs` → (`foo`, None).
fn split_target(lhs: &str) -> Option<(&str, Option<&str>)> {
    if let Some(at) = lhs.find("-$(CONFIG_") {
        let rest = &lhs[at + "-$(CONFIG_".len()..];
        let symbol = rest.split([')', ':']).next()?;
        return Some((&lhs[..at], Some(symbol)));
    }
    for suffix in ["-y", "-m", "-objs"] {
        if let Some(target) = lhs.strip_suffix(suffix) {
            return Some((target, None));
        }
    }
    None
}

/// Records which `CONFIG_` symbols build which files and subdirectories of the Makefile in `dir`.
fn parse_makefile(dir: &str, text: &str, present: &HashSet<&str>, built_by: &mut HashMap<String, Vec<String>>) {
    let prefix = if dir.is_empty() { String::new() } else { format!("{dir}/") };
    // Object name (without `.o`, relative to `dir`) → symbols; composite → its members.
    let mut objects: Vec<(String, Option<String>)> = Vec::new();
    let mut composites: HashMap<String, Vec<(String, Option<String>)>> = HashMap::new();
    for line in logical_lines(text) {
        let Some(at) = line.find('=') else { continue };
        let lhs = line[..at].trim_end_matches([':', '+', '?', ' ', '\t']).trim();
        let Some((target, symbol)) = split_target(lhs) else { continue };
        let symbol = symbol.map(str::to_string);
        for value in line[at + 1..].split_whitespace() {
            let item = if let Some(object) = value.strip_suffix(".o") {
                object.to_string()
            } else if value.ends_with('/') && target == "obj" {
                value.to_string()
            } else {
                continue;
            };
            if target == "obj" || target == "lib" {
                objects.push((item, symbol.clone()));
            } else {
                composites.entry(target.to_string()).or_default().push((item, symbol.clone()));
            }
        }
    }
    let mut record = |path: String, symbols: Vec<String>| {
        let entry = built_by.entry(path).or_default();
        for symbol in symbols {
            if !entry.contains(&symbol) {
                entry.push(symbol);
            }
        }
    };
    let source_of = |object: &str| {
        ["c", "S"].iter().map(|ext| format!("{prefix}{object}.{ext}")).find(|path| present.contains(path.as_str()))
    };
    for (object, symbol) in &objects {
        if object.ends_with('/') {
            if let Some(symbol) = symbol {
                record(format!("{prefix}{object}"), vec![symbol.clone()]);
            }
            continue;
        }
        let outer: Vec<String> = symbol.iter().cloned().collect();
        if let Some(path) = source_of(object) {
            if !outer.is_empty() {
                record(path, outer.clone());
            }
        }
        for (member, inner) in composites.get(object).into_iter().flatten() {
            let symbols: Vec<String> = outer.iter().chain(inner).cloned().collect();
            if let (false, Some(path)) = (symbols.is_empty(), source_of(member)) {
                record(path, symbols);
            }
        }
    }
}

/// Adds the `config`/`menuconfig` entries of one Kconfig file (prompt and help text).
fn parse_kconfig(text: &str, kconfig: &mut HashMap<String, KconfigEntry>) {
    let mut symbol: Option<String> = None;
    let mut entry = KconfigEntry::default();
    let mut help_indent: Option<usize> = None;
    let mut finish = |symbol: &mut Option<String>, entry: &mut KconfigEntry| {
        if let Some(name) = symbol.take() {
            let merged = kconfig.entry(name).or_default();
            if merged.prompt.is_empty() {
                merged.prompt = std::mem::take(&mut entry.prompt);
            }
            if merged.help.len() < HELP_BYTES && !entry.help.is_empty() {
                if !merged.help.is_empty() {
                    merged.help.push(' ');
                }
                merged.help.push_str(&entry.help);
                truncate(&mut merged.help, HELP_BYTES);
            }
        }
        *entry = KconfigEntry::default();
    };
    for line in text.lines() {
        let indent = line.len() - line.trim_start().len();
        let trimmed = line.trim();
        if let Some(level) = help_indent {
            if trimmed.is_empty() {
                continue;
            }
            // Help text is the lines indented deeper than the `help` keyword.
            if indent > level {
                if entry.help.len() < HELP_BYTES {
                    if !entry.help.is_empty() {
                        entry.help.push(' ');
                    }
                    entry.help.push_str(trimmed);
                }
                continue;
            }
            help_indent = None;
        }
        let mut words = trimmed.splitn(2, char::is_whitespace);
        let keyword = words.next().unwrap_or_default();
        let rest = words.next().unwrap_or_default().trim();
        match keyword {
            "config" | "menuconfig" => {
                finish(&mut symbol, &mut entry);
                symbol = Some(rest.to_string());
            }
            "help" | "---help---" if symbol.is_some() => help_indent = Some(indent),
            "bool" | "tristate" | "prompt" | "string" | "int" | "hex" if symbol.is_some() => {
                if let Some(prompt) = rest.strip_prefix('"').and_then(|r| r.split('"').next()) {
                    if entry.prompt.is_empty() {
                        entry.prompt = prompt.to_string();
                    }
                }
            }
            "menu" | "endmenu" | "choice" | "endchoice" | "if" | "endif" | "source" | "comment" => {
                finish(&mut symbol, &mut entry);
            }
            _ => {}
        }
    }
    finish(&mut symbol, &mut entry);
}

/// The first comment of a C or assembly file, without its licence, copyright and author
/// lines, at most [`TOP_COMMENT_BYTES`].
pub fn top_comment(src: &str) -> String {
    let mut out = String::new();
    let mut in_block = false;
    let mut started = false;
    for (row, line) in src.lines().enumerate() {
        let trimmed = line.trim();
        let body = if in_block {
            if let Some(at) = trimmed.find("*/") {
                in_block = false;
                &trimmed[..at]
            } else {
                trimmed
            }
        } else if let Some(rest) = trimmed.strip_prefix("/*") {
            started = true;
            match rest.find("*/") {
                Some(at) => &rest[..at],
                None => {
                    in_block = true;
                    rest
                }
            }
        } else if let Some(rest) = trimmed.strip_prefix("//") {
            started = true;
            rest
        } else if trimmed.is_empty() || trimmed.starts_with("#include") && !started {
            if started && out.len() > 40 {
                break;
            }
            continue;
        } else {
            // Code before any comment: no top comment; code after one: the comment is over.
            if started || row > 40 {
                break;
            }
            continue;
        };
        let body = body.trim_start_matches(['*', '!', ' ', '\t']).trim();
        let lowered = body.to_ascii_lowercase();
        let boilerplate = ["spdx-license", "copyright", "(c)", "license", "@", "author", "written by", "gpl"]
            .iter()
            .any(|word| lowered.contains(word));
        if !body.is_empty() && !boilerplate {
            out.push_str(body);
            out.push(' ');
        }
        if out.len() >= TOP_COMMENT_BYTES {
            break;
        }
    }
    truncate(&mut out, TOP_COMMENT_BYTES);
    out.trim_end().to_string()
}

/// The title of a documentation file: its first line that is text, not markup.
pub fn doc_title(src: &str) -> String {
    src.lines()
        .map(str::trim)
        .find(|line| {
            !line.is_empty()
                && !line.starts_with("..")
                && !line.starts_with(':')
                && !line.chars().all(|c| "=-~*#^+_`'\".:".contains(c))
                && !line.to_ascii_lowercase().contains("spdx-license")
        })
        .unwrap_or_default()
        .to_string()
}

/// The strings of `MODULE_DESCRIPTION("…")`, joined.
pub fn module_description(src: &str) -> String {
    let mut out = String::new();
    for (at, _) in src.match_indices("MODULE_DESCRIPTION(") {
        let rest = &src[at + "MODULE_DESCRIPTION(".len()..];
        let call = &rest[..rest.find(')').unwrap_or(rest.len()).min(400)];
        // Adjacent literals ("a" "b") are one string; only the quoted parts are kept.
        for (index, part) in call.split('"').enumerate() {
            if index % 2 == 1 {
                out.push_str(part);
            }
        }
        out.push(' ');
    }
    out.trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn present(paths: &[&'static str]) -> HashSet<&'static str> {
        paths.iter().copied().collect()
    }

    #[test]
    fn makefile_objects_composites_and_directories() {
        let make = "obj-$(CONFIG_BPF_SYSCALL) += syscall.o hashtab.o \\\n\tarraymap.o\nobj-y += core.o\n\
                    obj-$(CONFIG_TOY_JIT) += toyjit.o # the JIT\ntoyjit-y := jit_main.o\n\
                    toyjit-$(CONFIG_TOY_JIT_DEBUG) += jit_debug.o\nobj-$(CONFIG_TOY_NET) += net/\n";
        let files = present(&[
            "kernel/bpf/syscall.c",
            "kernel/bpf/hashtab.c",
            "kernel/bpf/arraymap.c",
            "kernel/bpf/core.c",
            "kernel/bpf/jit_main.c",
            "kernel/bpf/jit_debug.S",
        ]);
        let mut built_by = HashMap::new();
        parse_makefile("kernel/bpf", make, &files, &mut built_by);
        let get = |path: &str| built_by.get(path).cloned().unwrap_or_default();
        assert_eq!(get("kernel/bpf/hashtab.c"), ["BPF_SYSCALL"]);
        assert_eq!(get("kernel/bpf/arraymap.c"), ["BPF_SYSCALL"], "continuation line");
        assert!(get("kernel/bpf/core.c").is_empty(), "obj-y names no symbol");
        assert_eq!(get("kernel/bpf/jit_main.c"), ["TOY_JIT"]);
        assert_eq!(get("kernel/bpf/jit_debug.S"), ["TOY_JIT", "TOY_JIT_DEBUG"]);
        assert_eq!(get("kernel/bpf/net/"), ["TOY_NET"]);
    }

    #[test]
    fn kconfig_prompt_and_help() {
        let kconfig = "menu \"Toys\"\nconfig TOY_JIT\n\tbool \"Toy JIT compiler\"\n\tdepends on X\n\thelp\n\t  Compiles toy\n\t  programs.\n\n\t  Say Y.\n\nconfig TOY_NET\n\ttristate\n\tprompt \"Toy net\"\nendmenu\n";
        let mut entries = HashMap::new();
        parse_kconfig(kconfig, &mut entries);
        assert_eq!(
            entries["TOY_JIT"],
            KconfigEntry { prompt: "Toy JIT compiler".into(), help: "Compiles toy programs. Say Y.".into() }
        );
        assert_eq!(entries["TOY_NET"].prompt, "Toy net");
        assert!(entries["TOY_NET"].help.is_empty());
    }

    #[test]
    fn top_comment_skips_licence_and_copyright() {
        let src = "// SPDX-License-Identifier: GPL-2.0-only\n/*\n * Copyright (C) 2099 Toy Corp.\n *\n * Toy hash table map: buckets of elements.\n * Author: Someone <a@b.c>\n */\n#include <linux/bpf.h>\nint x;\n/* later */\n";
        assert_eq!(top_comment(src), "Toy hash table map: buckets of elements.");
        assert_eq!(top_comment("int x;\n"), "");
    }

    #[test]
    fn module_description_and_doc_title() {
        assert_eq!(module_description("MODULE_DESCRIPTION(\"Toy \"\n\t\"driver\");\n"), "Toy driver");
        assert_eq!(doc_title(".. SPDX-License-Identifier: GPL-2.0\n\n=====\nWhat is RCU?\n=====\n"), "What is RCU?");
    }
}
