//! Kingly's ARM64 entry: the assembly every core runs from reset to its first Rust function.
//!
//! The assembly (`entry.s`) drops each core from EL3 or EL2 to EL1, gives it a stack, enables
//! FP/SIMD and, on core 0, zeroes `.bss` once. It then calls into the kernel, which must
//! provide these symbols:
//!
//! | symbol | called on | at |
//! | --- | --- | --- |
//! | `kingly_main(dtb: usize, entry_el: usize) -> !` | core 0 | EL1, MMU off |
//! | `kingly_secondary_main(core: usize) -> !` | cores 1.. | EL1, MMU off |
//! | `kingly_el3_init(core: usize)` | every core entering at EL3 | EL3, MMU off, `.bss` not yet zeroed |
//!
//! and the linker script provides `__bss_start`, `__bss_end` and `__stacks_start`
//! (`MAX_CPUS` stacks of [`STACK_SIZE_BYTES`] each).
#![no_std]

/// Bytes of stack per core.
pub const STACK_SIZE_BYTES: usize = 64 * 1024;

/// Cores the entry code gives a stack to; others halt at entry.
pub const MAX_CPUS: usize = 4;

#[cfg(all(target_arch = "aarch64", target_os = "none"))]
core::arch::global_asm!(
    include_str!("entry.s"),
    MAX_CPUS = const MAX_CPUS,
    STACK_SIZE = const STACK_SIZE_BYTES,
);

/// Physical address of the entry point for secondary cores (spin table, PSCI `CPU_ON`).
#[cfg(all(target_arch = "aarch64", target_os = "none"))]
pub fn secondary_entry_address() -> usize {
    extern "C" {
        fn _secondary_start();
    }
    _secondary_start as *const () as usize
}

/// Address of the word that parked cores (ELF entry at EL3) poll before leaving the park loop.
#[cfg(all(target_arch = "aarch64", target_os = "none"))]
pub fn secondary_release_word() -> *mut u64 {
    extern "C" {
        static mut kingly_secondary_release: u64;
    }
    core::ptr::addr_of_mut!(kingly_secondary_release)
}
