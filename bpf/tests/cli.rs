//! Builds and tests the `kingly bpf` command module (host-tools/src/bpf_cli.rs) against this
//! crate, so it is checked even before the host tool wires it in. Its tests compile
//! bpf/tests/c/*.c with clang-14 (sections.c has one program per type, typed by `SEC()`).

#[path = "../../host-tools/src/bpf_cli.rs"]
mod bpf_cli;
