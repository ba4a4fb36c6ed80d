//! The `kingly` host tool as a library: building and booting the kernel, and (in later
//! modules) talking to it, making SD card images, and the eBPF toolchain.
//!
//! The binary (`main.rs`) is a thin clap front end over these modules; integration tests use
//! the same functions.

pub mod board;
pub mod boot;
pub mod bpf_cli;
pub mod call;
pub mod chainload;
pub mod cleanup;
pub mod client;
pub mod code_cli;
pub mod image;
pub mod kernel_build;
pub mod keys;
pub mod mcp;
pub mod mcp_code;
pub mod mcp_rag;
pub mod mcp_tools;
pub mod push;
pub mod qemu;
pub mod rag;
pub mod raw_image;
pub mod workspace;
