//! ARM generic timer: the EL1 physical timer as a per-core periodic tick, and `DelayNs`.
//!
//! The counter frequency is read from CNTFRQ_EL0 (62.5 MHz under QEMU, 54 MHz on a Pi 4),
//! never assumed.
//!
//! # Resources
//! - Arm Architecture Reference Manual for A-profile, chapter D11 "The Generic Timer".

/// INTID of the EL1 non-secure physical timer (CNTP) on every GIC board: PPI 14.
pub const CNTP_INTID: u32 = 30;
/// INTID of the virtual timer (CNTV): PPI 11.
pub const CNTV_INTID: u32 = 27;

/// Counter ticks in `interval_ns` at `frequency_hz`, at least 1.
pub const fn ticks_for_ns(frequency_hz: u64, interval_ns: u64) -> u64 {
    let ticks = (frequency_hz as u128 * interval_ns as u128 / 1_000_000_000) as u64;
    if ticks == 0 {
        1
    } else {
        ticks
    }
}

/// Nanoseconds in `ticks` counter ticks at `frequency_hz`.
pub const fn ns_for_ticks(frequency_hz: u64, ticks: u64) -> u64 {
    if frequency_hz == 0 {
        return 0;
    }
    (ticks as u128 * 1_000_000_000 / frequency_hz as u128) as u64
}

#[cfg(all(target_arch = "aarch64", target_os = "none"))]
mod hw {
    use super::{ns_for_ticks, ticks_for_ns};
    use aarch64_cpu::asm::barrier;
    use aarch64_cpu::registers::{CNTFRQ_EL0, CNTPCT_EL0, CNTP_CTL_EL0, CNTP_CVAL_EL0};
    use tock_registers::interfaces::{Readable, Writeable};

    /// The calling core's EL1 physical timer.
    #[derive(Debug, Clone, Copy, Default)]
    pub struct GenericTimer;

    impl GenericTimer {
        /// Counter frequency from CNTFRQ_EL0.
        pub fn frequency_hz(&self) -> u64 {
            CNTFRQ_EL0.get()
        }

        /// The physical count, ordered after earlier instructions.
        pub fn counter(&self) -> u64 {
            barrier::isb(barrier::SY);
            CNTPCT_EL0.get()
        }

        /// Nanoseconds since the counter started.
        pub fn uptime_ns(&self) -> u64 {
            ns_for_ticks(self.frequency_hz(), self.counter())
        }

        /// Arms the timer to fire `interval_ns` from now, interrupt unmasked. Returns the
        /// deadline in counter ticks, to be advanced by [`Self::rearm_after`].
        pub fn start_periodic(&self, interval_ns: u64) -> (u64, u64) {
            let interval = ticks_for_ns(self.frequency_hz(), interval_ns);
            let deadline = self.counter() + interval;
            CNTP_CVAL_EL0.set(deadline);
            CNTP_CTL_EL0.write(CNTP_CTL_EL0::ENABLE::SET + CNTP_CTL_EL0::IMASK::CLEAR);
            (deadline, interval)
        }

        /// Moves the deadline forward by whole intervals past now (drift-free; skips missed
        /// ticks). Returns the new deadline and how many intervals were skipped.
        pub fn rearm_after(&self, deadline: u64, interval: u64) -> (u64, u64) {
            let now = self.counter();
            let mut next = deadline + interval;
            let mut missed = 0;
            if next <= now {
                missed = (now - next) / interval + 1;
                next += missed * interval;
            }
            CNTP_CVAL_EL0.set(next);
            (next, missed)
        }

        /// Stops the timer.
        pub fn stop(&self) {
            CNTP_CTL_EL0.write(CNTP_CTL_EL0::ENABLE::CLEAR + CNTP_CTL_EL0::IMASK::SET);
        }
    }

    impl embedded_hal::delay::DelayNs for GenericTimer {
        fn delay_ns(&mut self, ns: u32) {
            let end = self.counter() + ticks_for_ns(self.frequency_hz(), u64::from(ns));
            while self.counter() < end {
                core::hint::spin_loop();
            }
        }
    }
}

#[cfg(all(target_arch = "aarch64", target_os = "none"))]
pub use hw::GenericTimer;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tick_conversions_use_the_real_frequency() {
        // QEMU: 62.5 MHz -> 1 ms = 62_500 ticks. Pi 4: 54 MHz -> 54_000 ticks.
        assert_eq!(ticks_for_ns(62_500_000, 1_000_000), 62_500);
        assert_eq!(ticks_for_ns(54_000_000, 1_000_000), 54_000);
        assert_eq!(ticks_for_ns(54_000_000, 1), 1, "never a zero interval");
        assert_eq!(ns_for_ticks(54_000_000, 54_000_000), 1_000_000_000);
        assert_eq!(ns_for_ticks(0, 5), 0);
    }
}
