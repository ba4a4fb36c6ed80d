//! Kernel logging: whole lines to the UART, never interleaved between cores, or, while a host
//! speaks the framed protocol, into a queue the port's loop sends as log frames.

use super::{devices, state};
use crate::arch::aarch64::cpu::Aarch64Cpu;
use crate::cpu::CpuOps;
use core::fmt::{self, Write};
use core::sync::atomic::{AtomicBool, Ordering};
use kingly_drivers::pl011::Pl011;

/// Serializes writers; taken with interrupts masked so an IRQ handler can log too.
static LOCK: spin::Mutex<()> = spin::Mutex::new(());
/// Before the MMU is on, spin locks (exclusives) must not run: print unlocked (one core).
static LOCKS_USABLE: AtomicBool = AtomicBool::new(false);

/// While set, log lines go to the port as log frames instead of raw text on the UART.
static FRAMED: AtomicBool = AtomicBool::new(false);
/// Longest log line kept whole; longer ones are cut.
pub const LINE_BYTES: usize = 240;
/// Lines waiting for the port, oldest first; when full, the oldest is dropped.
static QUEUE: spin::Mutex<heapless::Deque<heapless::String<LINE_BYTES>, 64>> = spin::Mutex::new(heapless::Deque::new());

struct UartWriter<'a>(&'a Pl011);

impl Write for UartWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.write_text(s);
        Ok(())
    }
}

/// Called once the MMU and caches are on.
pub fn locks_usable() {
    LOCKS_USABLE.store(true, Ordering::Release);
}

fn uart() -> Pl011 {
    devices::early_uart(state::board())
}

/// Sends log lines to the port's queue (`true`) or as text to the UART (`false`).
pub fn set_framed(framed: bool) {
    FRAMED.store(framed, Ordering::Release);
}

/// The oldest queued log line, if any.
pub fn pop_queued() -> Option<heapless::String<LINE_BYTES>> {
    let irq = Aarch64Cpu::irq_save();
    let line = QUEUE.lock().pop_front();
    Aarch64Cpu::irq_restore(irq);
    line
}

/// Queues a log line for the port when a host speaks the framed protocol. Returns false when
/// the caller should print it as text instead.
fn queue(args: fmt::Arguments<'_>) -> bool {
    if !FRAMED.load(Ordering::Acquire) {
        return false;
    }
    let mut line = heapless::String::<LINE_BYTES>::new();
    let _ = line.write_fmt(args);
    let irq = Aarch64Cpu::irq_save();
    {
        let mut queue = QUEUE.lock();
        if queue.is_full() {
            queue.pop_front();
        }
        let _ = queue.push_back(line);
    }
    Aarch64Cpu::irq_restore(irq);
    true
}

/// Writes `args` as one uninterrupted piece of output: a log frame while a host speaks the
/// framed protocol, text on the UART otherwise.
pub fn write_fmt(args: fmt::Arguments<'_>) {
    let uart = uart();
    if LOCKS_USABLE.load(Ordering::Acquire) && queue(args) {
        return;
    }
    if !LOCKS_USABLE.load(Ordering::Acquire) {
        let _ = UartWriter(&uart).write_fmt(args);
        return;
    }
    let irq = Aarch64Cpu::irq_save();
    {
        let _guard = LOCK.lock();
        let _ = UartWriter(&uart).write_fmt(args);
    }
    Aarch64Cpu::irq_restore(irq);
}

/// Writes raw bytes (an encoded frame) without interleaving with other output.
pub fn write_bytes(bytes: &[u8]) {
    let uart = uart();
    let irq = Aarch64Cpu::irq_save();
    {
        let _guard = LOCK.lock();
        for byte in bytes {
            uart.write_byte(*byte);
        }
    }
    Aarch64Cpu::irq_restore(irq);
}

/// For the panic path: take the lock if it frees up soon, else write anyway.
pub fn write_fmt_panicking(args: fmt::Arguments<'_>) {
    let uart = uart();
    if !LOCKS_USABLE.load(Ordering::Acquire) {
        let _ = UartWriter(&uart).write_fmt(args);
        return;
    }
    for _ in 0..1_000_000 {
        if let Some(_guard) = LOCK.try_lock() {
            let _ = UartWriter(&uart).write_fmt(args);
            return;
        }
        core::hint::spin_loop();
    }
    let _ = UartWriter(&uart).write_fmt(args);
}

/// Prints a line to the kernel log.
#[macro_export]
macro_rules! kprintln {
    ($($arg:tt)*) => {
        $crate::platform::log::write_fmt(format_args!("{}\n", format_args!($($arg)*)))
    };
}
