//! Kingly kernel binary (skeleton).
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("kingly-kernel runs on bare metal: build it with `cargo kernel` and boot it with `cargo kingly boot`");
}
