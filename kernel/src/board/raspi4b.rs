//! Raspberry Pi 4 Model B (BCM2711) and QEMU `raspi4b`, low-peripheral mode.
//!
//! # Resources
//! - BCM2711 ARM Peripherals, §1.2 "Address map" (main peripherals 0xFC000000-0xFF7FFFFF,
//!   ARM local peripherals incl. GIC-400 0xFF800000-0xFFFFFFFF).
//! - DESIGN.md "Boot facts": UART0 RX INTID 153 (SPI 121), GICD 0xFF841000, GICC 0xFF842000.

use super::{Board, GpioBlock, GpioLine, MemoryKind, Region, SecondaryStart};

const GIB: u64 = 1 << 30;

pub const BOARD: Board = Board {
    name: "raspi4b",
    uart_base: 0xFE20_1000,
    uart_intid: 153,
    uart_clock_hz: 48_000_000,
    gicd_base: 0xFF84_1000,
    gicc_base: 0xFF84_2000,
    timer_intid: 30,
    gpio_base: Some(0xFE20_0000),
    // `/leds/led-act` gpios = <&gpio 42 GPIO_ACTIVE_HIGH>.
    act_led: Some(GpioLine { block: GpioBlock::Bcm2711 { base: 0xFE20_0000 }, line: 42, active_low: false }),
    mailbox_base: Some(0xFE00_B880),
    pm_base: Some(0xFE10_0000),
    // QEMU raspi4b -m 2G reports 0x3c000000 bytes from the mailbox; this is the fallback.
    default_ram: Region { base: 0, size: 0x3c00_0000, kind: MemoryKind::Normal },
    memory_map: &[
        Region { base: 0, size: 0xFC00_0000, kind: MemoryKind::Normal },
        Region { base: 0xFC00_0000, size: 0x0400_0000, kind: MemoryKind::Device },
        // RAM above 4 GiB on 4 GB and 8 GB boards.
        Region { base: 4 * GIB, size: 4 * GIB, kind: MemoryKind::Normal },
    ],
    secondary_start: SecondaryStart::SpinTable { release_slots: [0xe0, 0xe8, 0xf0] },
};
