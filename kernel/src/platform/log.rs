//! Kernel logging: whole lines to the UART, never interleaved between cores.

use crate::arch::aarch64::cpu::Aarch64Cpu;
use crate::cpu::CpuOps;
use core::fmt::{self, Write};
use core::sync::atomic::{AtomicBool, Ordering};
use kingly_drivers::pl011::Pl011;

/// Serializes writers; taken with interrupts masked so an IRQ handler can log too.
static LOCK: spin::Mutex<()> = spin::Mutex::new(());
/// Before the MMU is on, spin locks (exclusives) must not run: print unlocked (one core).
static LOCKS_USABLE: AtomicBool = AtomicBool::new(false);

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
    let board = super::boot::board();
    super::devices::early_uart(board)
}

/// Writes `args` as one uninterrupted piece of output: a log frame while a host speaks the
/// framed protocol, text on the UART otherwise.
pub fn write_fmt(args: fmt::Arguments<'_>) {
    let uart = uart();
    if LOCKS_USABLE.load(Ordering::Acquire) && super::serve::queue_log(args) {
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
