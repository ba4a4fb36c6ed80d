//! PSCI calls (CPU_ON, SYSTEM_OFF, SYSTEM_RESET) through HVC or SMC.
//!
//! # Resources
//! - Arm Power State Coordination Interface (DEN 0022), §5.1 function IDs.

use core::arch::asm;

const CPU_ON_64: u64 = 0xC400_0003;
const SYSTEM_OFF: u32 = 0x8400_0008;
const SYSTEM_RESET: u32 = 0x8400_0009;

/// Which instruction reaches the PSCI implementation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conduit {
    /// A hypervisor, or QEMU's built-in PSCI when there is no EL2 (entered at EL1).
    Hvc,
    /// Secure firmware (entered at EL2: QEMU `virtualization=on`, Pi 5 TF-A).
    Smc,
}

impl Conduit {
    /// The conduit for a kernel that entered at `entry_el`.
    pub fn for_entry_el(entry_el: u64) -> Self {
        if entry_el >= 2 {
            Conduit::Smc
        } else {
            Conduit::Hvc
        }
    }
}

fn call(conduit: Conduit, function: u64, a1: u64, a2: u64, a3: u64) -> i64 {
    let mut result = function;
    match conduit {
        // SAFETY: an SMCCC call; the callee preserves x4-x30 and touches no memory of ours.
        Conduit::Hvc => unsafe {
            asm!("hvc #0", inout("x0") result, inout("x1") a1 => _, inout("x2") a2 => _, inout("x3") a3 => _,
                 options(nostack))
        },
        // SAFETY: as above.
        Conduit::Smc => unsafe {
            asm!("smc #0", inout("x0") result, inout("x1") a1 => _, inout("x2") a2 => _, inout("x3") a3 => _,
                 options(nostack))
        },
    }
    result as i64
}

/// Starts the core with MPIDR affinity `target` at physical address `entry`.
/// Returns the PSCI status (0 = success, -4 = already on, ...).
pub fn cpu_on(conduit: Conduit, target: u64, entry: u64, context: u64) -> i64 {
    call(conduit, CPU_ON_64, target, entry, context)
}

/// Powers the system off (QEMU virt exits).
pub fn system_off(conduit: Conduit) -> i64 {
    call(conduit, u64::from(SYSTEM_OFF), 0, 0, 0)
}

/// Resets the system (Pi 5: TF-A restarts the firmware, which starts the card's kernel file
/// again); returns only if the call failed.
pub fn system_reset(conduit: Conduit) -> i64 {
    call(conduit, u64::from(SYSTEM_RESET), 0, 0, 0)
}
