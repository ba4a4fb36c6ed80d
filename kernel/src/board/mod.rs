//! Board tables: every address and interrupt number a board needs, in one place per board.
//!
//! The boot code picks the table of the board the kernel was built for; when the firmware
//! passes a device tree, [`device_tree`] takes the UART, GIC and RAM from it instead.

pub mod device_tree;
pub mod pi5;
pub mod raspi4b;
pub mod virt;

use crate::cpu::MAX_CPUS;

/// How memory in a range must be mapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemoryKind {
    /// Normal write-back cacheable memory (RAM).
    Normal,
    /// Device nGnRE, never executable (MMIO).
    Device,
}

/// A physical address range and how to map it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    pub base: u64,
    pub size: u64,
    pub kind: MemoryKind,
}

impl Region {
    pub const fn end(&self) -> u64 {
        self.base + self.size
    }
}

/// How secondary cores are started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecondaryStart {
    /// Write the entry address to each core's release slot, clean it to memory, `sev`.
    SpinTable { release_slots: [u64; 3] },
    /// PSCI `CPU_ON` for cores 1.. with these MPIDR affinities (the `/cpus` `reg` values);
    /// the conduit (HVC or SMC) depends on the entry exception level.
    Psci { core_affinity: [u64; MAX_CPUS - 1] },
}

/// A GPIO block, by register layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GpioBlock {
    /// BCM2711 GPIO (GPFSEL/GPSET/GPCLR).
    Bcm2711 { base: u64 },
    /// Broadcom STB GPIO (`brcm,brcmstb-gpio`, banks of GIO_DATA/GIO_IODIR): BCM2712 `gio_aon`.
    Brcmstb { base: u64 },
}

impl GpioBlock {
    pub const fn base(&self) -> u64 {
        match *self {
            GpioBlock::Bcm2711 { base } | GpioBlock::Brcmstb { base } => base,
        }
    }
}

/// One GPIO line driving a LED, as a device tree's `gpio-leds` child describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GpioLine {
    pub block: GpioBlock,
    pub line: u8,
    /// The LED is lit when the line is low (`GPIO_ACTIVE_LOW`).
    pub active_low: bool,
}

/// Everything the kernel needs to know about a board.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Board {
    /// Name printed in the ready line.
    pub name: &'static str,
    /// PL011 UART0 base and its receive interrupt.
    pub uart_base: u64,
    pub uart_intid: u32,
    /// PL011 reference clock (only matters on real hardware).
    pub uart_clock_hz: u32,
    /// GIC-400 distributor and CPU interface.
    pub gicd_base: u64,
    pub gicc_base: u64,
    /// The EL1 physical timer's (CNTP) interrupt, a PPI.
    pub timer_intid: u32,
    /// BCM2711 GPIO block whose GPIO14/15 carry UART0, if the board has one.
    pub gpio_base: Option<u64>,
    /// The ACT LED, which blinks the exit status when there is no other way to report it.
    pub act_led: Option<GpioLine>,
    /// VideoCore mailbox, if the board has one.
    pub mailbox_base: Option<u64>,
    /// BCM2835-family power management block, whose watchdog resets the board (`reboot`).
    pub pm_base: Option<u64>,
    /// RAM assumed when neither the firmware nor a device tree says otherwise.
    pub default_ram: Region,
    /// What the MMU maps (identity).
    pub memory_map: &'static [Region],
    pub secondary_start: SecondaryStart,
}

/// A row of virtio-mmio transports: slot n at `base + stride·n` with interrupt
/// `first_intid + n`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VirtioMmioWindow {
    pub base: u64,
    pub stride: u64,
    pub count: u32,
    pub first_intid: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_map(board: &Board) {
        let map = board.memory_map;
        for pair in map.windows(2) {
            assert!(pair[0].end() <= pair[1].base, "{}: regions overlap or are unsorted", board.name);
        }
        for region in map {
            assert_eq!(region.base % (2 << 20), 0, "{}: region not 2 MiB aligned", board.name);
            assert_eq!(region.size % (2 << 20), 0, "{}: region not 2 MiB aligned", board.name);
        }
        let covers = |addr: u64, kind| map.iter().any(|r| r.base <= addr && addr < r.end() && r.kind == kind);
        assert!(covers(board.uart_base, MemoryKind::Device), "{}: UART not device-mapped", board.name);
        assert!(covers(board.gicd_base, MemoryKind::Device));
        assert!(covers(board.gicc_base, MemoryKind::Device));
        assert!(covers(board.default_ram.base + 0x80000, MemoryKind::Normal), "{}: kernel not in RAM", board.name);
    }

    #[test]
    fn board_tables_are_consistent() {
        check_map(&raspi4b::BOARD);
        check_map(&virt::BOARD);
        check_map(&pi5::BOARD);
    }

    #[test]
    fn pi5_matches_the_bcm2712_facts() {
        let b = pi5::BOARD;
        assert_eq!((b.uart_base, b.uart_intid, b.uart_clock_hz), (0x10_7D00_1000, 153, 9_216_000));
        assert_eq!((b.gicd_base, b.gicc_base), (0x10_7FFF_9000, 0x10_7FFF_A000));
        assert_eq!(b.secondary_start, SecondaryStart::Psci { core_affinity: [0x100, 0x200, 0x300] });
        assert_eq!(
            b.act_led,
            Some(GpioLine { block: GpioBlock::Brcmstb { base: 0x10_7D51_7C00 }, line: 9, active_low: true })
        );
        // Nothing below 4 GiB is MMIO on the BCM2712: RAM up to 16 GiB, peripherals at 64 GiB.
        let device: Vec<_> = b.memory_map.iter().filter(|r| r.kind == MemoryKind::Device).collect();
        assert_eq!(device.len(), 1);
        assert_eq!((device[0].base, device[0].end()), (0x10_0000_0000, 0x10_8000_0000));
    }

    #[test]
    fn psci_targets_are_the_cores_entry_s_numbers() {
        // What entry.s computes from MPIDR_EL1 must give each started core its index.
        let mt = |affinity: u64| 0x8000_0000 | crate::cpu::MPIDR_MT | affinity;
        for (board, mpidr) in [(pi5::BOARD, &mt as &dyn Fn(u64) -> u64), (virt::BOARD, &|a| 0x8000_0000 | a)] {
            let SecondaryStart::Psci { core_affinity } = board.secondary_start else {
                panic!("{} uses PSCI", board.name)
            };
            for (index, affinity) in core_affinity.iter().enumerate() {
                assert_eq!(crate::cpu::core_index(mpidr(*affinity)), index + 1, "{}", board.name);
            }
        }
    }

    #[test]
    fn raspi4b_matches_the_verified_boot_facts() {
        let b = raspi4b::BOARD;
        assert_eq!((b.uart_base, b.uart_intid), (0xFE20_1000, 153));
        assert_eq!((b.gicd_base, b.gicc_base), (0xFF84_1000, 0xFF84_2000));
        assert_eq!(b.secondary_start, SecondaryStart::SpinTable { release_slots: [0xe0, 0xe8, 0xf0] });
        // Device nGnRE exactly over 0xFC000000-0x100000000.
        let device: Vec<_> = b.memory_map.iter().filter(|r| r.kind == MemoryKind::Device).collect();
        assert_eq!(device.len(), 1);
        assert_eq!((device[0].base, device[0].end()), (0xFC00_0000, 0x1_0000_0000));
    }

    #[test]
    fn virt_matches_the_verified_boot_facts() {
        let b = virt::BOARD;
        assert_eq!((b.uart_base, b.uart_intid), (0x0900_0000, 33));
        assert_eq!((b.gicd_base, b.gicc_base), (0x0800_0000, 0x0801_0000));
        assert_eq!(b.secondary_start, SecondaryStart::Psci { core_affinity: [1, 2, 3] });
        // QEMU 10.0.2 `-M virt,dumpdtb=`: virtio_mmio@a003e00 has interrupts = <0 0x2f 1>.
        let w = virt::VIRTIO_MMIO;
        assert_eq!((w.base + 31 * w.stride, w.first_intid + 31), (0x0a00_3e00, 32 + 0x2f));
        assert!(b.memory_map.iter().any(|r| r.kind == MemoryKind::Device && r.base <= w.base && w.base < r.end()));
    }
}
