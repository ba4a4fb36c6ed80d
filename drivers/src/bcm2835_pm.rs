//! BCM2835-family power management block (PM): its watchdog resets the whole SoC.
//!
//! The BCM2711 (Pi 4) keeps the block of the first Pi. A full reset restarts the firmware,
//! which loads `kernel8.img` again: with the chainloader on the card, that is the way back
//! to the loader for the next upload. QEMU's `raspi4b` models the same reset.
//!
//! # Resources
//! - Linux `drivers/watchdog/bcm2835_wdt.c` (PM_RSTC, PM_WDOG, the 0x5a password, WRCFG).
//! - BCM2711: PM block at 0x7E100000 bus = 0xFE100000 ARM.

use crate::mmio::Mmio;
use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::register_structs;
use tock_registers::registers::ReadWrite;

register_structs! {
    #[allow(non_snake_case)]
    pub PmRegisters {
        (0x00 => _reserved0),
        (0x1c => RSTC: ReadWrite<u32>),
        (0x20 => _reserved1),
        (0x24 => WDOG: ReadWrite<u32>),
        (0x28 => @END),
    }
}

/// Every write to the block carries this in its top byte.
const PASSWORD: u32 = 0x5a00_0000;
/// RSTC.WRCFG: what the watchdog does when it expires.
const RSTC_WRCFG_MASK: u32 = 0x30;
const RSTC_WRCFG_FULL_RESET: u32 = 0x20;
/// WDOG counts 16 µs ticks in its low 20 bits.
const WDOG_TIME_MASK: u32 = 0x000f_ffff;

/// The power management block.
pub struct Bcm2835Pm {
    registers: Mmio<PmRegisters>,
}

impl Bcm2835Pm {
    /// The PM block at `base`.
    ///
    /// # Safety
    /// As [`Mmio::new`]: `base` is the PM block, mapped as device memory.
    pub const unsafe fn new(base: usize) -> Self {
        // SAFETY: forwarded to the caller.
        Self { registers: unsafe { Mmio::new(base) } }
    }

    /// Arms the watchdog to reset the SoC after `ticks` of 16 µs (at least one).
    pub fn full_reset_after(&self, ticks: u32) {
        let registers = &*self.registers;
        registers.WDOG.set(PASSWORD | (ticks.max(1) & WDOG_TIME_MASK));
        let rstc = registers.RSTC.get() & !RSTC_WRCFG_MASK;
        registers.RSTC.set(PASSWORD | (rstc & !0xff00_0000) | RSTC_WRCFG_FULL_RESET);
    }
}
