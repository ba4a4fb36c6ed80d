//! The virtio console on QEMU `virt`: found by probing the virtio-mmio transports, its
//! interrupt routed to core 0, its bytes carried for the message port (see [`super::link`]).

use super::devices::Devices;
use crate::arch::aarch64::cpu::Aarch64Cpu;
use crate::cpu::CpuOps;
use crate::kprintln;
use core::sync::atomic::{AtomicU32, Ordering};
use kingly_drivers::virtio_console::{self, ConsoleStats, QueueMemory, VirtioConsole, VirtioError};

#[cfg(feature = "board-virt")]
const WINDOW: Option<crate::board::VirtioMmioWindow> = Some(crate::board::virt::VIRTIO_MMIO);
#[cfg(not(feature = "board-virt"))]
const WINDOW: Option<crate::board::VirtioMmioWindow> = None;

static RECEIVE_MEMORY: QueueMemory = QueueMemory::new();
static TRANSMIT_MEMORY: QueueMemory = QueueMemory::new();
static CONSOLE: spin::Once<spin::Mutex<VirtioConsole>> = spin::Once::new();
/// The console's interrupt; 0 while there is none.
static INTID: AtomicU32 = AtomicU32::new(0);

/// Looks for a virtio console on the board's transports and starts it. Core 0, once, after
/// the GIC is set up and the MMU is on.
pub fn init(devices: &Devices) {
    let Some(window) = WINDOW else { return };
    for slot in 0..window.count {
        let base = (window.base + window.stride * u64::from(slot)) as usize;
        // SAFETY: the board table's virtio-mmio window, mapped as device memory; reading the
        // magic and device ID of any slot has no side effects.
        match unsafe { virtio_console::probe(base) } {
            Ok(virtio_console::DEVICE_ID_CONSOLE) => {}
            _ => continue,
        }
        // SAFETY: a console transport that nothing else drives (CONSOLE is set once); the queue
        // memory is in the identity-mapped kernel image.
        match unsafe { VirtioConsole::new(base, &RECEIVE_MEMORY, &TRANSMIT_MEMORY) } {
            Ok(console) => {
                let intid = window.first_intid + slot;
                CONSOLE.call_once(|| spin::Mutex::new(console));
                INTID.store(intid, Ordering::Release);
                devices.gic.enable(intid, 0x80, 0b1);
                kprintln!("virtio console: slot {slot} at {base:#x}, INTID {intid}; message port on it");
            }
            Err(error) => report(slot, error),
        }
        return;
    }
}

fn report(slot: u32, error: VirtioError) {
    kprintln!("virtio console in slot {slot} not used: {error}");
}

/// The console's interrupt number, if a console is running.
pub fn intid() -> Option<u32> {
    match INTID.load(Ordering::Acquire) {
        0 => None,
        intid => Some(intid),
    }
}

/// True when a virtio console is running.
pub fn present() -> bool {
    CONSOLE.get().is_some()
}

/// Runs `f` on the console with interrupts masked (the interrupt handler takes it too).
fn with_console<T>(f: impl FnOnce(&mut VirtioConsole) -> T) -> Option<T> {
    let console = CONSOLE.get()?;
    let irq = Aarch64Cpu::irq_save();
    let result = f(&mut console.lock());
    Aarch64Cpu::irq_restore(irq);
    Some(result)
}

/// Interrupt: acknowledge it; the main loop, woken from WFI, takes the data.
pub fn handle_interrupt() {
    with_console(|console| console.acknowledge_interrupt());
}

/// Takes up to `out.len()` received bytes.
pub fn read(out: &mut [u8]) -> usize {
    with_console(|console| console.read(out)).unwrap_or(0)
}

/// True when a frame written now would be accepted.
pub fn can_write() -> bool {
    with_console(|console| console.can_write()).unwrap_or(false)
}

/// Queues one frame; false when every transmit buffer is in flight.
pub fn write(frame: &[u8]) -> bool {
    with_console(|console| console.write(frame)).unwrap_or(false)
}

/// Driver counters.
pub fn stats() -> ConsoleStats {
    with_console(|console| console.stats()).unwrap_or_default()
}
