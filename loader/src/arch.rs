//! The few things Rust cannot say: the entry assembly, the counter, and the jump.

use core::arch::asm;

core::arch::global_asm!(include_str!("entry.s"));

/// Ticks of the generic timer since reset.
pub fn ticks() -> u64 {
    let value: u64;
    // SAFETY: reading CNTPCT_EL0 has no side effect; it is readable at EL1 and above, where
    // the loader runs (the firmware leaves it at EL2).
    unsafe { asm!("isb", "mrs {}, cntpct_el0", out(reg) value, options(nomem, nostack)) };
    value
}

/// Ticks per second of the generic timer (62.5 MHz under QEMU, 54 MHz on a Pi 4).
pub fn ticks_per_second() -> u64 {
    let value: u64;
    // SAFETY: reading CNTFRQ_EL0 has no side effect and is allowed at every level.
    unsafe { asm!("mrs {}, cntfrq_el0", out(reg) value, options(nomem, nostack)) };
    value.max(1)
}

/// Jumps to a kernel at `entry` with x0 = `dtb`, at the level the loader runs at, MMU off,
/// interrupts masked: the state the firmware would have started it in.
///
/// # Safety
/// `entry` must be the first instruction of a complete kernel image written by this core;
/// nothing of the loader is used again.
pub unsafe fn jump_to_kernel(entry: u64, dtb: u64) -> ! {
    // SAFETY: the caller guarantees the image is complete; the data writes are in memory
    // (the data cache is off), and the instruction cache is invalidated before the branch.
    unsafe {
        asm!(
            "dsb sy",
            "ic iallu",
            "dsb sy",
            "isb",
            "br {entry}",
            entry = in(reg) entry,
            in("x0") dtb,
            options(noreturn),
        )
    }
}

/// The loader has no heap; `kingly-proto` links `alloc` for its message layer, which the
/// loader never calls. Any allocation would fail (and the caller panic).
struct NoHeap;

// SAFETY: `alloc` always returns null, which `GlobalAlloc` allows to mean "out of memory";
// `dealloc` is never reached because nothing was ever allocated.
unsafe impl core::alloc::GlobalAlloc for NoHeap {
    unsafe fn alloc(&self, _layout: core::alloc::Layout) -> *mut u8 {
        core::ptr::null_mut()
    }

    unsafe fn dealloc(&self, _ptr: *mut u8, _layout: core::alloc::Layout) {}
}

#[global_allocator]
static NO_HEAP: NoHeap = NoHeap;
