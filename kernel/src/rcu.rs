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

mod owned;

pub use owned::{RcuCell, RcuCellWriter, RcuPtr};
use sync::{AtomicU32, AtomicU64, Ordering};

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

/// A retired object, dropped (and so freed) after a grace period.
type Retired = Box<dyn Send>;

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
        self.retire_boxed(object);
    }

    fn retire_boxed(&self, object: Retired) {
        let _irqs = sync::IrqsMasked::<C>::new();
        let mut garbage = self.garbage.lock();
        garbage.next.push(object);
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
                drop(retired);
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
            drop(retired);
        }
    }
}

/// What code outside the RCU layer needs of a domain to free an object it unlinked: the JIT
/// retires compiled code through it without naming the kernel's domain or its CPU type.
pub trait Retire {
    /// Drops `object` after a grace period; see [`Rcu::retire`].
    fn retire_object(&self, object: Box<dyn Send>);
}

impl<C: CpuOps> Retire for Rcu<C> {
    fn retire_object(&self, object: Box<dyn Send>) {
        self.retire_boxed(object);
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
