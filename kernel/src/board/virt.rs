//! QEMU `virt` machine (cortex-a72, GICv2).
//!
//! # Resources
//! - QEMU hw/arm/virt.c memory map: GIC distributor 0x08000000, CPU interface 0x08010000,
//!   PL011 0x09000000 (SPI 1 = INTID 33), virtio-mmio 0x0a000000 + 0x200 n, RAM from 0x40000000.

use super::{Board, MemoryKind, Region, SecondaryStart};

const GIB: u64 = 1 << 30;

pub const BOARD: Board = Board {
    name: "virt",
    uart_base: 0x0900_0000,
    uart_intid: 33,
    uart_clock_hz: 24_000_000,
    gicd_base: 0x0800_0000,
    gicc_base: 0x0801_0000,
    timer_intid: 30,
    gpio_base: None,
    act_led: None,
    mailbox_base: None,
    pm_base: None,
    default_ram: Region { base: GIB, size: GIB, kind: MemoryKind::Normal },
    memory_map: &[
        Region { base: 0, size: GIB, kind: MemoryKind::Device },
        Region { base: GIB, size: 8 * GIB, kind: MemoryKind::Normal },
    ],
    // QEMU numbers the cores in Aff0 (cortex-a72 clears MPIDR.MT).
    secondary_start: SecondaryStart::Psci { core_affinity: [1, 2, 3] },
};

/// The virtio-mmio transports QEMU `virt` always creates (hw/arm/virt.c `VIRT_MMIO`,
/// `NUM_VIRTIO_TRANSPORTS`): slot n at `base + stride·n`, interrupt SPI 16 + n (INTID 48 + n),
/// as QEMU's own device tree says. The first `-device` on the bus takes slot 31.
pub const VIRTIO_MMIO: super::VirtioMmioWindow =
    super::VirtioMmioWindow { base: 0x0a00_0000, stride: 0x200, count: 32, first_intid: 48 };
