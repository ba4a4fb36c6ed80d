//! UART receive path: the interrupt handler drains the PL011 FIFO into a ring buffer and
//! counts errors; the console takes bytes out of the ring.
//!
//! When the ring is full the receiver is held: bytes stay in the FIFO and the receive
//! interrupts are masked until the console has taken bytes out. Under QEMU that stops the
//! sender (its UART accepts no more than the FIFO holds), so nothing is lost however fast
//! bytes come; on hardware the FIFO then overflows and the loss shows up as `overruns`.

use crate::arch::aarch64::cpu::Aarch64Cpu;
use crate::cpu::CpuOps;
use core::sync::atomic::{AtomicU64, Ordering};
use heapless::Deque;

/// Bytes the ring holds; the receiver is held while it is full.
pub const RING_BYTES: usize = 8192;

static RING: spin::Mutex<Deque<u8, RING_BYTES>> = spin::Mutex::new(Deque::new());

/// Receive statistics, readable from any core.
pub struct UartStats {
    pub rx_bytes: AtomicU64,
    pub overruns: AtomicU64,
    pub framing_errors: AtomicU64,
    pub parity_errors: AtomicU64,
    pub breaks: AtomicU64,
    /// Bytes lost between the FIFO and the ring; stays 0 since the receiver is held instead.
    pub ring_drops: AtomicU64,
    /// Times the receiver was held because the ring was full.
    pub rx_holds: AtomicU64,
    pub interrupts: AtomicU64,
}

pub static STATS: UartStats = UartStats {
    rx_bytes: AtomicU64::new(0),
    overruns: AtomicU64::new(0),
    framing_errors: AtomicU64::new(0),
    parity_errors: AtomicU64::new(0),
    breaks: AtomicU64::new(0),
    ring_drops: AtomicU64::new(0),
    rx_holds: AtomicU64::new(0),
    interrupts: AtomicU64::new(0),
};

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// UART interrupt: move every received byte into the ring. Runs with IRQs masked.
pub fn handle_interrupt() {
    let Some(devices) = super::devices::get() else { return };
    bump(&STATS.interrupts);
    // Acknowledge first, then drain: a byte that lands after the last read raises a new
    // interrupt instead of being acknowledged unseen (QEMU raises RX only when the FIFO level
    // crosses the trigger, so a lost edge with a full FIFO would stall receive for good).
    devices.uart.clear_interrupts();
    drain(devices, &mut RING.lock());
}

/// True while the receiver is held (receive interrupts masked, bytes left in the FIFO).
static HELD: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

fn drain(devices: &super::devices::Devices, ring: &mut Deque<u8, RING_BYTES>) {
    loop {
        if ring.is_full() {
            if !HELD.swap(true, Ordering::Relaxed) {
                devices.uart.disable_rx_interrupts();
                bump(&STATS.rx_holds);
            }
            return;
        }
        let Some((byte, flags)) = devices.uart.read_byte() else { return };
        bump(&STATS.rx_bytes);
        if flags.overrun {
            bump(&STATS.overruns);
        }
        if flags.framing_error {
            bump(&STATS.framing_errors);
        }
        if flags.parity_error {
            bump(&STATS.parity_errors);
        }
        if flags.break_error {
            bump(&STATS.breaks);
        }
        if flags.byte_is_bad() {
            continue;
        }
        if ring.push_back(byte).is_err() {
            bump(&STATS.ring_drops);
        }
    }
}

/// Takes up to `out.len()` received bytes; returns how many.
pub fn read(out: &mut [u8]) -> usize {
    let irq = Aarch64Cpu::irq_save();
    let mut count = 0;
    {
        let mut ring = RING.lock();
        if ring.is_empty() {
            // Poll too, so receive keeps going even if an interrupt was missed; a held
            // receiver is released here (the drain above took at most a FIFO's worth, so the
            // ring has room).
            if let Some(devices) = super::devices::get() {
                drain(devices, &mut ring);
                if HELD.swap(false, Ordering::Relaxed) {
                    devices.uart.enable_rx_interrupts();
                }
            }
        }
        while count < out.len() {
            match ring.pop_front() {
                Some(byte) => {
                    out[count] = byte;
                    count += 1;
                }
                None => break,
            }
        }
    }
    Aarch64Cpu::irq_restore(irq);
    count
}
