//! The values RCU protects: [`RcuPtr`] (an optional box, writers may race) and [`RcuCell`] (a
//! box that is never empty, with its writers' lock and state). This is the only module with
//! `unsafe` in the RCU code: everything else (the domain, grace periods, reclamation, the
//! decision cache and the agent runtime built on these types) is safe code.
//!
//! # Safety argument
//!
//! Both types own a `Box<T>` through an `AtomicPtr<T>` (`_owns: PhantomData<Box<T>>`). These
//! invariants make every `unsafe` block below sound; each block names the ones it relies on.
//!
//! 1. **Owned allocation.** The pointer is null (only in an `RcuPtr`) or came from
//!    `Box::into_raw` in `new` or a replacement, and the type owns that allocation until it is
//!    swapped out. It is published with a `Release` (or `AcqRel`) store and loaded with
//!    `Acquire`, so a loaded pointer points at a fully initialised `T`.
//! 2. **Readers keep what they loaded alive.** A read borrows the value for the life of an
//!    [`RcuReadGuard`](super::RcuReadGuard) of the type's own domain (checked). While the guard
//!    lives its CPU reports no quiescent state (the depth counter), so a value unlinked in the
//!    meantime is not freed before the guard drops: [`Rcu::retire`] frees only after every CPU
//!    has passed a quiescent state or gone offline.
//! 3. **Exactly one unlinker.** A replacement `swap`s the pointer: each old value is taken by
//!    exactly one caller, which becomes its only owner and hands it to [`Rcu::retire`] (never
//!    an immediate free, since readers may still hold it).
//! 4. **Immediate frees need `&mut self`.** Only `Drop` frees at once; it has `&mut self`, so no
//!    borrow handed out by a load, and no writer, can be alive.
//! 5. **An `RcuCell` writer holds the lock.** Only an [`RcuCellWriter`] replaces a cell's value,
//!    and it holds the cell's writer lock; its view of the current value borrows the writer, so
//!    the view ends before the writer can replace it.
#![allow(unsafe_code)]

use super::sync::{self, AtomicPtr, Ordering};
use super::{Rcu, RcuReadGuard};
use crate::cpu::CpuOps;
use alloc::boxed::Box;
use core::marker::PhantomData;

/// An RCU-protected, owned, optional `Box<T>`: readers load it under a guard, writers replace it
/// and the old value is freed after a grace period.
pub struct RcuPtr<'r, T: Send + Sync + 'static, C: CpuOps> {
    rcu: &'r Rcu<C>,
    pointer: AtomicPtr<T>,
    _owns: PhantomData<Box<T>>,
}

impl<'r, T: Send + Sync + 'static, C: CpuOps> RcuPtr<'r, T, C> {
    /// A pointer in domain `rcu` holding `value`.
    pub fn new(rcu: &'r Rcu<C>, value: Option<Box<T>>) -> Self {
        Self { rcu, pointer: AtomicPtr::new(value.map_or(core::ptr::null_mut(), Box::into_raw)), _owns: PhantomData }
    }

    /// The current value, valid while both `self` and `guard` live.
    ///
    /// # Panics
    /// If `guard` is not from this pointer's domain.
    #[inline]
    pub fn load<'a>(&'a self, guard: &'a RcuReadGuard<'_, C>) -> Option<&'a T> {
        assert!(guard.is_for(self.rcu), "rcu: guard from another domain");
        let pointer = self.pointer.load(Ordering::Acquire);
        // SAFETY: invariants 1 (null or a live box), 2 (`guard` is of this domain, asserted
        // above) and 4 (the borrow of `self` rules out `Drop`).
        unsafe { pointer.as_ref() }
    }

    /// Publishes `value` and retires the previous one. Writers may race; each old value is
    /// retired exactly once (the `swap` hands it to one writer).
    pub fn replace(&self, value: Option<Box<T>>) {
        self.replace_and(value, |_| ());
    }

    /// [`RcuPtr::replace`], calling `unlinked` on the old value after it is unlinked and before
    /// it is retired (e.g. to stamp it with the grace period it was retired in).
    pub fn replace_and(&self, value: Option<Box<T>>, unlinked: impl FnOnce(&T)) {
        let new = value.map_or(core::ptr::null_mut(), Box::into_raw);
        let old = self.pointer.swap(new, Ordering::AcqRel);
        if !old.is_null() {
            // SAFETY: invariants 1 and 3: `old` is a live box that this swap alone took.
            let old = unsafe { Box::from_raw(old) };
            unlinked(&old);
            self.rcu.retire(old);
        }
    }
}

impl<T: Send + Sync + 'static, C: CpuOps> Drop for RcuPtr<'_, T, C> {
    fn drop(&mut self) {
        let pointer = self.pointer.load(Ordering::Acquire);
        if !pointer.is_null() {
            // SAFETY: invariants 1 and 4: a live box, and `&mut self` leaves no borrow of it.
            drop(unsafe { Box::from_raw(pointer) });
        }
    }
}

/// An RCU-protected `Box<T>` that is never empty, with the lock its writers hold (and their
/// state, `W`): readers [`RcuCell::load`] it under a guard; a writer [`RcuCell::lock`]s it
/// (interrupts masked, so an interrupt handler on the same CPU that writes cannot spin on its
/// own CPU's lock), reads the current value and its state through the [`RcuCellWriter`], and
/// replaces the value, the old one retired to RCU. The borrows do the bookkeeping: a writer's
/// view of the current value ends before it can replace it.
pub struct RcuCell<'r, T: Send + Sync + 'static, W, C: CpuOps> {
    rcu: &'r Rcu<C>,
    pointer: AtomicPtr<T>,
    writer: sync::Mutex<W>,
    _owns: PhantomData<Box<T>>,
}

/// A writer of an [`RcuCell`]: holds its lock with interrupts masked until dropped.
pub struct RcuCellWriter<'a, 'r, T: Send + Sync + 'static, W, C: CpuOps> {
    cell: &'a RcuCell<'r, T, W, C>,
    // Declared before `_irqs`: the lock is released before interrupts are unmasked.
    state: sync::MutexGuard<'a, W>,
    _irqs: sync::IrqsMasked<C>,
}

impl<'r, T: Send + Sync + 'static, W, C: CpuOps> RcuCell<'r, T, W, C> {
    /// A cell in domain `rcu` holding `value`, its writers' state `state`.
    pub fn new(rcu: &'r Rcu<C>, value: Box<T>, state: W) -> Self {
        Self { rcu, pointer: AtomicPtr::new(Box::into_raw(value)), writer: sync::Mutex::new(state), _owns: PhantomData }
    }

    /// The RCU domain.
    pub fn rcu(&self) -> &'r Rcu<C> {
        self.rcu
    }

    /// The current value, valid while `guard` lives.
    #[inline(always)]
    pub fn load<'a>(&'a self, guard: &'a RcuReadGuard<'_, C>) -> &'a T {
        debug_assert!(guard.is_for(self.rcu), "rcu: guard from another domain");
        let pointer = self.pointer.load(Ordering::Acquire);
        // SAFETY: invariants 1 (a cell's pointer is never null: `new` and `replace` store
        // boxes), 2 (`guard` is of this domain, debug-asserted above; this is the hot path)
        // and 4.
        unsafe { &*pointer }
    }

    /// Locks out other writers (with interrupts masked on this CPU).
    pub fn lock(&self) -> RcuCellWriter<'_, 'r, T, W, C> {
        let irqs = sync::IrqsMasked::new();
        RcuCellWriter { cell: self, state: self.writer.lock(), _irqs: irqs }
    }
}

impl<T: Send + Sync + 'static, W, C: CpuOps> RcuCellWriter<'_, '_, T, W, C> {
    /// The current value and the writers' state.
    pub fn parts(&mut self) -> (&T, &mut W) {
        let pointer = self.cell.pointer.load(Ordering::Acquire);
        // SAFETY: invariants 1, 4 and 5: this writer holds the lock, so nobody else replaces
        // the value, and the borrow of `self` ends before its own `replace` can run.
        let value = unsafe { &*pointer };
        (value, &mut self.state)
    }

    /// The current value.
    pub fn current(&mut self) -> &T {
        self.parts().0
    }

    /// The writers' state.
    pub fn state(&mut self) -> &mut W {
        self.parts().1
    }

    /// Publishes `value` and retires the previous one.
    pub fn replace(&mut self, value: Box<T>) {
        let old = self.cell.pointer.swap(Box::into_raw(value), Ordering::AcqRel);
        // SAFETY: invariants 1 and 3: `old` is a live box that this swap alone took.
        self.cell.rcu.retire(unsafe { Box::from_raw(old) });
    }
}

impl<T: Send + Sync + 'static, W, C: CpuOps> Drop for RcuCell<'_, T, W, C> {
    fn drop(&mut self) {
        let pointer = self.pointer.load(Ordering::Acquire);
        // SAFETY: invariants 1 and 4: a live box, and `&mut self` leaves no borrow of it.
        drop(unsafe { Box::from_raw(pointer) });
    }
}
