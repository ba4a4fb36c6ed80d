//! The board's devices, created once from the board (table or device tree) after the MMU is on.

use crate::board::{Board, GpioBlock, GpioLine};
use kingly_drivers::bcm2711_gpio::Bcm2711Gpio;
use kingly_drivers::brcmstb_gpio::BrcmstbGpio;
use kingly_drivers::gic400::Gic400;
use kingly_drivers::pl011::Pl011;
use spin::Once;

/// The devices every core uses.
pub struct Devices {
    pub board: &'static Board,
    pub uart: Pl011,
    pub gic: Gic400,
    /// The BCM2711 GPIO block that routes UART0's pins.
    pub gpio: Option<Bcm2711Gpio>,
    pub act_led: Option<ActLed>,
}

/// The GPIO block of the ACT LED.
pub enum LedGpio {
    Bcm2711(Bcm2711Gpio),
    Brcmstb(BrcmstbGpio),
}

/// The ACT LED (Pi 4: GPIO42; Pi 5: always-on GPIO 9, active low).
pub struct ActLed {
    gpio: LedGpio,
    line: u8,
    active_low: bool,
}

impl ActLed {
    /// Lights the LED or puts it out (making its line an output first).
    pub fn set(&self, lit: bool) {
        use embedded_hal::digital::OutputPin;
        let high = lit != self.active_low;
        match &self.gpio {
            LedGpio::Bcm2711(gpio) => {
                if let Ok(mut pin) = gpio.output(self.line) {
                    let _ = if high { pin.set_high() } else { pin.set_low() };
                }
            }
            LedGpio::Brcmstb(gpio) => {
                let _ = gpio.output(self.line, high);
            }
        }
    }
}

static DEVICES: Once<Devices> = Once::new();

fn act_led(line: &GpioLine) -> ActLed {
    let gpio = match line.block {
        // SAFETY: the board's GPIO block (table, or device tree checked against the board's
        // device memory map), mapped as device memory; only the LED path writes its line.
        GpioBlock::Bcm2711 { base } => LedGpio::Bcm2711(unsafe { Bcm2711Gpio::new(base as usize) }),
        // SAFETY: as above.
        GpioBlock::Brcmstb { base } => LedGpio::Brcmstb(unsafe { BrcmstbGpio::new(base as usize) }),
    };
    ActLed { gpio, line: line.line, active_low: line.active_low }
}

/// Creates the devices from `board`. Core 0, once, MMU on.
pub fn init(board: &'static Board) -> &'static Devices {
    DEVICES.call_once(|| Devices {
        board,
        // SAFETY: the board's addresses are its PL011, GIC-400 and GPIO (from the table, or
        // from the device tree after `board::device_tree::refine` checked them against the
        // board's device-mapped regions). Only this Once creates them.
        uart: unsafe { Pl011::new(board.uart_base as usize) },
        // SAFETY: as above.
        gic: unsafe { Gic400::new(board.gicd_base as usize, board.gicc_base as usize) },
        // SAFETY: as above.
        gpio: board.gpio_base.map(|base| unsafe { Bcm2711Gpio::new(base as usize) }),
        act_led: board.act_led.as_ref().map(act_led),
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
