//! The one place where a raw MMIO address becomes a typed register block.

use core::marker::PhantomData;
use core::ops::Deref;

/// A typed view of a memory-mapped register block at a fixed address.
pub struct Mmio<T> {
    base: usize,
    registers: PhantomData<fn() -> T>,
}

impl<T> Mmio<T> {
    /// Wraps the register block at `base`.
    ///
    /// # Safety
    /// `base` must be the address of a device whose registers have layout `T`, mapped as
    /// device memory (or reached with the MMU off) for as long as the `Mmio` is used, and
    /// aligned for `T`.
    pub const unsafe fn new(base: usize) -> Self {
        Self { base, registers: PhantomData }
    }

    /// The block's base address.
    pub const fn base(&self) -> usize {
        self.base
    }
}

impl<T> Deref for Mmio<T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: `new`'s contract: `base` points at a live, aligned register block of
        // layout `T`. Register types only allow volatile access through `&self`.
        unsafe { &*(self.base as *const T) }
    }
}

// SAFETY: the registers are accessed with volatile operations only; sharing the address
// between cores is what MMIO is. Callers serialize where the hardware needs it.
unsafe impl<T> Send for Mmio<T> {}
// SAFETY: as above.
unsafe impl<T> Sync for Mmio<T> {}
