//! The layers of the kernel and of `kingly-bpf`, enforced: the module import graph of each crate
//! has no cycle, and its top-level modules only import downward in the order declared here.
//!
//! The graph is read from the sources: every `use` tree and every `crate::`/`super::`/`self::`
//! path outside comments and strings, and every call of a crate macro (`kprintln!` is a
//! dependency on `platform::log`). A reference from file `a/b/c.rs` to module `a/d` is an edge
//! `b → d` among the children of `a`; cycles are looked for among the children of every module,
//! so a cycle between files shows up at the level where their paths part. (A child naming an
//! item of its parent's `mod.rs` is not an edge: `mod.rs` files declare modules and hold little.)
//!
//! A module below that needs something from above takes it as an argument, a trait object or a
//! registered function (the exception handler is given to `arch::aarch64::exceptions::install`,
//! the RCU domain to `JitProgram::retire` as an `rcu::Retire`).
#![forbid(unsafe_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The kernel's top-level modules, bottom layer first. A module may import from its own layer
/// or any layer before it; the import graph must still have no cycle.
const KERNEL_LAYERS: &[&[&str]] = &[
    // Portable foundations.
    &["cpu", "bootargs", "console", "dtb", "fault", "workload"],
    &["board", "rcu", "trace"],
    &["mm", "dcache"],
    // The message port, then the agent runtime whose tools it serves.
    &["port"],
    &["agents"],
    // Bare metal: the architecture, then the platform that wires everything together.
    &["arch"],
    &["platform"],
];

/// `platform/`'s modules, bottom layer first (the order `platform/mod.rs` declares them in).
const PLATFORM_LAYERS: &[&[&str]] = &[
    &["devices", "heap", "memory", "state", "clock"],
    &["log", "uart"],
    &["virtio_port", "power", "smp"],
    &["link", "agents"],
    &["sched"],
    &["irq"],
    &["services", "ratelimit"],
    &["console"],
    &["serve"],
    &["suites"],
    &["boot"],
];

/// `kingly-bpf`'s top-level modules, bottom layer first.
const BPF_LAYERS: &[&[&str]] = &[
    &["error", "maps", "btf"],
    &["isa", "memory"],
    &["alu", "asm", "env"],
    &["disasm", "conformance", "helpers", "elf"],
    // Program types, the verifier that checks a program against one, and loading (decode,
    // verify) that makes the `VerifiedProgram` the interpreter and the JIT take.
    &["program"],
    &["verifier"],
    &["load"],
    &["interp"],
    &["hooks", "jit"],
    // Program generators for tests and benches.
    &["shapes", "testgen"],
    &["ptrgen"],
];

// ---- Reading a crate's sources ------------------------------------------------------------

/// A module path below the crate root: `["platform", "serve"]`.
type ModPath = Vec<String>;

/// Where an edge was seen: `file:line`.
type Evidence = String;

/// The sources of one crate: each file with its module path.
struct Crate {
    files: Vec<(String, ModPath, String)>,
}

impl Crate {
    fn read(src: &Path) -> Crate {
        let mut paths = Vec::new();
        sources(src, &mut paths);
        paths.sort();
        let files = paths
            .into_iter()
            .map(|path| {
                let name = path.strip_prefix(src).unwrap().to_string_lossy().replace('\\', "/");
                let text = std::fs::read_to_string(&path).unwrap();
                let module = module_of(&name);
                (name, module, text)
            })
            .collect();
        Crate { files }
    }

    /// A crate made of `(file name, text)` pairs, for testing the checker itself.
    fn from_texts(texts: &[(&str, &str)]) -> Crate {
        let files = texts.iter().map(|(name, text)| (name.to_string(), module_of(name), text.to_string())).collect();
        Crate { files }
    }

    fn modules(&self) -> BTreeSet<ModPath> {
        let mut modules = BTreeSet::new();
        for (_, module, _) in &self.files {
            for depth in 0..=module.len() {
                modules.insert(module[..depth].to_vec());
            }
        }
        modules
    }

    /// Every module-to-module reference: `(from, to, evidence)`, with `to` cut to the longest
    /// prefix that is a module of this crate.
    fn references(&self) -> Vec<(ModPath, ModPath, Evidence)> {
        let modules = self.modules();
        let mut macros = BTreeMap::new();
        for (_, module, text) in &self.files {
            for name in macro_definitions(&tokens(text)) {
                macros.insert(name, module.clone());
            }
        }
        // `pub use` re-exports, so that `crate::Thing` counts as the module `Thing` comes from.
        let mut reexports = BTreeMap::new();
        for (_, module, text) in &self.files {
            let tokens = tokens(text);
            for i in 1..tokens.len() {
                if ident(tokens.get(i)) == Some("use") && is(tokens.get(i - 1), &Token::Ident("pub".into())) {
                    let end = (i..tokens.len()).find(|&j| is(tokens.get(j), &Token::Punct(';'))).unwrap_or(i);
                    let mut trees = Vec::new();
                    use_tree(&tokens[i + 1..end], &mut Vec::new(), &mut trees);
                    for path in trees {
                        if let (Some(name), Some(abs)) = (path.last(), resolve(&path, module, &modules)) {
                            let key: ModPath = module.iter().chain(std::iter::once(name)).cloned().collect();
                            reexports.insert(key, abs);
                        }
                    }
                }
            }
        }
        let mut found = Vec::new();
        for (name, module, text) in &self.files {
            for (path, line) in paths_named(&tokens(text), module, &modules, &macros) {
                let mut target = path;
                for _ in 0..8 {
                    let depth = (0..=target.len()).rev().find(|&d| modules.contains(&target[..d])).unwrap_or(0);
                    match reexports.get(&target[..(depth + 1).min(target.len())]) {
                        Some(source) if depth < target.len() && source != &target[..depth + 1] => {
                            target = source.iter().chain(&target[depth + 1..]).cloned().collect();
                        }
                        _ => break,
                    }
                }
                while !modules.contains(&target) {
                    target.pop();
                }
                found.push((module.clone(), target, format!("{name}:{line}")));
            }
        }
        found
    }

    /// The import graph among the children of every module: parent → (from child → to child).
    fn graphs(&self) -> BTreeMap<ModPath, Graph> {
        let mut graphs: BTreeMap<ModPath, Graph> = BTreeMap::new();
        for (from, to, evidence) in self.references() {
            let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
            if common < from.len() && common < to.len() {
                let graph = graphs.entry(from[..common].to_vec()).or_default();
                graph.add(&from[common], &to[common], evidence);
            }
        }
        graphs
    }
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `platform/serve.rs` → `["platform", "serve"]`; `lib.rs`, `main.rs` and `mod.rs` name their
/// directory's module.
fn module_of(file: &str) -> ModPath {
    let mut parts: Vec<String> = file.trim_end_matches(".rs").split('/').map(str::to_string).collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib" | "main")) {
        parts.pop();
    }
    parts
}

// ---- A small Rust tokenizer: identifiers, `::` and punctuation, with line numbers ----------

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Ident(String),
    PathSep,
    Punct(char),
}

/// The tokens of `text` that matter for paths, each with its line; comments, strings and
/// character literals are skipped.
fn tokens(text: &str) -> Vec<(Token, usize)> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let (mut i, mut line) = (0, 1);
    let at = |i: usize| chars.get(i).copied().unwrap_or('\0');
    while i < chars.len() {
        let c = chars[i];
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c == '/' && at(i + 1) == '/' {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && at(i + 1) == '*' {
            let mut depth = 0;
            loop {
                if i >= chars.len() {
                    break;
                }
                if chars[i] == '/' && at(i + 1) == '*' {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && at(i + 1) == '/' {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    line += usize::from(chars[i] == '\n');
                    i += 1;
                }
            }
        } else if c == 'r' && (at(i + 1) == '#' || at(i + 1) == '"') && raw_string_start(&chars, i).is_some() {
            let (hashes, body) = raw_string_start(&chars, i).unwrap();
            i = body;
            let closing: String = std::iter::once('"').chain(std::iter::repeat_n('#', hashes)).collect();
            let closing: Vec<char> = closing.chars().collect();
            while i < chars.len() && !chars[i..].starts_with(&closing) {
                line += usize::from(chars[i] == '\n');
                i += 1;
            }
            i += closing.len();
        } else if c == '"' || (c == 'b' && at(i + 1) == '"') {
            i += if c == 'b' { 2 } else { 1 };
            while i < chars.len() && chars[i] != '"' {
                line += usize::from(chars[i] == '\n');
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
        } else if c == '\'' {
            // A character literal ('x', '\n', '\u{..}') or a lifetime ('a).
            if at(i + 1) == '\\' {
                i += 2;
                while i < chars.len() && chars[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else if at(i + 2) == '\'' {
                i += 3;
            } else {
                i += 1;
            }
        } else if c.is_alphanumeric() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push((Token::Ident(chars[start..i].iter().collect()), line));
        } else if c == ':' && at(i + 1) == ':' {
            out.push((Token::PathSep, line));
            i += 2;
        } else if c == '$' {
            // `$crate` in a macro body is `crate`.
            i += 1;
        } else {
            out.push((Token::Punct(c), line));
            i += 1;
        }
    }
    out
}

/// For `r"…"`/`r#"…"#` at `i`: the number of `#`s and where the body starts.
fn raw_string_start(chars: &[char], i: usize) -> Option<(usize, usize)> {
    let mut j = i + 1;
    while chars.get(j) == Some(&'#') {
        j += 1;
    }
    (chars.get(j) == Some(&'"')).then_some((j - i - 1, j + 1))
}

fn ident(token: Option<&(Token, usize)>) -> Option<&str> {
    match token {
        Some((Token::Ident(name), _)) => Some(name),
        _ => None,
    }
}

fn is(token: Option<&(Token, usize)>, want: &Token) -> bool {
    token.is_some_and(|(t, _)| t == want)
}

/// Names defined with `macro_rules! name`.
fn macro_definitions(tokens: &[(Token, usize)]) -> Vec<String> {
    let mut names = Vec::new();
    for i in 0..tokens.len() {
        if ident(tokens.get(i)) == Some("macro_rules") && is(tokens.get(i + 1), &Token::Punct('!')) {
            if let Some(name) = ident(tokens.get(i + 2)) {
                names.push(name.to_string());
            }
        }
    }
    names
}

// ---- Paths a file names -------------------------------------------------------------------

/// The crate paths a file in module `file_module` names, resolved to absolute paths, with the
/// line of each: `use` trees, `crate::`/`super::`/`self::` paths, and calls of crate macros.
fn paths_named(
    tokens: &[(Token, usize)],
    file_module: &[String],
    modules: &BTreeSet<ModPath>,
    macros: &BTreeMap<String, ModPath>,
) -> Vec<(ModPath, usize)> {
    let mut found = Vec::new();
    // Inline modules (`mod tests { … }`) open inside this file: (name, brace depth inside it).
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0;
    let mut i = 0;
    while i < tokens.len() {
        let here: ModPath = file_module.iter().cloned().chain(inline.iter().map(|(name, _)| name.clone())).collect();
        let line = tokens[i].1;
        match &tokens[i].0 {
            Token::Punct('{') => {
                depth += 1;
                i += 1;
            }
            Token::Punct('}') => {
                if inline.last().is_some_and(|(_, d)| *d == depth) {
                    inline.pop();
                }
                depth -= 1;
                i += 1;
            }
            Token::Ident(word) if word == "mod" && is(tokens.get(i + 2), &Token::Punct('{')) => {
                inline.push((ident(tokens.get(i + 1)).unwrap_or("").to_string(), depth + 1));
                i += 2;
            }
            Token::Ident(word) if word == "use" => {
                let end = (i..tokens.len()).find(|&j| is(tokens.get(j), &Token::Punct(';'))).unwrap_or(tokens.len());
                let mut trees = Vec::new();
                use_tree(&tokens[i + 1..end], &mut Vec::new(), &mut trees);
                for path in trees {
                    if let Some(abs) = resolve(&path, &here, modules) {
                        found.push((abs, line));
                    }
                }
                i = end;
            }
            Token::Ident(word)
                if matches!(word.as_str(), "crate" | "super" | "self") && is(tokens.get(i + 1), &Token::PathSep) =>
            {
                let mut path = vec![word.clone()];
                let mut j = i + 1;
                while is(tokens.get(j), &Token::PathSep) {
                    match ident(tokens.get(j + 1)) {
                        Some(name) => path.push(name.to_string()),
                        None => break,
                    }
                    j += 2;
                }
                if let Some(abs) = resolve(&path, &here, modules) {
                    found.push((abs, line));
                }
                i = j;
            }
            Token::Ident(word) if is(tokens.get(i + 1), &Token::Punct('!')) && macros.contains_key(word) => {
                let called = matches!(tokens.get(i + 2), Some((Token::Punct('(' | '[' | '{'), _)));
                let defined = i > 0 && ident(tokens.get(i - 1)).is_some_and(|w| w == "macro_rules");
                if called && !defined {
                    found.push((macros[word].clone(), line));
                }
                i += 1;
            }
            _ => i += 1,
        }
    }
    found
}

/// Expands a `use` tree (the tokens between `use` and `;`) into its paths.
fn use_tree(tokens: &[(Token, usize)], prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    let mut i = 0;
    let base = prefix.len();
    while i < tokens.len() {
        match &tokens[i].0 {
            Token::Ident(name) if name == "as" => i += 2,
            Token::Ident(name) if name == "pub" => i += 1,
            Token::Ident(name) => {
                prefix.push(name.clone());
                i += 1;
            }
            Token::PathSep => i += 1,
            Token::Punct('{') => {
                let close = matching_brace(tokens, i);
                // Split the group on top-level commas.
                let mut start = i + 1;
                let mut level = 0;
                for j in i + 1..close {
                    match tokens[j].0 {
                        Token::Punct('{') => level += 1,
                        Token::Punct('}') => level -= 1,
                        Token::Punct(',') if level == 0 => {
                            use_tree(&tokens[start..j], prefix, out);
                            start = j + 1;
                        }
                        _ => {}
                    }
                }
                use_tree(&tokens[start..close], prefix, out);
                prefix.truncate(base);
                return;
            }
            _ => i += 1,
        }
    }
    if prefix.len() > base || base > 0 {
        out.push(prefix.clone());
    }
    prefix.truncate(base);
}

fn matching_brace(tokens: &[(Token, usize)], open: usize) -> usize {
    let mut level = 0;
    for (j, (token, _)) in tokens.iter().enumerate().skip(open) {
        match token {
            Token::Punct('{') => level += 1,
            Token::Punct('}') => {
                level -= 1;
                if level == 0 {
                    return j;
                }
            }
            _ => {}
        }
    }
    tokens.len()
}

/// The absolute path of `path` named in module `here`, or `None` when it leaves the crate.
/// A `use` path starting with a child module's name (`use irq::handle;` in `platform/mod.rs`)
/// is relative to `here`.
fn resolve(path: &[String], here: &[String], modules: &BTreeSet<ModPath>) -> Option<ModPath> {
    let first = path.first()?;
    match first.as_str() {
        "crate" => Some(path[1..].to_vec()),
        "self" => Some(here.iter().chain(&path[1..]).cloned().collect()),
        "super" => {
            let ups = path.iter().take_while(|s| *s == "super").count();
            let base = here.get(..here.len().checked_sub(ups)?)?;
            Some(base.iter().chain(&path[ups..]).cloned().collect())
        }
        _ => {
            let child: ModPath = here.iter().chain(std::iter::once(first)).cloned().collect();
            modules.contains(&child).then(|| here.iter().chain(path).cloned().collect())
        }
    }
}

// ---- The graph ----------------------------------------------------------------------------

/// Import edges among sibling modules, each with the first place it was seen.
#[derive(Default, Debug)]
struct Graph {
    edges: BTreeMap<String, BTreeMap<String, Evidence>>,
}

impl Graph {
    fn add(&mut self, from: &str, to: &str, evidence: Evidence) {
        self.edges.entry(from.to_string()).or_default().entry(to.to_string()).or_insert(evidence);
        self.edges.entry(to.to_string()).or_default();
    }

    /// Each cycle found (one per strongly connected part), as the modules around it with the
    /// place each edge was seen, `a → b → … → a`.
    fn cycles(&self) -> Vec<Vec<(String, Evidence)>> {
        let mut cycles = Vec::new();
        let mut in_cycle = BTreeSet::new();
        for start in self.edges.keys() {
            if in_cycle.contains(start) {
                continue;
            }
            if let Some(cycle) = self.shortest_cycle_through(start) {
                in_cycle.extend(cycle.iter().map(|(m, _)| m.clone()));
                cycles.push(cycle);
            }
        }
        cycles
    }

    /// Breadth-first from `start`'s successors back to `start`.
    fn shortest_cycle_through(&self, start: &str) -> Option<Vec<(String, Evidence)>> {
        let mut parent: BTreeMap<&str, &str> = BTreeMap::new();
        let mut queue = std::collections::VecDeque::from([start]);
        while let Some(node) = queue.pop_front() {
            for next in self.edges[node].keys() {
                if next == start {
                    let mut walk = vec![node];
                    while let Some(p) = parent.get(walk.last().unwrap()) {
                        walk.push(p);
                    }
                    walk.reverse();
                    walk.push(start);
                    return Some(walk.windows(2).map(|w| (w[0].to_string(), self.edges[w[0]][w[1]].clone())).collect());
                }
                if next != start && !parent.contains_key(next.as_str()) {
                    parent.insert(next, node);
                    queue.push_back(next);
                }
            }
        }
        None
    }

    /// Edges that go up the declared order, and modules the order does not name.
    fn against(&self, layers: &[&[&str]]) -> Vec<String> {
        let rank = |m: &str| layers.iter().position(|layer| layer.contains(&m));
        let mut problems = Vec::new();
        for (from, tos) in &self.edges {
            let Some(from_rank) = rank(from) else {
                problems.push(format!("module `{from}` is in no declared layer"));
                continue;
            };
            for (to, evidence) in tos {
                if rank(to).is_some_and(|to_rank| to_rank > from_rank) {
                    problems.push(format!("upward import {from} → {to} ({evidence})"));
                }
            }
        }
        problems
    }
}

fn describe(parent: &[String], cycle: &[(String, Evidence)]) -> String {
    let at = if parent.is_empty() { "crate root".to_string() } else { parent.join("::") };
    let steps: Vec<String> = cycle.iter().map(|(m, e)| format!("{m} ({e})")).collect();
    format!("among the children of {at}: {} → {}", steps.join(" → "), cycle[0].0)
}

/// Every cycle in `krate`, and every upward edge against the layers declared for a module
/// (`(module path, layers)`; the empty path is the crate root).
fn check(krate: &Crate, declared: &[(&[&str], &[&[&str]])]) -> Vec<String> {
    let graphs = krate.graphs();
    let mut problems = Vec::new();
    for (parent, graph) in &graphs {
        for cycle in graph.cycles() {
            problems.push(format!("cycle {}", describe(parent, &cycle)));
        }
    }
    for (module, layers) in declared {
        let path: ModPath = module.iter().map(|s| s.to_string()).collect();
        if let Some(graph) = graphs.get(&path) {
            let inside = if path.is_empty() { String::new() } else { format!(" in {}", path.join("::")) };
            problems.extend(graph.against(layers).into_iter().map(|p| format!("{p}{inside}")));
        }
    }
    problems
}

fn crate_src(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

// ---- The checks ---------------------------------------------------------------------------

#[test]
fn kernel_import_graph_has_no_cycle_and_points_down() {
    let problems = check(&Crate::read(&crate_src("src")), &[(&[], KERNEL_LAYERS), (&["platform"], PLATFORM_LAYERS)]);
    assert!(problems.is_empty(), "kernel layering:\n{}", problems.join("\n"));
}

#[test]
fn bpf_import_graph_has_no_cycle_and_points_down() {
    let problems = check(&Crate::read(&crate_src("../bpf/src")), &[(&[], BPF_LAYERS)]);
    assert!(problems.is_empty(), "kingly-bpf layering:\n{}", problems.join("\n"));
}

#[test]
fn portable_modules_name_no_architecture_code() {
    // On top of the layer order: nothing below `arch` names it, even through a re-export.
    let krate = Crate::read(&crate_src("src"));
    let arch_rank = KERNEL_LAYERS.iter().position(|layer| layer.contains(&"arch")).unwrap();
    let below: Vec<&str> = KERNEL_LAYERS[..arch_rank].iter().flat_map(|l| l.iter().copied()).collect();
    let found: Vec<String> = krate
        .references()
        .into_iter()
        .filter(|(from, to, _)| {
            from.first().is_some_and(|m| below.contains(&m.as_str())) && to.first().is_some_and(|m| m == "arch")
        })
        .map(|(_, _, evidence)| evidence)
        .collect();
    assert!(found.is_empty(), "portable modules naming arch: {found:#?}");
}

// ---- The checker checked: it must see what it looks for -----------------------------------

#[test]
fn the_checker_finds_a_planted_cycle() {
    let mut graph = Graph::default();
    graph.add("a", "b", "a.rs:1".into());
    graph.add("b", "c", "b.rs:2".into());
    graph.add("c", "a", "c.rs:3".into());
    graph.add("c", "d", "c.rs:4".into());
    let cycles = graph.cycles();
    assert_eq!(cycles.len(), 1, "{cycles:?}");
    let around: BTreeSet<&str> = cycles[0].iter().map(|(m, _)| m.as_str()).collect();
    assert_eq!(around, BTreeSet::from(["a", "b", "c"]));
    graph.edges.get_mut("c").unwrap().remove("a");
    assert!(graph.cycles().is_empty());
}

#[test]
fn the_checker_reads_imports_from_source() {
    let krate = Crate::from_texts(&[
        ("lib.rs", "pub mod low; pub mod high; pub mod util;"),
        ("low/mod.rs", "//! Low.\npub mod a; pub mod b;\npub use a::Thing;"),
        // A cycle between two files of `low`, one edge through a grouped `use`, one through a path.
        ("low/a.rs", "use super::{b::{self, Other}, c};\n// use crate::high::Nope;\nfn f() {}"),
        ("low/b.rs", "fn g() { let s = \"crate::high::x\"; super::a::f(); }"),
        // An upward import, reached through a macro defined above.
        ("high/mod.rs", "#[macro_export] macro_rules! say { () => { $crate::high::speak() } }\npub fn speak() {}"),
        ("util.rs", "fn h() { say!(); }\n#[cfg(test)] mod tests { use super::h; }"),
    ]);
    let problems = check(&krate, &[(&[], &[&["util", "low"], &["high"]])]);
    let cycle = problems.iter().find(|p| p.starts_with("cycle")).expect("the cycle a ↔ b");
    assert!(
        cycle.contains("among the children of low") && cycle.contains("low/a.rs:1") && cycle.contains("low/b.rs:1")
    );
    assert!(problems.iter().any(|p| p.contains("upward import util → high (util.rs:1)")), "{problems:#?}");
    // The comment and the string named `high` but are not imports.
    assert!(!problems.iter().any(|p| p.contains("low → high")), "{problems:#?}");
    assert_eq!(problems.len(), 2, "{problems:#?}");
    // Undeclared modules are refused, so a new module must be placed in a layer.
    assert!(check(&krate, &[(&[], &[&["low"], &["high"]])])
        .iter()
        .any(|p| p.contains("`util` is in no declared layer")));
}
