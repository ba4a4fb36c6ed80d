//! The `kingly` host tool as a library. The binary (`main.rs`) is a thin clap front end over
//! these modules, one per command or concern; integration tests call the same functions.
//!
//! - Building and running the kernel: [`workspace`] (where the tree is), [`board`],
//!   [`kernel_build`] and [`raw_image`] (cargo, production or with the test suites, then ELF →
//!   raw image), [`qemu`] (finding or installing QEMU, the command line per board, watching the
//!   UART), [`boot`] (`kingly boot`), [`chainload`] (`kingly boot --chainload`: the serial
//!   loader on a real board), [`cleanup`] (what a signal must stop or remove).
//! - SD cards: [`image`] (`kingly image`: MBR, FAT32, firmware, read-back after `--write`).
//! - Talking to a running kernel: [`client`] (the message port over a UART, socket or pty),
//!   [`call`] (`kingly call`), [`trace_cli`] (`kingly trace`), [`keys`] and [`push`] (signed
//!   agents: `push`, `agents`, `unload`, `detach`, `keygen`), and the MCP bridge: [`mcp`] (the
//!   server, the only place JSON meets the kernel's typed contract), [`mcp_tools`] (titles,
//!   annotations, schemas from the contract), [`mcp_code`] and [`mcp_rag`] (the host's own
//!   tools).
//! - Policies: [`learn`] (`kingly learn`: a `sched_slice` policy learned from the kernel's
//!   traces, compiled, pushed and measured).
//! - The eBPF toolchain and knowledge: [`bpf_cli`] (`kingly bpf`), [`rag`] (Linux knowledge
//!   index), [`code_cli`] (`kingly code`, the coder loop in the `kingly-coder` crate),
//!   [`local_llm`] (`kingly code --backend local`, a GGUF model on the CPU), [`dataset_cli`]
//!   (`kingly dataset`, fine-tuning data from the coder's attempt logs), [`finetune`]
//!   (`kingly finetune`, LoRA on that data).
#![forbid(unsafe_code)]

pub mod board;
pub mod boot;
pub mod bpf_cli;
pub mod call;
pub mod chainload;
pub mod cleanup;
pub mod client;
pub mod code_cli;
pub mod dataset_cli;
pub mod finetune;
pub mod image;
pub mod kernel_build;
pub mod keys;
pub mod learn;
pub mod local_llm;
pub mod mcp;
pub mod mcp_code;
pub mod mcp_rag;
pub mod mcp_tools;
pub mod push;
pub mod qemu;
pub mod rag;
pub mod raw_image;
pub mod trace_cli;
pub mod workspace;
