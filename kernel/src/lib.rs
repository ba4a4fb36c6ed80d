//! The Kingly kernel.
//!
//! # From `_start` to the ready line
//!
//! 1. `boot/src/entry.s` (crate `kingly-boot`): every core drops from EL3 or EL2 to EL1, gets
//!    its stack and FP/SIMD; core 0 zeroes `.bss` and calls [`platform::boot`]'s `kingly_main`.
//!    At EL3 (QEMU ELF entry) `kingly_el3_init` first routes the GIC to the non-secure world.
//! 2. `kingly_main` brings up the UART, finds the RAM (device tree, mailbox or board table,
//!    [`platform::memory`]), builds the identity map ([`mm::translation`]) and turns the MMU
//!    and caches on ([`arch`]) — before the first atomic read-modify-write.
//! 3. It creates the devices from the board table ([`board`]), starts the heap, installs the
//!    exception vectors, sets up the GIC, the UART receive interrupt and the 1 kHz tick.
//! 4. It releases the secondaries (spin table or PSCI, [`platform::smp`]); each enables the
//!    MMU with the same tables, its GIC CPU interface and its tick, and checks in.
//! 5. When every core is in, core 0 prints
//!    `kingly ready: board=<b> cpus=<n> el=1 mmu=on heap=<bytes>` and either runs the test
//!    suite named in the boot arguments ([`bootargs`]) or serves the console ([`console`]).
//!
//! Portable logic (board tables, translation tables, boot arguments, console parsing, fault
//! decoding, RCU, the decision cache) builds and is unit-tested on the host; `arch` and
//! `platform` exist only in the bare-metal build.
//!
//! Design principles: simple and clear algorithms over fast and clever ones, except on the
//! measured hot paths (decision cache hits). The crate denies `unsafe`, and exactly three
//! modules allow it, each block with its `SAFETY:` argument: `arch::aarch64` (system registers,
//! the MMU, the JIT's executable memory), `platform` (MMIO, the heap, the scheduler's trap
//! frames, the deliberate fault of `--test fault`) and `rcu::owned`, the RCU-owned boxes
//! ([`rcu::RcuPtr`], [`rcu::RcuCell`]) whose invariants are argued once at the top of that
//! file. [`dcache`] and [`agents`], built on them, `forbid` unsafe code; the drivers crate
//! holds the MMIO register blocks.
//!
//! Layers: the portable modules sit below `arch`, which sits below `platform`; no module
//! names one above it and the import graph has no cycle (`kernel/tests/layering.rs`).
#![cfg_attr(target_os = "none", no_std)]
#![deny(unsafe_code)]

extern crate alloc;

#[cfg(not(loom))]
pub mod agents;
pub mod arch;
pub mod board;
pub use kingly_proto::bootargs;
pub mod console;
pub mod cpu;
pub mod dcache;
pub mod dtb;
pub mod fault;
pub mod mm;
#[cfg(all(target_arch = "aarch64", target_os = "none"))]
pub mod platform;
pub mod port;
pub mod rcu;
pub mod trace;
pub mod workload;
