//! Kingly's eBPF runtime: RFC 9669 instruction set, verifier and interpreter.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;
