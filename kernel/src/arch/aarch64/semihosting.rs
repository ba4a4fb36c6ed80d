//! Arm semihosting: how a kernel under QEMU `-semihosting` reports its exit status.
//!
//! # Resources
//! - Arm Semihosting Specification v3, SYS_EXIT (0x18) with ADP_Stopped_ApplicationExit.

use core::arch::asm;

const SYS_EXIT: u64 = 0x18;
const ADP_STOPPED_APPLICATION_EXIT: u64 = 0x20026;

/// Ends QEMU with `status` as its exit code. Only call when QEMU runs with `-semihosting`:
/// elsewhere `hlt` is an undefined instruction.
pub fn exit(status: u32) -> ! {
    let block = [ADP_STOPPED_APPLICATION_EXIT, u64::from(status)];
    loop {
        // SAFETY: the semihosting trap reads the two-word block and never returns under QEMU.
        unsafe {
            asm!("hlt #0xf000", in("x0") SYS_EXIT, in("x1") block.as_ptr(), options(nostack, readonly));
        }
    }
}
