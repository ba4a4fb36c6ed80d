//! The Kingly kernel binary: the library's `platform` module holds the entry points
//! (`kingly_main`, `kingly_secondary_main`), the boot crate the entry assembly.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
use kingly_boot as _;
#[cfg(target_os = "none")]
use kingly_kernel as _;

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("kingly-kernel runs on bare metal: build it with `cargo kernel`, boot it with `cargo kingly boot`");
}
