//! The kernel heap: linked_list_allocator behind a spin lock taken with interrupts masked.

use crate::arch::aarch64::cpu::Aarch64Cpu;
use crate::cpu::CpuOps;
use core::alloc::{GlobalAlloc, Layout};
use core::ptr::{null_mut, NonNull};
use core::sync::atomic::{AtomicUsize, Ordering};
use linked_list_allocator::Heap;

struct KernelHeap {
    heap: spin::Mutex<Heap>,
    size_bytes: AtomicUsize,
}

#[global_allocator]
static HEAP: KernelHeap = KernelHeap { heap: spin::Mutex::new(Heap::empty()), size_bytes: AtomicUsize::new(0) };

/// Hands `[start, start + size_bytes)` to the allocator. Core 0, once, MMU on.
///
/// # Safety
/// The range must be unused RAM, mapped normal memory, owned by the heap from now on.
pub unsafe fn init(start: usize, size_bytes: usize) {
    let irq = Aarch64Cpu::irq_save();
    // SAFETY: forwarded to the caller: the range is free RAM given to the heap for good.
    unsafe { HEAP.heap.lock().init(start as *mut u8, size_bytes) };
    HEAP.size_bytes.store(size_bytes, Ordering::Relaxed);
    Aarch64Cpu::irq_restore(irq);
}

/// Bytes under management.
pub fn size_bytes() -> usize {
    HEAP.size_bytes.load(Ordering::Relaxed)
}

/// Bytes currently allocated.
pub fn used_bytes() -> usize {
    let irq = Aarch64Cpu::irq_save();
    let used = HEAP.heap.lock().used();
    Aarch64Cpu::irq_restore(irq);
    used
}

// SAFETY: allocation and deallocation go through the locked linked-list heap, which returns
// blocks of at least the requested size and alignment, each handed out once.
unsafe impl GlobalAlloc for KernelHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let irq = Aarch64Cpu::irq_save();
        let block = self.heap.lock().allocate_first_fit(layout).map_or(null_mut(), |p| p.as_ptr());
        Aarch64Cpu::irq_restore(irq);
        block
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let Some(ptr) = NonNull::new(ptr) else { return };
        let irq = Aarch64Cpu::irq_save();
        // SAFETY: GlobalAlloc's contract: `ptr` came from `alloc` with this `layout`.
        unsafe { self.heap.lock().deallocate(ptr, layout) };
        Aarch64Cpu::irq_restore(irq);
    }
}
