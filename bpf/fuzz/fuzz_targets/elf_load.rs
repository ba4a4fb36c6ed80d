//! Fuzz the ELF loader and its BTF decoder: no object, however broken, may panic or hang it.
//! Seed the corpus with real clang objects (e.g. `clang-14 -target bpf -O2 -g -c
//! bpf/tests/c/btf_maps.c -o corpus/elf_load/btf_maps.o`) so mutations reach `.BTF`.
//!
//! `cargo +nightly fuzz run elf_load` from `bpf/`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = kingly_bpf::elf::load(data);
});
