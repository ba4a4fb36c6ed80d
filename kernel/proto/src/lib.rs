//! Kingly's wire protocol, shared by the kernel and the host.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;
