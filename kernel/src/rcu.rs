//! Quiescent-state-based RCU (QSBR): readers pay nothing but a CPU-local depth counter, CPUs
//! report quiescent states at natural points (tick, idle, leaving a hook), writers publish a new
//! version and free the old one after a grace period.
//!
//! # How it works
//!
//! A global grace-period number `gp` starts at 1. Each CPU keeps `seen_gp`, the `gp` it loaded at
//! its last quiescent state, or 0 while it is offline (an extended quiescent state). A grace period
//! `g` (started by `gp += 1`, which returns `g`) is complete when every CPU is offline or has
//! `seen_gp >= g`: such a CPU has passed a quiescent state after the writer's unlink, so none of
//! its read-side references can point at what the writer retired before starting `g`.
//!
//! Ordering, in the C++/Rust memory model (checked by the loom models in `kernel/tests/loom.rs`):
//! - the quiescent-state store is `Release` and the scan's load is `Acquire`: every read a CPU
//!   made before reporting happens-before the free;
//! - the reporting CPU loads `gp` with `Acquire` and the writer bumps it with `AcqRel` after
//!   unlinking: a CPU that reports `g` sees the unlink in its later reads;
//! - coming online is the store-buffering case (the CPU stores `seen_gp` then reads, the writer
//!   unlinks then loads `seen_gp`). Instead of `SeqCst` fences on both sides, the scan confirms an
//!   offline CPU with an RMW (`fetch_add(0)`) that reads the latest value: if it reads 0, the
//!   CPU's later online `swap` reads from it and synchronizes with the writer. Every write of
//!   `seen_gp` is an RMW (`swap`), so the RMWs are totally ordered among themselves; loom
//!   (0.7) does not order an RMW against a racing plain store, and these writes are off the
//!   lookup path (ticks, idle, online/offline).
//!
//! Reclamation is non-blocking and bounded: retired objects collect in `next`; when the grace
//! period of `waiting` completes, `waiting` is freed, `next` becomes `waiting` and a new grace
//! period starts. An object therefore waits at most two grace periods (≤ 2 grace periods' worth of
//! garbage). [`Rcu::synchronize`] blocks for callers that need it.
//!
//! # Contract
//!
//! The `cpu` index passed to the read side ([`Rcu::read`], [`Rcu::quiescent_state`],
//! [`Rcu::online`], [`Rcu::offline`]) names the calling CPU: at most one context per index runs
//! at a time (an interrupt handler on the same CPU is fine — the depth counter makes its
//! quiescent-state report a no-op while the interrupted code reads). Read-side sections must not
//! be preempted and migrated. Writers need no CPU index.

use crate::cpu::{CpuOps, MAX_CPUS};
use alloc::boxed::Box;
use alloc::vec::Vec;
use core::marker::PhantomData;

/// Atomics and fences: `core`'s in the kernel and host builds, loom's under `--cfg loom`.
pub(crate) mod sync {
    #[cfg(loom)]
    pub(crate) use loom::sync::atomic::{fence, AtomicPtr, AtomicU32, AtomicU64, Ordering};

    #[cfg(not(loom))]
    pub(crate) use core::sync::atomic::{fence, AtomicPtr, AtomicU32, AtomicU64, Ordering};

    /// A spin lock in the kernel, loom's mutex under loom (a spin lock would spin forever there).
    pub(crate) struct Mutex<T> {
        #[cfg(not(loom))]
        inner: spin::Mutex<T>,
        #[cfg(loom)]
        inner: loom::sync::Mutex<T>,
    }

    #[cfg(not(loom))]
    pub(crate) type MutexGuard<'a, T> = spin::MutexGuard<'a, T>;
    #[cfg(loom)]
    pub(crate) type MutexGuard<'a, T> = loom::sync::MutexGuard<'a, T>;

    impl<T> Mutex<T> {
        #[cfg(not(loom))]
        pub(crate) const fn new(value: T) -> Self {
            Self { inner: spin::Mutex::new(value) }
        }
        #[cfg(loom)]
        pub(crate) fn new(value: T) -> Self {
            Self { inner: loom::sync::Mutex::new(value) }
        }
        #[cfg(not(loom))]
        pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
            self.inner.lock()
        }
        #[cfg(loom)]
        pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
            self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
        }
        #[cfg(not(loom))]
        pub(crate) fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
            self.inner.try_lock()
        }
        #[cfg(loom)]
        pub(crate) fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
            self.inner.try_lock().ok()
        }
        #[cfg(not(loom))]
        pub(crate) fn get_mut(&mut self) -> &mut T {
            self.inner.get_mut()
        }
        #[cfg(loom)]
        pub(crate) fn get_mut(&mut self) -> &mut T {
            self.inner.get_mut().unwrap_or_else(|poisoned| poisoned.into_inner())
        }
    }

    /// Interrupts masked on this CPU until dropped: a lock that an interrupt handler may also
    /// take (a writer lock, via `decide` in a timer hook) is only held with interrupts masked,
    /// or the handler would spin on its own CPU's lock forever.
    pub(crate) struct IrqsMasked<C: crate::cpu::CpuOps> {
        state: usize,
        _cpu: core::marker::PhantomData<C>,
    }

    impl<C: crate::cpu::CpuOps> IrqsMasked<C> {
        pub(crate) fn new() -> Self {
            Self { state: C::irq_save(), _cpu: core::marker::PhantomData }
        }
    }

    impl<C: crate::cpu::CpuOps> Drop for IrqsMasked<C> {
        fn drop(&mut self) {
            C::irq_restore(self.state);
        }
    }

    /// Orders this CPU's accesses against an interrupt handler on the same CPU (no instruction).
    #[inline(always)]
    pub(crate) fn compiler_fence() {
        core::sync::atomic::compiler_fence(core::sync::atomic::Ordering::SeqCst);
    }
}

use sync::{AtomicPtr, AtomicU32, AtomicU64, Ordering};

/// Aligns `T` to a 64-byte cache line (Cortex-A72 and x86 lines are 64 bytes) so that per-CPU
/// data written by one CPU never shares a line with another CPU's.
#[derive(Debug, Default)]
#[repr(align(64))]
pub struct CachePadded<T>(pub T);

impl<T> core::ops::Deref for CachePadded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// One CPU's RCU state, alone on its cache line.
struct CpuState {
    /// Grace-period number loaded at the last quiescent state; 0 = offline.
    seen_gp: AtomicU64,
    /// Read-side nesting depth. Written only by this CPU (and its interrupt handlers, which
    /// restore it before returning), so plain load + store, no RMW.
    depth: AtomicU32,
}

impl CpuState {
    #[cfg(not(loom))]
    const fn new() -> Self {
        Self { seen_gp: AtomicU64::new(0), depth: AtomicU32::new(0) }
    }
    #[cfg(loom)]
    fn new() -> Self {
        Self { seen_gp: AtomicU64::new(0), depth: AtomicU32::new(0) }
    }
}

/// A retired object: its address and how to drop it.
struct Retired {
    address: *mut (),
    drop_fn: unsafe fn(*mut ()),
}

// SAFETY: a `Retired` is only created by `Rcu::retire`/`retire_raw`, whose callers hand over an
// object that is `Send` (checked by `retire`'s bound, promised by `retire_raw`'s contract); the
// pointer is dereferenced only by `drop_fn`, once, after a grace period.
#[allow(unsafe_code)]
unsafe impl Send for Retired {}

impl Retired {
    fn free(self) {
        // SAFETY: `address`/`drop_fn` come from `retire_raw`, whose caller promised the pair frees
        // the object once; a grace period has elapsed since it was unlinked (see `reclaim`), so no
        // reader holds it, and `self` is consumed, so it is freed exactly once.
        #[allow(unsafe_code)]
        unsafe {
            (self.drop_fn)(self.address)
        }
    }
}

/// Garbage waiting for grace periods.
struct Garbage {
    /// Retired before grace period `waiting_gp` started; freed when it completes.
    waiting: Vec<Retired>,
    waiting_gp: u64,
    /// Retired since; becomes `waiting` when `waiting` is freed.
    next: Vec<Retired>,
}

/// Counters for tests and `cache_stats`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RcuStats {
    /// The current grace-period number (grace periods started + 1).
    pub gp: u64,
    /// The highest grace period known to be complete.
    pub completed_gp: u64,
    /// Objects retired and not yet freed.
    pub pending: usize,
    /// Objects freed.
    pub freed: u64,
}

/// A QSBR RCU domain for up to [`MAX_CPUS`] CPUs.
pub struct Rcu<C: CpuOps> {
    gp: CachePadded<AtomicU64>,
    completed_gp: CachePadded<AtomicU64>,
    freed: CachePadded<AtomicU64>,
    cpus: [CachePadded<CpuState>; MAX_CPUS],
    garbage: sync::Mutex<Garbage>,
    _cpu: PhantomData<fn() -> C>,
}

// Loom's atomics are not `const`-constructible; the kernel's `static RCU` needs `const fn new`.
macro_rules! rcu_new_body {
    () => {
        Self {
            gp: CachePadded(AtomicU64::new(1)),
            completed_gp: CachePadded(AtomicU64::new(0)),
            freed: CachePadded(AtomicU64::new(0)),
            cpus: [
                CachePadded(CpuState::new()),
                CachePadded(CpuState::new()),
                CachePadded(CpuState::new()),
                CachePadded(CpuState::new()),
            ],
            garbage: sync::Mutex::new(Garbage { waiting: Vec::new(), waiting_gp: 0, next: Vec::new() }),
            _cpu: PhantomData,
        }
    };
}

const _: () = assert!(MAX_CPUS == 4, "Rcu::new lists one CpuState per CPU");

impl<C: CpuOps> Default for Rcu<C> {
    fn default() -> Self {
        Self::new()
    }
}

impl<C: CpuOps> Rcu<C> {
    /// A domain with every CPU offline and no garbage.
    #[cfg(not(loom))]
    pub const fn new() -> Self {
        rcu_new_body!()
    }

    /// A domain with every CPU offline and no garbage.
    #[cfg(loom)]
    pub fn new() -> Self {
        rcu_new_body!()
    }

    // ---- read side -------------------------------------------------------------------------

    /// Enters a read-side critical section on `cpu`. Nests. Brings `cpu` online if it was
    /// offline. References loaded under the guard stay valid until it drops.
    #[inline]
    pub fn read(&self, cpu: usize) -> RcuReadGuard<'_, C> {
        let state = &self.cpus[cpu];
        let depth = state.depth.load(Ordering::Relaxed);
        state.depth.store(depth + 1, Ordering::Relaxed);
        sync::compiler_fence();
        if depth == 0 && state.seen_gp.load(Ordering::Relaxed) == 0 {
            self.come_online(state);
        }
        RcuReadGuard { rcu: self, cpu, depth, _not_send: PhantomData }
    }

    /// Reports a quiescent state for `cpu`: it holds no reference obtained under a guard.
    /// Returns `false` (and reports nothing) when called inside a read-side section, e.g. from a
    /// tick that interrupted one. Cheap: one shared load and at most one CPU-local store.
    #[inline]
    pub fn quiescent_state(&self, cpu: usize) -> bool {
        let state = &self.cpus[cpu];
        if state.depth.load(Ordering::Relaxed) != 0 {
            return false;
        }
        sync::compiler_fence();
        let gp = self.gp.load(Ordering::Acquire);
        if state.seen_gp.load(Ordering::Relaxed) != gp {
            // An RMW like every write of `seen_gp` (see the module comment); runs at ticks and
            // in idle, never on the lookup path.
            #[cfg(not(kingly_planted_bug))]
            state.seen_gp.swap(gp, Ordering::Release);
            // The planted bug (loom must catch it): without `Release`, this CPU's earlier reads
            // need not happen-before the writer's free.
            #[cfg(kingly_planted_bug)]
            state.seen_gp.swap(gp, Ordering::Relaxed);
        }
        true
    }

    /// Reports a quiescent state for the calling CPU (`C::cpu_id()`).
    #[inline]
    pub fn quiescent_state_here(&self) -> bool {
        self.quiescent_state(C::cpu_id())
    }

    /// Brings `cpu` online: it will report quiescent states from now on.
    pub fn online(&self, cpu: usize) {
        self.come_online(&self.cpus[cpu]);
    }

    fn come_online(&self, state: &CpuState) {
        let gp = self.gp.load(Ordering::Acquire);
        // An RMW, so that a scan's `fetch_add(0)` that saw us offline synchronizes with us (see
        // the module comment).
        state.seen_gp.swap(gp, Ordering::AcqRel);
    }

    /// Takes `cpu` offline (idle for long, parked, or done): grace periods stop waiting for it.
    ///
    /// # Panics
    /// Inside a read-side section of `cpu`.
    pub fn offline(&self, cpu: usize) {
        let state = &self.cpus[cpu];
        assert_eq!(state.depth.load(Ordering::Relaxed), 0, "rcu: offline inside a read section");
        sync::compiler_fence();
        state.seen_gp.swap(0, Ordering::Release);
    }

    // ---- grace periods ---------------------------------------------------------------------

    /// Starts a grace period and returns its number: once [`Rcu::gp_completed`] says it is
    /// complete, no read-side section that began before this call is still running.
    pub(crate) fn start_gp(&self) -> u64 {
        self.gp.fetch_add(1, Ordering::AcqRel) + 1
    }

    /// Whether grace period `gp` is complete (every CPU offline or past a quiescent state since).
    pub fn gp_completed(&self, gp: u64) -> bool {
        if self.completed_gp.load(Ordering::Acquire) >= gp {
            return true;
        }
        // Loads first: a CPU still behind ends the check cheaply (the common case while waiting).
        let mut looks_offline = [false; MAX_CPUS];
        for (state, offline) in self.cpus.iter().zip(&mut looks_offline) {
            match state.seen_gp.load(Ordering::Acquire) {
                0 => *offline = true,
                seen if seen < gp => return false,
                _ => {}
            }
        }
        // Confirm offline CPUs with an RMW, which reads the latest value (see the module comment).
        for (state, offline) in self.cpus.iter().zip(looks_offline) {
            if offline {
                let seen = state.seen_gp.fetch_add(0, Ordering::AcqRel);
                if seen != 0 && seen < gp {
                    return false;
                }
            }
        }
        self.completed_gp.fetch_max(gp, Ordering::AcqRel);
        true
    }

    /// The highest grace-period number known to be complete. A reader holding an object retired
    /// when `gp` was `r` must never see this above `r` (checked by the torture test).
    pub fn completed_gp(&self) -> u64 {
        self.completed_gp.load(Ordering::Acquire)
    }

    /// The current grace-period number.
    pub fn current_gp(&self) -> u64 {
        self.gp.load(Ordering::Acquire)
    }

    /// Waits for a full grace period. For callers that are not an online CPU (host threads, a CPU
    /// that went offline); an online CPU uses [`Rcu::synchronize_on`], or it waits for itself.
    pub fn synchronize(&self) {
        let gp = self.start_gp();
        while !self.gp_completed(gp) {
            C::relax();
        }
        self.reclaim();
    }

    /// Waits for a full grace period from online CPU `cpu`, reporting its own quiescent states
    /// while waiting.
    ///
    /// # Panics
    /// Inside a read-side section of `cpu` (it would wait for itself forever).
    pub fn synchronize_on(&self, cpu: usize) {
        assert!(self.quiescent_state(cpu), "rcu: synchronize inside a read section");
        let gp = self.start_gp();
        loop {
            self.quiescent_state(cpu);
            if self.gp_completed(gp) {
                break;
            }
            C::relax();
        }
        self.reclaim();
    }

    // ---- reclamation -----------------------------------------------------------------------

    /// Frees `object` after a grace period. The caller has already unlinked it: no new reader
    /// can find it.
    pub fn retire<T: Send + 'static>(&self, object: Box<T>) {
        #[allow(unsafe_code)]
        unsafe fn drop_box<T>(address: *mut ()) {
            // SAFETY: `address` came from `Box::into_raw` in `retire` and is freed once.
            drop(unsafe { Box::from_raw(address.cast::<T>()) });
        }
        let address = Box::into_raw(object).cast::<()>();
        // SAFETY: `address` is a live `Box<T>` allocation with `T: Send`, freed once by
        // `drop_box::<T>`.
        #[allow(unsafe_code)]
        unsafe {
            self.retire_raw(address, drop_box::<T>)
        }
    }

    /// Calls `drop_fn(address)` after a grace period.
    ///
    /// # Safety
    /// 1. The object at `address` is unlinked: no reader can newly find it.
    /// 2. `drop_fn(address)` is sound to call once, from any CPU, after every reader that could
    ///    have found the object has passed a quiescent state.
    #[allow(unsafe_code)]
    pub unsafe fn retire_raw(&self, address: *mut (), drop_fn: unsafe fn(*mut ())) {
        let _irqs = sync::IrqsMasked::<C>::new();
        let mut garbage = self.garbage.lock();
        garbage.next.push(Retired { address, drop_fn });
        self.advance(&mut garbage);
    }

    /// Frees what a completed grace period allows and starts the next grace period if garbage
    /// waits. Non-blocking apart from the garbage lock; the kernel calls it from idle.
    pub fn reclaim(&self) {
        let _irqs = sync::IrqsMasked::<C>::new();
        if let Some(mut garbage) = self.garbage.try_lock() {
            self.advance(&mut garbage);
        }
    }

    fn advance(&self, garbage: &mut Garbage) {
        if !garbage.waiting.is_empty() {
            if !self.gp_completed(garbage.waiting_gp) {
                return;
            }
            let count = garbage.waiting.len() as u64;
            for retired in garbage.waiting.drain(..) {
                retired.free();
            }
            self.freed.fetch_add(count, Ordering::Relaxed);
        }
        if !garbage.next.is_empty() {
            core::mem::swap(&mut garbage.waiting, &mut garbage.next);
            garbage.waiting_gp = self.start_gp();
        }
    }

    /// Counters for tests and `cache_stats`.
    pub fn stats(&self) -> RcuStats {
        let pending = {
            let _irqs = sync::IrqsMasked::<C>::new();
            let garbage = self.garbage.lock();
            garbage.waiting.len() + garbage.next.len()
        };
        RcuStats {
            gp: self.current_gp(),
            completed_gp: self.completed_gp(),
            pending,
            freed: self.freed.load(Ordering::Relaxed),
        }
    }
}

impl<C: CpuOps> Drop for Rcu<C> {
    fn drop(&mut self) {
        // `&mut self`: no guard and no other user remains.
        let garbage = self.garbage.get_mut();
        for retired in garbage.waiting.drain(..).chain(garbage.next.drain(..)) {
            retired.free();
        }
    }
}

/// A read-side critical section on one CPU. Not `Send`: it belongs to the CPU that opened it.
pub struct RcuReadGuard<'r, C: CpuOps> {
    rcu: &'r Rcu<C>,
    cpu: usize,
    depth: u32,
    _not_send: PhantomData<*const ()>,
}

impl<C: CpuOps> RcuReadGuard<'_, C> {
    /// The CPU this section runs on.
    pub fn cpu(&self) -> usize {
        self.cpu
    }

    /// Whether this guard belongs to `rcu`.
    pub fn is_for(&self, rcu: &Rcu<C>) -> bool {
        core::ptr::eq(self.rcu, rcu)
    }
}

impl<C: CpuOps> Drop for RcuReadGuard<'_, C> {
    #[inline]
    fn drop(&mut self) {
        sync::compiler_fence();
        self.rcu.cpus[self.cpu].depth.store(self.depth, Ordering::Relaxed);
    }
}

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
        // SAFETY: a non-null pointer came from `Box::into_raw` (in `new`/`replace`) and was
        // published with `Release`. While `guard` lives this CPU reports no quiescent state
        // (depth > 0), so a value unlinked by `replace` is not freed until after the guard drops;
        // the value is freed immediately only by `Drop`, which needs `&mut self`, impossible while
        // the returned borrow of `self` lives.
        #[allow(unsafe_code)]
        unsafe {
            pointer.as_ref()
        }
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
            // SAFETY: `old` came from `Box::into_raw`; this writer's swap took it, so it is not
            // freed before the `retire` below.
            #[allow(unsafe_code)]
            unlinked(unsafe { &*old });
            // SAFETY: `old` came from `Box::into_raw`; the swap unlinked it, so this is the only
            // owner; readers may still hold it, hence `retire`, not an immediate drop.
            #[allow(unsafe_code)]
            let old = unsafe { Box::from_raw(old) };
            self.rcu.retire(old);
        }
    }
}

impl<T: Send + Sync + 'static, C: CpuOps> Drop for RcuPtr<'_, T, C> {
    fn drop(&mut self) {
        let pointer = self.pointer.load(Ordering::Acquire);
        if !pointer.is_null() {
            // SAFETY: `&mut self`: no borrow from `load` lives; the pointer came from
            // `Box::into_raw` and is owned by `self`.
            #[allow(unsafe_code)]
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
    pointer: sync::AtomicPtr<T>,
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
        Self {
            rcu,
            pointer: sync::AtomicPtr::new(Box::into_raw(value)),
            writer: sync::Mutex::new(state),
            _owns: PhantomData,
        }
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
        // SAFETY: the pointer is never null (set in `new`, replaced by `replace` with another
        // box) and was published with `Release`. While `guard` lives this CPU reports no
        // quiescent state, so a value unlinked by `replace` is not freed until after the guard
        // drops; `Drop`, the only immediate free, needs `&mut self`.
        #[allow(unsafe_code)]
        unsafe {
            &*pointer
        }
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
        // SAFETY: only a writer replaces the value, this one holds the lock, and the returned
        // borrow of `self` ends before `replace` (which needs `&mut self`) can run; a value is
        // freed immediately only by the cell's `Drop`, impossible while `self` borrows it.
        #[allow(unsafe_code)]
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
        // SAFETY: `old` came from `Box::into_raw` and the swap unlinked it under the lock, so
        // this is its only owner; readers may still hold it, hence `retire`.
        #[allow(unsafe_code)]
        self.cell.rcu.retire(unsafe { Box::from_raw(old) });
    }
}

impl<T: Send + Sync + 'static, W, C: CpuOps> Drop for RcuCell<'_, T, W, C> {
    fn drop(&mut self) {
        let pointer = self.pointer.load(Ordering::Acquire);
        // SAFETY: `&mut self`: no reader or writer borrow lives; the pointer came from
        // `Box::into_raw` and is owned by `self`.
        #[allow(unsafe_code)]
        drop(unsafe { Box::from_raw(pointer) });
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::cpu::host::HostCpu;
    use core::sync::atomic::AtomicBool;

    struct Flagged<'a>(&'a AtomicBool);
    impl Drop for Flagged<'_> {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    #[test]
    fn grace_period_waits_for_online_cpu_and_skips_offline() {
        let rcu = Rcu::<HostCpu>::new();
        let gp = rcu.start_gp();
        assert!(rcu.gp_completed(gp), "no CPU online: immediate");
        rcu.online(1);
        let gp = rcu.start_gp();
        assert!(!rcu.gp_completed(gp), "CPU 1 has not reported");
        assert!(rcu.quiescent_state(1));
        assert!(rcu.gp_completed(gp));
        let gp = rcu.start_gp();
        rcu.offline(1);
        assert!(rcu.gp_completed(gp));
    }

    #[test]
    fn quiescent_state_inside_read_section_is_ignored() {
        let rcu = Rcu::<HostCpu>::new();
        let guard = rcu.read(2);
        let gp = rcu.start_gp();
        assert!(!rcu.quiescent_state(2));
        assert!(!rcu.gp_completed(gp));
        let inner = rcu.read(2);
        drop(inner);
        assert!(!rcu.quiescent_state(2), "still inside the outer section");
        drop(guard);
        assert!(rcu.quiescent_state(2));
        assert!(rcu.gp_completed(gp));
    }

    #[test]
    fn retired_object_freed_only_after_grace_period() {
        static FREED: AtomicBool = AtomicBool::new(false);
        let rcu = Rcu::<HostCpu>::new();
        let pointer = RcuPtr::new(&rcu, Some(Box::new(Flagged(&FREED))));
        let guard = rcu.read(0);
        let seen = pointer.load(&guard).expect("value");
        pointer.replace(None);
        rcu.reclaim();
        rcu.reclaim();
        assert!(!FREED.load(Ordering::SeqCst), "freed under a reader");
        assert!(!seen.0.load(Ordering::SeqCst));
        drop(guard);
        assert!(rcu.quiescent_state(0));
        rcu.reclaim();
        assert!(FREED.load(Ordering::SeqCst));
        assert_eq!(rcu.stats().pending, 0);
        assert_eq!(rcu.stats().freed, 1);
    }

    #[test]
    fn garbage_spans_at_most_two_batches() {
        let rcu = Rcu::<HostCpu>::new();
        rcu.online(0);
        for value in 0..10u32 {
            rcu.retire(Box::new(value));
        }
        // CPU 0 never reported: one batch waits, one accumulates.
        let stats = rcu.stats();
        assert_eq!(stats.pending, 10);
        rcu.quiescent_state(0);
        rcu.reclaim(); // frees the first batch (1 object), starts a grace period for the rest
        rcu.quiescent_state(0);
        rcu.reclaim();
        assert_eq!(rcu.stats().pending, 0);
    }

    #[test]
    fn synchronize_on_reports_own_cpu_and_waits_for_the_others() {
        let rcu = std::sync::Arc::new(Rcu::<HostCpu>::new());
        rcu.online(3);
        rcu.synchronize_on(3); // only CPU 3 online: its own report ends the grace period
        rcu.online(2);
        let waiter = {
            let rcu = rcu.clone();
            std::thread::spawn(move || {
                HostCpu::set_current(3);
                rcu.synchronize_on(3);
            })
        };
        std::thread::sleep(std::time::Duration::from_millis(100));
        assert!(!waiter.is_finished(), "synchronize_on returned while CPU 2 had not passed a quiescent state");
        while !waiter.is_finished() {
            rcu.quiescent_state(2);
            std::thread::yield_now();
        }
        waiter.join().unwrap();
        rcu.offline(3);
        rcu.offline(2);
        rcu.synchronize();
    }

    /// `synchronize` returns only after every read section that began before it has ended: a
    /// reader records the generation it saw on entry, and after the writer publishes a new one
    /// and synchronizes, no section that saw an older one may still be running.
    #[test]
    fn threads_synchronize() {
        use core::sync::atomic::AtomicU64;
        const NONE: u64 = u64::MAX;
        // Miri runs the same interleavings far slower: fewer, shorter rounds there.
        const ROUNDS: usize = if cfg!(miri) { 4 } else { 200 };
        const SPINS: usize = if cfg!(miri) { 20 } else { 1_000 };
        let rcu = std::sync::Arc::new(Rcu::<HostCpu>::new());
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let generation = std::sync::Arc::new(AtomicU64::new(0));
        let in_section = std::sync::Arc::new(AtomicU64::new(NONE));
        rcu.online(1);
        let reader = {
            let (rcu, stop) = (rcu.clone(), stop.clone());
            let (generation, in_section) = (generation.clone(), in_section.clone());
            std::thread::spawn(move || {
                HostCpu::set_current(1);
                while !stop.load(Ordering::SeqCst) {
                    let guard = rcu.read(1);
                    in_section.store(generation.load(Ordering::SeqCst), Ordering::SeqCst);
                    for _ in 0..SPINS * 5 {
                        core::hint::spin_loop(); // a long section, so a writer that does not wait meets it
                    }
                    in_section.store(NONE, Ordering::SeqCst);
                    drop(guard);
                    rcu.quiescent_state(1);
                }
                rcu.offline(1);
            })
        };
        while in_section.load(Ordering::SeqCst) == NONE {
            std::thread::yield_now(); // until the reader is running
        }
        for _ in 0..ROUNDS {
            for _ in 0..SPINS {
                core::hint::spin_loop(); // let the reader enter its next section
            }
            let new = generation.fetch_add(1, Ordering::SeqCst) + 1;
            rcu.synchronize();
            let seen = in_section.load(Ordering::SeqCst);
            assert!(seen == NONE || seen >= new, "a read section that saw generation {seen} outlived synchronize");
        }
        stop.store(true, Ordering::SeqCst);
        reader.join().unwrap();
    }
}
