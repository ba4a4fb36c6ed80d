//! Architecture support. Only AArch64 exists; this is the only place (with the platform
//! glue, the heap and the drivers crate) where `unsafe` is allowed.

#[cfg(all(target_arch = "aarch64", target_os = "none"))]
pub mod aarch64;
