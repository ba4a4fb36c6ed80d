//! Picks the linker script for the selected board when building the bare-metal kernel.
use std::env;

fn main() {
    let target_os = env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let raspi4b = env::var_os("CARGO_FEATURE_BOARD_RASPI4B").is_some();
    let virt = env::var_os("CARGO_FEATURE_BOARD_VIRT").is_some();
    let pi5 = env::var_os("CARGO_FEATURE_BOARD_PI5").is_some();
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=KINGLY_PUBKEY");
    let hash = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=KINGLY_BUILD_HASH={hash}");
    // The Ed25519 key that signs bpf_load requests (`kingly boot` passes the user's key).
    let pubkey = env::var("KINGLY_PUBKEY").unwrap_or_default();
    let pubkey = pubkey.trim();
    if !pubkey.is_empty() && (pubkey.len() != 64 || !pubkey.bytes().all(|b| b.is_ascii_hexdigit())) {
        panic!("KINGLY_PUBKEY must be 64 hex digits (an Ed25519 public key); got {pubkey:?}");
    }
    println!("cargo:rustc-env=KINGLY_PUBKEY_HEX={pubkey}");
    for git_file in ["../.git/HEAD", "../.git/refs/heads"] {
        if std::path::Path::new(git_file).exists() {
            println!("cargo:rerun-if-changed={git_file}");
        }
    }
    if env::var_os("CARGO_FEATURE_SUITES").is_some() {
        embed_bpf_conformance();
    }
    if target_os != "none" {
        return;
    }
    // The default feature (raspi4b) stays on unless --no-default-features: the other boards win.
    // `platform::boot` picks its board table in the same order.
    let board = match (raspi4b, virt, pi5) {
        (_, true, _) => "virt",
        (_, false, true) => "pi5",
        (true, false, false) => "raspi4b",
        (false, false, false) => panic!("select a board: --features board-raspi4b, board-pi5 or board-virt"),
    };
    let linker_dir = std::path::Path::new(&env::var("CARGO_MANIFEST_DIR").unwrap()).join("../linker");
    let linker_dir = linker_dir.canonicalize().expect("linker/ directory next to kernel/");
    for f in ["kernel.ld", "raspi4b.ld", "pi5.ld", "virt.ld"] {
        println!("cargo:rerun-if-changed={}", linker_dir.join(f).display());
    }
    println!("cargo:rustc-link-arg-bins=-L{}", linker_dir.display());
    println!("cargo:rustc-link-arg-bins=-T{board}.ld");
}

/// Writes `$OUT_DIR/bpf_conformance.rs`: the bpf_conformance suite's `tests/*.data`, read in
/// place from `../shared` (next to the repository) with `include_str!`, for the in-kernel
/// `bpf-jit-conformance` suite. Nothing is copied into the repository. Without the directory
/// the list is empty and the suite says where it looked.
fn embed_bpf_conformance() {
    let manifest = std::path::PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let dir = manifest.join("../../shared/conformance/bpf_conformance/tests");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(&dir)
        .map(|entries| entries.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|x| x == "data"));
    files.sort();
    let mut out = String::from("/// (file name, text) of every bpf_conformance test, embedded at build time.\n");
    out.push_str("pub static TESTS: &[(&str, &str)] = &[\n");
    for file in &files {
        let name = file.file_name().unwrap().to_string_lossy();
        out.push_str(&format!(
            "    ({name:?}, include_str!({:?})),\n",
            file.canonicalize().unwrap().display().to_string()
        ));
    }
    out.push_str("];\n");
    out.push_str(&format!(
        "/// Where the build looked for the tests.\npub const SOURCE_DIR: &str = {:?};\n",
        dir.display().to_string()
    ));
    let out_path = std::path::Path::new(&env::var("OUT_DIR").unwrap()).join("bpf_conformance.rs");
    std::fs::write(out_path, out).expect("writing bpf_conformance.rs to OUT_DIR");
}
