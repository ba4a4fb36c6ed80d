//! BCM2711 GPIO: function select, and embedded-hal 1.0 output pins (e.g. the ACT LED, GPIO42).
//!
//! # Resources
//! - BCM2711 ARM Peripherals, chapter 5 "General Purpose I/O (GPIO)" (GPFSELn, GPSETn, GPCLRn,
//!   GPIO_PUP_PDN_CNTRL_REGn).

use crate::mmio::Mmio;
use core::convert::Infallible;
use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::register_structs;
use tock_registers::registers::{ReadWrite, WriteOnly};

register_structs! {
    #[allow(non_snake_case)]
    pub GpioRegisters {
        (0x00 => GPFSEL: [ReadWrite<u32>; 6]),
        (0x18 => _reserved0),
        (0x1c => GPSET: [WriteOnly<u32>; 2]),
        (0x24 => _reserved1),
        (0x28 => GPCLR: [WriteOnly<u32>; 2]),
        (0x30 => _reserved2),
        (0xe4 => GPIO_PUP_PDN_CNTRL_REG: [ReadWrite<u32>; 4]),
        (0xf4 => @END),
    }
}

/// Number of GPIO lines on the BCM2711 (bank 0 and 1).
pub const PIN_COUNT: u8 = 58;

/// Pin function, GPFSEL encoding (BCM2711 Peripherals §5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Function {
    Input = 0b000,
    Output = 0b001,
    Alt0 = 0b100,
    Alt1 = 0b101,
    Alt2 = 0b110,
    Alt3 = 0b111,
    Alt4 = 0b011,
    Alt5 = 0b010,
}

/// Pull resistor, GPIO_PUP_PDN_CNTRL encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Pull {
    None = 0b00,
    Up = 0b01,
    Down = 0b10,
}

/// A pin number outside 0..58.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoSuchPin(pub u8);

/// (register index, bit shift) of a pin's field in a register array with `bits` per pin.
pub const fn field_of(pin: u8, bits: u32) -> (usize, u32) {
    let per_register = 32 / bits;
    ((pin as u32 / per_register) as usize, (pin as u32 % per_register) * bits)
}

/// The BCM2711 GPIO block.
pub struct Bcm2711Gpio {
    registers: Mmio<GpioRegisters>,
}

impl Bcm2711Gpio {
    /// # Safety
    /// `base` must be the BCM2711 GPIO block (0xFE200000 in the low-peripheral map) mapped as
    /// device memory. Concurrent read-modify-write of GPFSEL from several cores must be
    /// serialized by the caller.
    pub const unsafe fn new(base: usize) -> Self {
        // SAFETY: forwarded to the caller.
        Self { registers: unsafe { Mmio::new(base) } }
    }

    /// Selects the function of `pin`.
    pub fn set_function(&self, pin: u8, function: Function) -> Result<(), NoSuchPin> {
        if pin >= PIN_COUNT {
            return Err(NoSuchPin(pin));
        }
        let (index, shift) = field_of(pin, 3);
        let register = &self.registers.GPFSEL[index];
        let value = register.get() & !(0b111 << shift);
        register.set(value | ((function as u32) << shift));
        Ok(())
    }

    /// Sets the pull resistor of `pin`.
    pub fn set_pull(&self, pin: u8, pull: Pull) -> Result<(), NoSuchPin> {
        if pin >= PIN_COUNT {
            return Err(NoSuchPin(pin));
        }
        let (index, shift) = field_of(pin, 2);
        let register = &self.registers.GPIO_PUP_PDN_CNTRL_REG[index];
        let value = register.get() & !(0b11 << shift);
        register.set(value | ((pull as u32) << shift));
        Ok(())
    }

    /// Routes GPIO14/15 to UART0 TXD0/RXD0 (ALT0), as real boards need and QEMU ignores.
    pub fn route_uart0(&self) {
        for pin in [14, 15] {
            // Both pins exist: PIN_COUNT is 58.
            let _ = self.set_function(pin, Function::Alt0);
            let _ = self.set_pull(pin, Pull::None);
        }
    }

    /// Makes `pin` an output and returns it as an embedded-hal `OutputPin`.
    pub fn output(&self, pin: u8) -> Result<OutputPin<'_>, NoSuchPin> {
        self.set_function(pin, Function::Output)?;
        Ok(OutputPin { gpio: self, pin })
    }

    fn write(&self, pin: u8, high: bool) {
        let (index, shift) = field_of(pin, 1);
        let bit = 1 << shift;
        if high {
            self.registers.GPSET[index].set(bit);
        } else {
            self.registers.GPCLR[index].set(bit);
        }
    }
}

/// A GPIO configured as an output.
pub struct OutputPin<'a> {
    gpio: &'a Bcm2711Gpio,
    pin: u8,
}

impl embedded_hal::digital::ErrorType for OutputPin<'_> {
    type Error = Infallible;
}

impl embedded_hal::digital::OutputPin for OutputPin<'_> {
    fn set_low(&mut self) -> Result<(), Infallible> {
        self.gpio.write(self.pin, false);
        Ok(())
    }

    fn set_high(&mut self) -> Result<(), Infallible> {
        self.gpio.write(self.pin, true);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::field_of;

    #[test]
    fn fields_follow_the_datasheet() {
        // GPIO14 is GPFSEL1 bits 12-14; GPIO15 bits 15-17; GPIO42 (ACT LED) GPFSEL4 bits 6-8.
        assert_eq!(field_of(14, 3), (1, 12));
        assert_eq!(field_of(15, 3), (1, 15));
        assert_eq!(field_of(42, 3), (4, 6));
        // GPIO42 is bit 10 of GPSET1; its pull field is bits 20-21 of GPIO_PUP_PDN_CNTRL_REG2.
        assert_eq!(field_of(42, 1), (1, 10));
        assert_eq!(field_of(42, 2), (2, 20));
    }
}
