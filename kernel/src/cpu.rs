//! The CPU operations that portable kernel code (RCU, per-CPU data, the decision cache) is
//! generic over, so the same code runs on host threads in tests and on the cores in the kernel.

/// Most cores any supported board has (Pi 4 and Pi 5: four Cortex-A7x cores).
pub const MAX_CPUS: usize = 4;

/// MPIDR_EL1.MT: the lowest affinity level numbers threads, so Aff1 numbers the cores
/// (Cortex-A76 on the Pi 5 sets it with Aff0 = 0; the Pi 4's Cortex-A72 and QEMU clear it).
pub const MPIDR_MT: u64 = 1 << 24;

/// The core index `boot/src/entry.s` (`core_index`) derives from MPIDR_EL1: Aff0, or Aff1
/// when MT is set. Mirrored here so the board tables can be checked against it.
pub const fn core_index(mpidr: u64) -> usize {
    let affinity = if mpidr & MPIDR_MT != 0 { mpidr >> 8 } else { mpidr };
    (affinity & 0xff) as usize
}

/// What portable code may ask of the CPU it runs on.
///
/// Implemented by the aarch64 arch layer in the kernel and by [`host::HostCpu`] in host tests.
pub trait CpuOps: 'static {
    /// Index of the calling CPU, `0..MAX_CPUS`.
    fn cpu_id() -> usize;
    /// Masks interrupts on the calling CPU and returns the previous state for [`Self::irq_restore`].
    fn irq_save() -> usize;
    /// Restores the interrupt state returned by [`Self::irq_save`].
    fn irq_restore(state: usize);
    /// A hint that the caller is spinning (`yield` on aarch64, `spin_loop` on the host).
    fn relax() {
        core::hint::spin_loop();
    }
}

/// Host implementation: each test thread declares which "CPU" it is.
#[cfg(not(target_os = "none"))]
pub mod host {
    use super::{CpuOps, MAX_CPUS};
    use core::cell::Cell;

    std::thread_local! {
        static CPU_ID: Cell<usize> = const { Cell::new(0) };
    }

    /// CPU operations backed by a thread-local CPU index.
    pub struct HostCpu;

    impl HostCpu {
        /// Declares that the calling thread is CPU `id` from now on.
        ///
        /// # Panics
        /// If `id >= MAX_CPUS`.
        pub fn set_current(id: usize) {
            assert!(id < MAX_CPUS, "cpu id {id} out of range (MAX_CPUS = {MAX_CPUS})");
            CPU_ID.with(|c| c.set(id));
        }
    }

    impl CpuOps for HostCpu {
        fn cpu_id() -> usize {
            CPU_ID.with(|c| c.get())
        }
        fn irq_save() -> usize {
            0
        }
        fn irq_restore(_state: usize) {}
    }
}
