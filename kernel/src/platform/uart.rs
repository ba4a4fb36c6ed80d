//! UART receive path: the interrupt handler drains the PL011 FIFO into a ring buffer and
//! counts errors; the console takes bytes out of the ring.

use crate::arch::aarch64::cpu::Aarch64Cpu;
use crate::cpu::CpuOps;
use core::sync::atomic::{AtomicU64, Ordering};
use heapless::Deque;

/// Bytes the ring holds; more arriving before the console drains them are dropped and counted.
pub const RING_BYTES: usize = 8192;

static RING: spin::Mutex<Deque<u8, RING_BYTES>> = spin::Mutex::new(Deque::new());

/// Receive statistics, readable from any core.
pub struct UartStats {
    pub rx_bytes: AtomicU64,
    pub overruns: AtomicU64,
    pub framing_errors: AtomicU64,
    pub parity_errors: AtomicU64,
    pub breaks: AtomicU64,
    pub ring_drops: AtomicU64,
    pub interrupts: AtomicU64,
}

pub static STATS: UartStats = UartStats {
    rx_bytes: AtomicU64::new(0),
    overruns: AtomicU64::new(0),
    framing_errors: AtomicU64::new(0),
    parity_errors: AtomicU64::new(0),
    breaks: AtomicU64::new(0),
    ring_drops: AtomicU64::new(0),
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

fn drain(devices: &super::devices::Devices, ring: &mut Deque<u8, RING_BYTES>) {
    while let Some((byte, flags)) = devices.uart.read_byte() {
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
            // Poll too, so receive keeps going even if an interrupt was missed.
            if let Some(devices) = super::devices::get() {
                drain(devices, &mut ring);
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
