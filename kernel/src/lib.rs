//! Kingly kernel library (skeleton; being filled in).
#![cfg_attr(target_os = "none", no_std)]
#![deny(unsafe_code)]

extern crate alloc;

pub mod cpu;
pub mod dcache;
pub mod rcu;
