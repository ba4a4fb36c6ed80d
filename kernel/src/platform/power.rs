//! Power: rebooting the board, and ending the kernel with a status (semihosting, PSCI or a
//! blinking LED).

use super::{devices, state};
use crate::arch::aarch64::cpu::{self, Aarch64Cpu};
use crate::arch::aarch64::{psci, semihosting};
use crate::board;
use crate::cpu::CpuOps;
use crate::kprintln;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use kingly_drivers::generic_timer::GenericTimer;

static SEMIHOSTING: AtomicBool = AtomicBool::new(false);
static ENTRY_EL: AtomicU64 = AtomicU64::new(0);

/// Records how the kernel was entered: the exception level (which PSCI conduit to use) and
/// whether the host speaks semihosting (how to exit).
pub fn init(entry_el: u64, semihosting: bool) {
    ENTRY_EL.store(entry_el, Ordering::Relaxed);
    SEMIHOSTING.store(semihosting, Ordering::Relaxed);
}

/// Resets the board: through the PM watchdog where it has one (Pi 4, QEMU `raspi4b`), else
/// through PSCI SYSTEM_RESET where the cores start through PSCI (Pi 5's TF-A, `virt`). The
/// firmware then starts the card's kernel file again: the chainloader on a `kingly image
/// --chainload` card. Returns, having said why, only if neither way exists or works.
pub fn reboot() {
    kprintln!("kingly: rebooting");
    if let Some(d) = devices::get() {
        d.uart.flush();
    }
    if let Some(pm_base) = state::board().pm_base {
        Aarch64Cpu::irq_save();
        // SAFETY: the board table's PM block, inside the device-mapped region; nothing else
        // touches it, and the reset it asks for is the point.
        let pm = unsafe { kingly_drivers::bcm2835_pm::Bcm2835Pm::new(pm_base as usize) };
        pm.full_reset_after(10);
        cpu::halt()
    }
    if matches!(state::board().secondary_start, board::SecondaryStart::Psci { .. }) {
        let status = psci::system_reset(psci::Conduit::for_entry_el(ENTRY_EL.load(Ordering::Relaxed)));
        kprintln!("reboot: PSCI SYSTEM_RESET failed with status {status}; power-cycle the board");
        return;
    }
    kprintln!("reboot: {} has neither a watchdog nor PSCI; power-cycle it", state::board().name);
}

/// Ends the kernel with `status`: through semihosting under `kingly boot`, PSCI SYSTEM_OFF
/// on virt, otherwise by stopping every core with the ACT LED blinking the status.
pub fn exit(status: u32) -> ! {
    if let Some(d) = devices::get() {
        d.uart.flush();
    }
    if SEMIHOSTING.load(Ordering::Relaxed) {
        semihosting::exit(status);
    }
    // Without semihosting (a real board, `kingly boot --chainload`) the host reads the status here.
    kprintln!("kingly exit: status={status}");
    if let Some(d) = devices::get() {
        d.uart.flush();
    }
    if state::board().act_led.is_none() && status == 0 {
        psci::system_off(psci::Conduit::for_entry_el(ENTRY_EL.load(Ordering::Relaxed)));
    }
    blink_forever(status)
}

fn blink_forever(status: u32) -> ! {
    use embedded_hal::delay::DelayNs;
    Aarch64Cpu::irq_save();
    let Some(led) = devices::get().and_then(|d| d.act_led.as_ref()) else { cpu::halt() };
    let mut delay = GenericTimer;
    loop {
        for _ in 0..status.max(1) {
            led.set(true);
            delay.delay_ms(200);
            led.set(false);
            delay.delay_ms(200);
        }
        delay.delay_ms(1000);
    }
}
