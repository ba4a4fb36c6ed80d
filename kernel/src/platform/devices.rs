//! The board's devices, created once from the board table after the MMU is on.

use crate::board::Board;
use kingly_drivers::bcm2711_gpio::Bcm2711Gpio;
use kingly_drivers::gic400::Gic400;
use kingly_drivers::pl011::Pl011;
use spin::Once;

/// The devices every core uses.
pub struct Devices {
    pub board: &'static Board,
    pub uart: Pl011,
    pub gic: Gic400,
    pub gpio: Option<Bcm2711Gpio>,
}

static DEVICES: Once<Devices> = Once::new();

/// Creates the devices from `board`. Core 0, once, MMU on.
pub fn init(board: &'static Board) -> &'static Devices {
    DEVICES.call_once(|| Devices {
        board,
        // SAFETY: the board table's addresses are the PL011, GIC-400 and GPIO of this board;
        // the identity map maps them as device memory. Only this Once creates them.
        uart: unsafe { Pl011::new(board.uart_base as usize) },
        // SAFETY: as above.
        gic: unsafe { Gic400::new(board.gicd_base as usize, board.gicc_base as usize) },
        // SAFETY: as above.
        gpio: board.gpio_base.map(|base| unsafe { Bcm2711Gpio::new(base as usize) }),
    })
}

/// The devices, once [`init`] has run.
pub fn get() -> Option<&'static Devices> {
    DEVICES.get()
}

/// A UART handle for use before [`init`] (MMU off, single core, no locks).
pub fn early_uart(board: &Board) -> Pl011 {
    // SAFETY: the board's PL011; with the MMU off every access is device-type.
    unsafe { Pl011::new(board.uart_base as usize) }
}

/// The GIC for EL3 setup, before anything else exists.
pub fn el3_gic(board: &Board) -> Gic400 {
    // SAFETY: the board's GIC-400, reached with the MMU off at EL3.
    unsafe { Gic400::new(board.gicd_base as usize, board.gicc_base as usize) }
}
