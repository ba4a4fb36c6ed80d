//! The board table refined by the firmware's device tree: the UART, GIC, timer interrupt and
//! ACT LED the tree names replace the table's, and its memory node gives the heap its RAM.
//!
//! The translation tables are built from the table's memory map before the tree is read (it
//! is parsed with the MMU on), so a tree value is taken only where that map reaches it with
//! the right memory type; otherwise the table stays and the refusal says why.

use super::{Board, GpioBlock, GpioLine, MemoryKind, Region};
use crate::dtb::{DtbBoard, GpioController};
use core::fmt;

/// Register bytes each device needs mapped (PL011 4 KiB; GIC-400 GICD 4 KiB, GICC 8 KiB).
const UART_BYTES: u64 = 0x1000;
const GICD_BYTES: u64 = 0x1000;
const GICC_BYTES: u64 = 0x2000;
const GPIO_BYTES: u64 = 0x100;

/// Why the tree's devices were not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The device lies outside the board's device-mapped regions.
    NotDeviceMapped { device: &'static str, address: u64 },
    /// The timer's non-secure physical interrupt is not a PPI.
    TimerNotPpi { intid: u32 },
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Refusal::NotDeviceMapped { device, address } => {
                write!(f, "the device tree's {device} at {address:#x} is outside this board's device memory map")
            }
            Refusal::TimerNotPpi { intid } => write!(f, "the device tree's timer INTID {intid} is not a PPI (16-31)"),
        }
    }
}

fn mapped_as(map: &[Region], address: u64, bytes: u64, kind: MemoryKind) -> bool {
    let end = address.saturating_add(bytes);
    map.iter().any(|r| r.kind == kind && r.base <= address && end <= r.end())
}

/// `table` with the UART, GIC and timer interrupt from `tree` (all or none), and its ACT LED
/// when the tree has one this kernel can drive.
pub fn refine(table: &Board, tree: &DtbBoard) -> Result<Board, Refusal> {
    let map = table.memory_map;
    for (device, address, bytes) in [
        ("UART", tree.uart_base, UART_BYTES),
        ("GIC distributor", tree.gicd_base, GICD_BYTES),
        ("GIC CPU interface", tree.gicc_base, GICC_BYTES),
    ] {
        if !mapped_as(map, address, bytes, MemoryKind::Device) {
            return Err(Refusal::NotDeviceMapped { device, address });
        }
    }
    let timer_intid = tree.timer.nonsecure_physical;
    if !(16..32).contains(&timer_intid) {
        return Err(Refusal::TimerNotPpi { intid: timer_intid });
    }
    let mut board = *table;
    board.uart_base = tree.uart_base;
    board.uart_intid = tree.uart_intid;
    if let Some(hz) = tree.uart_clock_hz {
        board.uart_clock_hz = hz;
    }
    board.gicd_base = tree.gicd_base;
    board.gicc_base = tree.gicc_base;
    board.timer_intid = timer_intid;
    if let Some(led) = tree.act_led {
        let block = match led.controller {
            GpioController::Bcm2711 => Some(GpioBlock::Bcm2711 { base: led.controller_base }),
            GpioController::Brcmstb => Some(GpioBlock::Brcmstb { base: led.controller_base }),
            GpioController::Other => None,
        };
        let line = u8::try_from(led.line).ok();
        if let (Some(block), Some(line)) = (block, line) {
            if mapped_as(map, block.base(), GPIO_BYTES, MemoryKind::Device) {
                board.act_led = Some(GpioLine { block, line, active_low: led.active_low });
            }
        }
    }
    Ok(board)
}

/// The RAM the heap may use, from the tree's memory node: the region holding the kernel at
/// `kernel_address` (else the largest), cut to the normal memory the board maps.
pub fn ram_region(table: &Board, tree: &DtbBoard, kernel_address: u64) -> Option<Region> {
    let holds_kernel = |&&(base, size): &&(u64, u64)| base <= kernel_address && kernel_address - base < size;
    let (base, size) =
        tree.memory.iter().find(holds_kernel).or_else(|| tree.memory.iter().max_by_key(|(_, size)| *size)).copied()?;
    let mapped = table.memory_map.iter().find(|r| r.kind == MemoryKind::Normal && r.base <= base && base < r.end())?;
    let end = base.saturating_add(size).min(mapped.end());
    Some(Region { base, size: end - base, kind: MemoryKind::Normal })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::board::{pi5, raspi4b};
    use crate::dtb::{LedGpio, TimerIntids};

    fn tree_like(board: &Board) -> DtbBoard {
        DtbBoard {
            model: heapless::String::new(),
            uart_base: board.uart_base,
            uart_size: 0x200,
            uart_intid: board.uart_intid,
            uart_clock_hz: None,
            gicd_base: board.gicd_base,
            gicc_base: board.gicc_base,
            timer: TimerIntids { secure_physical: 29, nonsecure_physical: 30, virtual_timer: 27, hypervisor: 26 },
            psci: None,
            memory: heapless::Vec::new(),
            cpus: heapless::Vec::new(),
            act_led: None,
        }
    }

    #[test]
    fn devices_outside_the_device_map_keep_the_table() {
        let mut tree = tree_like(&raspi4b::BOARD);
        tree.uart_base = 0x4000_0000; // RAM, not MMIO
        assert_eq!(
            refine(&raspi4b::BOARD, &tree).unwrap_err(),
            Refusal::NotDeviceMapped { device: "UART", address: 0x4000_0000 }
        );
        let mut tree = tree_like(&pi5::BOARD);
        assert!(refine(&pi5::BOARD, &tree).is_ok());
        tree.gicc_base = 0x10_8000_0000 - 0x1000; // 8 KiB from here run past the 2 GiB window
        assert!(matches!(
            refine(&pi5::BOARD, &tree),
            Err(Refusal::NotDeviceMapped { device: "GIC CPU interface", .. })
        ));
        let mut tree = tree_like(&raspi4b::BOARD);
        tree.timer.nonsecure_physical = 40;
        assert_eq!(refine(&raspi4b::BOARD, &tree).unwrap_err(), Refusal::TimerNotPpi { intid: 40 });
    }

    #[test]
    fn tree_values_replace_the_table() {
        let mut tree = tree_like(&raspi4b::BOARD);
        tree.uart_base = 0xFE20_1400; // UART2 instead of UART0
        tree.uart_intid = 153;
        tree.uart_clock_hz = Some(48_000_000);
        tree.timer.nonsecure_physical = 27;
        tree.act_led = Some(LedGpio {
            controller: GpioController::Bcm2711,
            controller_base: 0xFE20_0000,
            line: 29,
            active_low: true,
        });
        let board = refine(&raspi4b::BOARD, &tree).unwrap();
        assert_eq!((board.uart_base, board.timer_intid), (0xFE20_1400, 27));
        assert_eq!(
            board.act_led,
            Some(GpioLine { block: GpioBlock::Bcm2711 { base: 0xFE20_0000 }, line: 29, active_low: true })
        );
        // An LED on a controller this kernel has no driver for leaves the table's LED.
        tree.act_led = Some(LedGpio {
            controller: GpioController::Other,
            controller_base: 0xFE20_0000,
            line: 1,
            active_low: false,
        });
        assert_eq!(refine(&raspi4b::BOARD, &tree).unwrap().act_led, raspi4b::BOARD.act_led);
    }

    #[test]
    fn heap_ram_is_the_region_holding_the_kernel_cut_to_the_map() {
        let mut tree = tree_like(&raspi4b::BOARD);
        // An 8 GB Pi 4: the firmware lists three regions.
        for region in [(0, 0x3b40_0000), (0x4000_0000, 0xbc00_0000), (0x1_0000_0000, 0x1_0000_0000)] {
            tree.memory.push(region).unwrap();
        }
        let ram = ram_region(&raspi4b::BOARD, &tree, 0x80000).unwrap();
        assert_eq!((ram.base, ram.size), (0, 0x3b40_0000));
        // A kernel elsewhere falls back to the largest region.
        let ram = ram_region(&raspi4b::BOARD, &tree, 0x3f00_0000).unwrap();
        assert_eq!((ram.base, ram.end()), (0x1_0000_0000, 0x2_0000_0000));
        // RAM running into the peripherals is cut where the map's normal memory ends.
        tree.memory.clear();
        tree.memory.push((0x4000_0000, 0xc000_0000)).unwrap();
        let ram = ram_region(&raspi4b::BOARD, &tree, 0x80000).unwrap();
        assert_eq!((ram.base, ram.end()), (0x4000_0000, 0xFC00_0000));
        tree.memory.clear();
        assert_eq!(ram_region(&raspi4b::BOARD, &tree, 0x80000), None);
    }
}
