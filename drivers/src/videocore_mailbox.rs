//! VideoCore mailbox property interface (channel 8), used for the ARM memory size.
//!
//! # Resources
//! - Raspberry Pi firmware wiki, "Mailbox property interface" (tag 0x00010005 "Get ARM memory").
//! - BCM2711 mailbox 0 at 0x7E00B880 bus = 0xFE00B880 ARM.

use crate::mmio::Mmio;
use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::register_structs;
use tock_registers::registers::{ReadOnly, WriteOnly};

register_structs! {
    #[allow(non_snake_case)]
    pub MailboxRegisters {
        (0x00 => READ: ReadOnly<u32>),
        (0x04 => _reserved0),
        (0x18 => STATUS: ReadOnly<u32>),
        (0x1c => _reserved1),
        (0x20 => WRITE: WriteOnly<u32>),
        (0x24 => @END),
    }
}

const STATUS_FULL: u32 = 1 << 31;
const STATUS_EMPTY: u32 = 1 << 30;
const CHANNEL_PROPERTY: u32 = 8;
const REQUEST: u32 = 0;
const RESPONSE_OK: u32 = 0x8000_0000;
const TAG_GET_ARM_MEMORY: u32 = 0x0001_0005;
/// Most polls of the status register before the call is declared failed.
const POLL_LIMIT: u32 = 10_000_000;

/// Why a mailbox call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailboxError {
    /// The firmware did not answer in time.
    Timeout,
    /// The firmware answered without the success bit.
    Rejected(u32),
}

/// A property-call buffer: 16-byte aligned as the mailbox requires.
#[repr(C, align(16))]
pub struct PropertyBuffer(pub [u32; 8]);

impl PropertyBuffer {
    /// A "get ARM memory" request.
    pub const fn arm_memory_request() -> Self {
        Self([8 * 4, REQUEST, TAG_GET_ARM_MEMORY, 8, 0, 0, 0, 0])
    }

    /// (base, size) in bytes from an answered "get ARM memory" request.
    pub fn arm_memory(&self) -> Result<(u64, u64), MailboxError> {
        if self.0[1] != RESPONSE_OK {
            return Err(MailboxError::Rejected(self.0[1]));
        }
        Ok((u64::from(self.0[5]), u64::from(self.0[6])))
    }
}

/// Orders memory accesses around the mailbox handshake, for the CPU and the compiler.
fn memory_barrier() {
    #[cfg(target_arch = "aarch64")]
    aarch64_cpu::asm::barrier::dsb(aarch64_cpu::asm::barrier::SY);
    #[cfg(not(target_arch = "aarch64"))]
    core::sync::atomic::fence(core::sync::atomic::Ordering::SeqCst);
}

/// The ARM-to-VideoCore mailbox.
pub struct VideoCoreMailbox {
    registers: Mmio<MailboxRegisters>,
}

impl VideoCoreMailbox {
    /// # Safety
    /// `base` must be the VideoCore mailbox 0 block mapped as device memory.
    pub const unsafe fn new(base: usize) -> Self {
        // SAFETY: forwarded to the caller.
        Self { registers: unsafe { Mmio::new(base) } }
    }

    /// Runs a property call on `buffer`, whose address as the VideoCore sees it is
    /// `bus_address`. The buffer must not be cached (call with the MMU off, or clean and
    /// invalidate it around the call).
    pub fn property_call(&self, buffer: &mut PropertyBuffer, bus_address: u32) -> Result<(), MailboxError> {
        let r = &self.registers;
        let mut polls = 0;
        while r.STATUS.get() & STATUS_FULL != 0 {
            polls += 1;
            if polls > POLL_LIMIT {
                return Err(MailboxError::Timeout);
            }
        }
        // The request must be in memory before the VideoCore is told where it is.
        memory_barrier();
        r.WRITE.set((bus_address & !0xf) | CHANNEL_PROPERTY);
        loop {
            while r.STATUS.get() & STATUS_EMPTY != 0 {
                polls += 1;
                if polls > POLL_LIMIT {
                    return Err(MailboxError::Timeout);
                }
            }
            if r.READ.get() & 0xf == CHANNEL_PROPERTY {
                break;
            }
        }
        memory_barrier();
        // The firmware wrote the buffer behind the compiler's back: reload every word.
        for word in buffer.0.iter_mut() {
            // SAFETY: `word` is a valid, aligned, exclusively borrowed u32.
            *word = unsafe { core::ptr::read_volatile(word) };
        }
        Ok(())
    }
}
