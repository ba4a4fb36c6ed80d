//! Disassembles the aarch64 (Cortex-A72, ARMv8.0) build of the L1 hit function,
//! `Front::l1_lookup`, and fails if it contains an exclusive access, an atomic RMW or a barrier:
//! the hit path must cost loads only.
//!
//! Builds `kingly-kernel --lib --release --target aarch64-unknown-none` into its own target
//! directory (`<target>/l1-disasm`) and runs `llvm-objdump` from rustup's `llvm-tools`
//! (falling back to `llvm-objdump[-NN]` on `PATH`, or `$LLVM_OBJDUMP`).

use std::path::{Path, PathBuf};
use std::process::Command;

const FORBIDDEN: &[&str] = &[
    "ldxr", "ldxp", "stxr", "stxp", "ldaxr", "ldaxp", "stlxr", "stlxp", "cas", "ldadd", "ldclr", "ldeor", "ldset",
    "ldsmax", "ldsmin", "ldumax", "ldumin", "swp", "dmb", "dsb", "isb",
];

fn target_dir() -> PathBuf {
    let base = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    base.join("l1-disasm")
}

fn objdump() -> PathBuf {
    if let Some(path) = std::env::var_os("LLVM_OBJDUMP") {
        return PathBuf::from(path);
    }
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let sysroot = Command::new(&rustc).args(["--print", "sysroot"]).output().ok();
    let host = Command::new(&rustc).arg("-vV").output().ok().and_then(|output| {
        String::from_utf8_lossy(&output.stdout).lines().find_map(|line| line.strip_prefix("host: ").map(str::to_owned))
    });
    if let (Some(sysroot), Some(host)) = (sysroot, host) {
        let sysroot = String::from_utf8_lossy(&sysroot.stdout).trim().to_owned();
        let candidate = Path::new(&sysroot).join("lib/rustlib").join(host).join("bin/llvm-objdump");
        if candidate.exists() {
            return candidate;
        }
    }
    for name in ["llvm-objdump", "llvm-objdump-20", "llvm-objdump-19", "llvm-objdump-18", "llvm-objdump-14"] {
        if Command::new(name).arg("--version").output().is_ok_and(|o| o.status.success()) {
            return PathBuf::from(name);
        }
    }
    panic!("no llvm-objdump: `rustup component add llvm-tools` or install llvm");
}

/// The instructions of every function whose demangled name contains `name`.
fn functions<'a>(listing: &'a str, name: &str) -> Vec<(&'a str, Vec<&'a str>)> {
    let mut found = Vec::new();
    let mut current: Option<(&str, Vec<&str>)> = None;
    for line in listing.lines() {
        if line.ends_with(">:") {
            if let Some(done) = current.take() {
                found.push(done);
            }
            if line.contains(name) {
                current = Some((line, Vec::new()));
            }
        } else if let Some((_, body)) = current.as_mut() {
            // "      58:      \tldar\tx18, [x14]"
            if let Some(mnemonic) = line.split('\t').nth(1) {
                body.push(mnemonic.trim());
            }
        }
    }
    found.extend(current);
    found
}

fn offending<'a>(body: &[&'a str]) -> Vec<&'a str> {
    body.iter().copied().filter(|mnemonic| FORBIDDEN.iter().any(|bad| mnemonic.starts_with(bad))).collect()
}

#[test]
fn l1_hit_path_has_no_rmw_and_no_barrier_on_aarch64() {
    let target = target_dir();
    let status = Command::new(env!("CARGO"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["build", "-p", "kingly-kernel", "--lib", "--release", "--target", "aarch64-unknown-none"])
        .env("CARGO_TARGET_DIR", &target)
        .status()
        .expect("run cargo");
    assert!(status.success(), "building the aarch64 kernel library failed");
    let rlib = target.join("aarch64-unknown-none/release/libkingly_kernel.rlib");
    let output =
        Command::new(objdump()).args(["-d", "-C", "--no-show-raw-insn"]).arg(&rlib).output().expect("run llvm-objdump");
    assert!(output.status.success(), "llvm-objdump failed: {}", String::from_utf8_lossy(&output.stderr));
    let listing = String::from_utf8_lossy(&output.stdout);

    // The hit function, and the out-of-line long-key probe it tail-calls.
    for name in ["dcache::front::Front::l1_lookup", "dcache::l1::L1::lookup_long"] {
        let hits = functions(&listing, name);
        assert_eq!(hits.len(), 1, "expected one {name} symbol");
        let (symbol, body) = &hits[0];
        assert!(body.len() > 20, "{symbol} looks empty: {body:?}");
        assert!(body.iter().any(|m| m.starts_with("ldar")), "{symbol}: seqlock acquire loads missing");
        let bad = offending(body);
        assert!(bad.is_empty(), "{symbol} contains {bad:?}:\n{}", body.join("\n"));
    }

    // The scanner itself works: the fill path (a seqlock writer) has its release barrier.
    let fills = functions(&listing, "dcache::front::Front::fill");
    assert!(
        fills.iter().any(|(_, body)| offending(body).contains(&"dmb")),
        "the scanner should see the fill path's dmb"
    );
}
