//! The kernel's layers, enforced: `platform/` (the bare-metal glue: boot, interrupts, the
//! scheduler, the port's services) sits on top and nothing below names it; the portable
//! modules (agents, dcache, rcu, port, trace, …, unit-tested on the host) name no `arch`
//! code either. A module below that needs something from above takes it as an argument or a
//! registered function (the exception handler is given to `arch::aarch64::exceptions::install`,
//! the RCU domain to `JitProgram::retire`).

use std::path::{Path, PathBuf};

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

/// `(file relative to src/, line number, line)` of every code line (comments skipped) that
/// names `word` in a file `selected` keeps.
fn naming(word: &str, selected: impl Fn(&str) -> bool) -> Vec<(String, usize, String)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut found = Vec::new();
    for file in files {
        let name = file.strip_prefix(&src).unwrap().to_string_lossy().replace('\\', "/");
        if !selected(&name) {
            continue;
        }
        for (n, line) in std::fs::read_to_string(&file).unwrap().lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            if code.contains(word) {
                found.push((name.clone(), n + 1, line.trim().to_string()));
            }
        }
    }
    found
}

#[test]
fn nothing_below_the_platform_layer_names_it() {
    let upward = naming("platform::", |f| !f.starts_with("platform/") && f != "main.rs");
    assert!(upward.is_empty(), "upward imports into platform/: {upward:#?}");
}

#[test]
fn portable_modules_name_no_architecture_code() {
    let portable = |f: &str| !f.starts_with("platform/") && !f.starts_with("arch/") && f != "main.rs";
    let found = naming("arch::", portable);
    assert!(found.is_empty(), "portable modules naming arch: {found:#?}");
}

#[test]
fn the_check_sees_a_violation() {
    // The scan itself must find what it looks for: platform/ names arch, by design.
    assert!(!naming("arch::", |f| f.starts_with("platform/")).is_empty());
}
