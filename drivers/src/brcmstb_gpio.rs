//! Broadcom set-top-box GPIO (`brcm,brcmstb-gpio`), as on the BCM2712's always-on block
//! (`gio_aon`, Pi 5 ACT LED on line 9): banks of up to 32 lines, eight registers each.
//!
//! # Resources
//! - Linux `drivers/gpio/gpio-brcmstb.c`: bank stride 0x20; GIO_ODEN 0x00, GIO_DATA 0x04,
//!   GIO_IODIR 0x08 (1 = input), GIO_EC/EI/MASK/LEVEL/STAT 0x0c-0x1c.
//! - `bindings/gpio/brcm,brcmstb-gpio.yaml`: `brcm,gpio-bank-widths` (BCM2712 `gio_aon`: 17, 6).

use crate::mmio::Mmio;
use core::convert::Infallible;
use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::register_structs;
use tock_registers::registers::ReadWrite;

register_structs! {
    #[allow(non_snake_case)]
    pub GioBank {
        /// Open-drain enable, one bit per line.
        (0x00 => GIO_ODEN: ReadWrite<u32>),
        /// Line levels: read the input, write the output.
        (0x04 => GIO_DATA: ReadWrite<u32>),
        /// Direction, one bit per line: 1 = input, 0 = output.
        (0x08 => GIO_IODIR: ReadWrite<u32>),
        (0x0c => _interrupts),
        (0x20 => @END),
    }
}

/// Banks in one block (BCM2712 `gio` has 4, `gio_aon` 2).
pub const MAX_BANKS: usize = 4;
/// Lines per bank register.
pub const LINES_PER_BANK: u8 = 32;

/// A line number beyond the block's banks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoSuchLine(pub u8);

/// (bank, bit) of `line`, or an error past [`MAX_BANKS`] banks.
pub const fn bank_of(line: u8) -> Result<(usize, u32), NoSuchLine> {
    let bank = (line / LINES_PER_BANK) as usize;
    if bank >= MAX_BANKS {
        return Err(NoSuchLine(line));
    }
    Ok((bank, (line % LINES_PER_BANK) as u32))
}

/// One brcmstb GPIO block.
pub struct BrcmstbGpio {
    banks: Mmio<[GioBank; MAX_BANKS]>,
}

impl BrcmstbGpio {
    /// # Safety
    /// `base` must be a `brcm,brcmstb-gpio` block (Pi 5 `gio_aon`: 0x10_7D51_7C00) mapped as
    /// device memory. Concurrent read-modify-write of a bank from several cores must be
    /// serialized by the caller.
    pub const unsafe fn new(base: usize) -> Self {
        // SAFETY: forwarded to the caller.
        Self { banks: unsafe { Mmio::new(base) } }
    }

    /// Makes `line` a push-pull output driving `high`, and returns it as an embedded-hal pin.
    pub fn output(&self, line: u8, high: bool) -> Result<OutputPin<'_>, NoSuchLine> {
        let (bank, bit) = bank_of(line)?;
        let registers = &self.banks[bank];
        // Set the level first so the line never glitches to the other state.
        self.write(line, high)?;
        registers.GIO_ODEN.set(registers.GIO_ODEN.get() & !(1 << bit));
        registers.GIO_IODIR.set(registers.GIO_IODIR.get() & !(1 << bit));
        Ok(OutputPin { gpio: self, line })
    }

    fn write(&self, line: u8, high: bool) -> Result<(), NoSuchLine> {
        let (bank, bit) = bank_of(line)?;
        let data = &self.banks[bank].GIO_DATA;
        let value = if high { data.get() | (1 << bit) } else { data.get() & !(1 << bit) };
        data.set(value);
        Ok(())
    }
}

/// A brcmstb GPIO line configured as an output.
pub struct OutputPin<'a> {
    gpio: &'a BrcmstbGpio,
    line: u8,
}

impl embedded_hal::digital::ErrorType for OutputPin<'_> {
    type Error = Infallible;
}

impl embedded_hal::digital::OutputPin for OutputPin<'_> {
    fn set_low(&mut self) -> Result<(), Infallible> {
        // `output` checked the line.
        let _ = self.gpio.write(self.line, false);
        Ok(())
    }

    fn set_high(&mut self) -> Result<(), Infallible> {
        let _ = self.gpio.write(self.line, true);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_map_to_banks_of_32() {
        // The Pi 5 ACT LED: gio_aon line 9 is bank 0, bit 9.
        assert_eq!(bank_of(9), Ok((0, 9)));
        // gio_aon's second bank (6 lines) starts at line 32.
        assert_eq!(bank_of(33), Ok((1, 1)));
        assert_eq!(bank_of(127), Ok((3, 31)));
        assert_eq!(bank_of(128), Err(NoSuchLine(128)));
    }

    #[test]
    fn bank_layout_follows_the_linux_driver() {
        assert_eq!(core::mem::size_of::<GioBank>(), 0x20);
        assert_eq!(core::mem::offset_of!(GioBank, GIO_DATA), 0x04);
        assert_eq!(core::mem::offset_of!(GioBank, GIO_IODIR), 0x08);
    }
}
