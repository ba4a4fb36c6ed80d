//! Raspberry Pi 5 Model B (BCM2712, four Cortex-A76 cores). QEMU cannot emulate it; the
//! table is checked against the real `bcm2712-rpi-5-b.dtb` (`kernel/tests/dtb.rs`).
//!
//! # Resources
//! - `bcm2712-rpi-5-b.dtb` (Linux `arch/arm64/boot/dts/broadcom/bcm2712.dtsi`): `/soc@107c000000`
//!   `ranges = <0x0 0x10 0x0 0x80000000>`, so bus 0x7d001000 (debug UART `uart10`, SPI 121) is
//!   CPU 0x10_7D00_1000, the GIC-400 0x10_7FFF_9000 / 0x10_7FFF_A000, `gio_aon` 0x10_7D51_7C00;
//!   the UART clock is a 9.216 MHz `fixed-clock`; `/psci` `method = "smc"`; `/cpus` `reg`
//!   0x000, 0x100, 0x200, 0x300; `/reserved-memory/atf@0` holds TF-A at 0x0-0x80000.
//! - Cortex-A76 TRM, MPIDR_EL1: MT = 1, Aff0 = 0 (thread), Aff1 = core number.
//! - Raspberry Pi's downstream `bcm2712-rpi-5-b.dts` (and Zephyr's `rpi_5` board):
//!   `led_act` gpios = <&gio_aon 9 GPIO_ACTIVE_LOW>. Debian's (upstream) tree has no LED node.

use super::{Board, GpioBlock, GpioLine, MemoryKind, Region, SecondaryStart};

const GIB: u64 = 1 << 30;

/// The 2 GiB window `/soc` maps to: main and ARM-local peripherals, the GIC included.
pub const PERIPHERALS: Region = Region { base: 0x10_0000_0000, size: 2 * GIB, kind: MemoryKind::Device };

pub const BOARD: Board = Board {
    name: "pi5",
    uart_base: 0x10_7D00_1000,
    uart_intid: 153,
    uart_clock_hz: 9_216_000,
    gicd_base: 0x10_7FFF_9000,
    gicc_base: 0x10_7FFF_A000,
    timer_intid: 30,
    // The debug UART has its own connector: no pins to route.
    gpio_base: None,
    act_led: Some(GpioLine { block: GpioBlock::Brcmstb { base: 0x10_7D51_7C00 }, line: 9, active_low: true }),
    // The firmware always passes a device tree with the RAM; no mailbox call is needed.
    mailbox_base: None,
    pm_base: None,
    // The upstream tree's placeholder `memory@0` (the firmware writes the real size over it):
    // less than every Pi 5 model has.
    default_ram: Region { base: 0, size: 0x2800_0000, kind: MemoryKind::Normal },
    memory_map: &[
        // RAM: 16 GiB on the largest model, contiguous from 0.
        Region { base: 0, size: 16 * GIB, kind: MemoryKind::Normal },
        PERIPHERALS,
    ],
    secondary_start: SecondaryStart::Psci { core_affinity: [0x100, 0x200, 0x300] },
};
