//! Links the bare-metal loader with `linker/loader.ld`.
use std::env;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if env::var("CARGO_CFG_TARGET_OS").unwrap_or_default() != "none" {
        return;
    }
    let linker_dir = std::path::Path::new(&env::var("CARGO_MANIFEST_DIR").unwrap()).join("../linker");
    let linker_dir = linker_dir.canonicalize().expect("linker/ directory next to loader/");
    println!("cargo:rerun-if-changed={}", linker_dir.join("loader.ld").display());
    println!("cargo:rustc-link-arg-bins=-T{}", linker_dir.join("loader.ld").display());
}
