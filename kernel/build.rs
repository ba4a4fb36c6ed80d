//! Picks the linker script for the selected board when building the bare-metal kernel.
use std::env;

fn main() {
    let target_os = env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let raspi4b = env::var_os("CARGO_FEATURE_BOARD_RASPI4B").is_some();
    let virt = env::var_os("CARGO_FEATURE_BOARD_VIRT").is_some();
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=KINGLY_PUBKEY");
    if target_os != "none" {
        return;
    }
    let board = match (raspi4b, virt) {
        (_, true) => "virt",
        (true, false) => "raspi4b",
        (false, false) => panic!("select a board: --features board-raspi4b or board-virt"),
    };
    let linker_dir =
        std::path::Path::new(&env::var("CARGO_MANIFEST_DIR").unwrap()).join("../linker");
    let linker_dir = linker_dir
        .canonicalize()
        .expect("linker/ directory next to kernel/");
    for f in ["kernel.ld", "raspi4b.ld", "virt.ld"] {
        println!("cargo:rerun-if-changed={}", linker_dir.join(f).display());
    }
    println!("cargo:rustc-link-arg-bins=-L{}", linker_dir.display());
    println!("cargo:rustc-link-arg-bins=-T{board}.ld");
}
