//! ARM PrimeCell UART (PL011): polled transmit, interrupt-driven receive.
//!
//! # Resources
//! - ARM PrimeCell UART (PL011) Technical Reference Manual, r1p5, chapter 3 "Programmers Model".
//! - BCM2711 ARM Peripherals, chapter 11 "UART" (UART0 at 0x7E201000 bus = 0xFE201000 ARM).

use crate::mmio::Mmio;
use tock_registers::interfaces::{ReadWriteable, Readable, Writeable};
use tock_registers::registers::{ReadOnly, ReadWrite, WriteOnly};
use tock_registers::{register_bitfields, register_structs};

register_bitfields! {
    u32,
    /// Data Register.
    DR [
        /// Overrun error: data received while the FIFO was full.
        OE OFFSET(11) NUMBITS(1) [],
        /// Break error: RX held low longer than a full character.
        BE OFFSET(10) NUMBITS(1) [],
        /// Parity error.
        PE OFFSET(9) NUMBITS(1) [],
        /// Framing error: no valid stop bit.
        FE OFFSET(8) NUMBITS(1) [],
        /// Received or to-be-transmitted character.
        DATA OFFSET(0) NUMBITS(8) []
    ],
    /// Flag Register.
    FR [
        /// Transmit FIFO full.
        TXFF OFFSET(5) NUMBITS(1) [],
        /// Receive FIFO empty.
        RXFE OFFSET(4) NUMBITS(1) [],
        /// UART busy transmitting.
        BUSY OFFSET(3) NUMBITS(1) []
    ],
    /// Line Control Register.
    LCR_H [
        /// Word length.
        WLEN OFFSET(5) NUMBITS(2) [
            EightBit = 0b11
        ],
        /// Enable FIFOs.
        FEN OFFSET(4) NUMBITS(1) []
    ],
    /// Control Register.
    CR [
        /// Receive enable.
        RXE OFFSET(9) NUMBITS(1) [],
        /// Transmit enable.
        TXE OFFSET(8) NUMBITS(1) [],
        /// UART enable.
        UARTEN OFFSET(0) NUMBITS(1) []
    ],
    /// Interrupt FIFO Level Select Register.
    IFLS [
        /// Receive interrupt FIFO level select.
        RXIFLSEL OFFSET(3) NUMBITS(3) [
            OneEighth = 0b000,
            OneQuarter = 0b001,
            OneHalf = 0b010
        ]
    ],
    /// Interrupt mask, raw status, masked status and clear registers share this layout.
    INT [
        /// Overrun error interrupt.
        OE OFFSET(10) NUMBITS(1) [],
        /// Break error interrupt.
        BE OFFSET(9) NUMBITS(1) [],
        /// Parity error interrupt.
        PE OFFSET(8) NUMBITS(1) [],
        /// Framing error interrupt.
        FE OFFSET(7) NUMBITS(1) [],
        /// Receive timeout interrupt.
        RT OFFSET(6) NUMBITS(1) [],
        /// Transmit interrupt.
        TX OFFSET(5) NUMBITS(1) [],
        /// Receive interrupt.
        RX OFFSET(4) NUMBITS(1) []
    ]
}

register_structs! {
    #[allow(non_snake_case)]
    pub Pl011Registers {
        (0x00 => DR: ReadWrite<u32, DR::Register>),
        (0x04 => RSRECR: ReadWrite<u32>),
        (0x08 => _reserved0),
        (0x18 => FR: ReadOnly<u32, FR::Register>),
        (0x1c => _reserved1),
        (0x24 => IBRD: WriteOnly<u32>),
        (0x28 => FBRD: WriteOnly<u32>),
        (0x2c => LCR_H: ReadWrite<u32, LCR_H::Register>),
        (0x30 => CR: ReadWrite<u32, CR::Register>),
        (0x34 => IFLS: ReadWrite<u32, IFLS::Register>),
        (0x38 => IMSC: ReadWrite<u32, INT::Register>),
        (0x3c => RIS: ReadOnly<u32, INT::Register>),
        (0x40 => MIS: ReadOnly<u32, INT::Register>),
        (0x44 => ICR: WriteOnly<u32, INT::Register>),
        (0x48 => @END),
    }
}

/// What the receiver reported with a byte, as flagged in DR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RxFlags {
    /// The FIFO was full and at least one byte was lost before this one.
    pub overrun: bool,
    /// The line was held low (break condition).
    pub break_error: bool,
    /// No valid stop bit.
    pub framing_error: bool,
    /// Parity mismatch.
    pub parity_error: bool,
}

impl RxFlags {
    /// True when the byte itself is not trustworthy (framing, break or parity).
    pub fn byte_is_bad(&self) -> bool {
        self.break_error || self.framing_error || self.parity_error
    }
}

/// Divisors for the baud-rate generator: `clock / (16 * baud)` as 16.6 fixed point.
///
/// Returns `(IBRD, FBRD)`. See the PL011 TRM §3.3.6.
pub const fn baud_divisors(clock_hz: u32, baud: u32) -> (u32, u32) {
    // 64 * clock / (16 * baud) = 4 * clock / baud, rounded to nearest.
    let scaled = (4 * clock_hz as u64 + baud as u64 / 2) / baud as u64;
    ((scaled >> 6) as u32, (scaled & 0x3f) as u32)
}

/// A PL011 UART.
pub struct Pl011 {
    registers: Mmio<Pl011Registers>,
}

impl Pl011 {
    /// # Safety
    /// `base` must be the address of a PL011 mapped as device memory, and only one `Pl011`
    /// per device may configure it (others may share it once configured).
    pub const unsafe fn new(base: usize) -> Self {
        // SAFETY: forwarded to the caller.
        Self { registers: unsafe { Mmio::new(base) } }
    }

    /// Resets the UART to 8N1 at `baud`, FIFOs on, receive interrupts masked.
    pub fn init(&self, clock_hz: u32, baud: u32) {
        let r = &self.registers;
        // Wait for the transmitter to drain before changing the line settings (TRM §3.3.8).
        while r.FR.is_set(FR::BUSY) {}
        r.CR.set(0);
        r.ICR.set(0x7ff);
        let (ibrd, fbrd) = baud_divisors(clock_hz, baud);
        r.IBRD.set(ibrd);
        r.FBRD.set(fbrd);
        r.LCR_H.write(LCR_H::WLEN::EightBit + LCR_H::FEN::SET);
        r.IFLS.write(IFLS::RXIFLSEL::OneEighth);
        r.IMSC.set(0);
        r.CR.write(CR::UARTEN::SET + CR::TXE::SET + CR::RXE::SET);
    }

    /// Unmasks the receive, receive-timeout and error interrupts.
    pub fn enable_rx_interrupts(&self) {
        self.registers
            .IMSC
            .modify(INT::RX::SET + INT::RT::SET + INT::OE::SET + INT::BE::SET + INT::FE::SET + INT::PE::SET);
    }

    /// Masks the receive interrupts again. Bytes stay in the FIFO; once it is full, QEMU holds
    /// the sender back, and real hardware counts overruns (or stops the sender with RTS/CTS).
    pub fn disable_rx_interrupts(&self) {
        self.registers.IMSC.modify(
            INT::RX::CLEAR + INT::RT::CLEAR + INT::OE::CLEAR + INT::BE::CLEAR + INT::FE::CLEAR + INT::PE::CLEAR,
        );
    }

    /// Writes one byte, waiting while the transmit FIFO is full.
    pub fn write_byte(&self, byte: u8) {
        while self.registers.FR.is_set(FR::TXFF) {
            core::hint::spin_loop();
        }
        self.registers.DR.set(byte as u32);
    }

    /// Writes all bytes, translating `\n` to `\r\n`.
    pub fn write_text(&self, text: &str) {
        for byte in text.bytes() {
            if byte == b'\n' {
                self.write_byte(b'\r');
            }
            self.write_byte(byte);
        }
    }

    /// Waits until the last byte has left the shift register.
    pub fn flush(&self) {
        while self.registers.FR.is_set(FR::BUSY) {
            core::hint::spin_loop();
        }
    }

    /// Takes one received byte and its error flags, if the FIFO holds one.
    pub fn read_byte(&self) -> Option<(u8, RxFlags)> {
        let r = &self.registers;
        if r.FR.is_set(FR::RXFE) {
            return None;
        }
        let dr = r.DR.extract();
        let flags = RxFlags {
            overrun: dr.is_set(DR::OE),
            break_error: dr.is_set(DR::BE),
            framing_error: dr.is_set(DR::FE),
            parity_error: dr.is_set(DR::PE),
        };
        Some((dr.read(DR::DATA) as u8, flags))
    }

    /// Acknowledges every pending interrupt; call after draining the FIFO.
    pub fn clear_interrupts(&self) {
        self.registers.ICR.set(0x7ff);
    }
}

#[cfg(test)]
mod tests {
    use super::baud_divisors;

    #[test]
    fn divisors_match_the_trm_example_and_the_pi_clock() {
        // TRM §3.3.6: 4 MHz, 230400 baud -> IBRD 1, FBRD 5.
        assert_eq!(baud_divisors(4_000_000, 230_400), (1, 5));
        // Pi 4 firmware with enable_uart=1: 48 MHz UART clock, 115200 baud -> 26.0417.
        assert_eq!(baud_divisors(48_000_000, 115_200), (26, 3));
    }
}
