//! `kingly bpf …`: assemble, disassemble, verify, run and test eBPF programs. Being written: issue 3.
