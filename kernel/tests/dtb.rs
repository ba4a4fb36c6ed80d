//! Device-tree probing against the real Raspberry Pi device trees from Debian's arm64 kernel
//! package, plus truncated and corrupted copies of them (nothing may panic).
//!
//! The trees are fetched, not committed: run `scripts/fetch-dtbs.sh` (CI's setup does), or
//! point `KINGLY_DTB_DIR` at a directory holding `bcm2711-rpi-4-b.dtb` and `bcm2712-rpi-5-b.dtb`.

use kingly_kernel::board::device_tree::{ram_region, refine};
use kingly_kernel::board::{pi5, raspi4b, MemoryKind, SecondaryStart};
use kingly_kernel::dtb::{
    probe, reg_of_label, CpuNode, DtbError, EnableMethod, GpioController, LedGpio, PsciConduit, TimerIntids,
};
use std::path::PathBuf;

fn fixture(name: &str) -> Vec<u8> {
    let dir = std::env::var_os("KINGLY_DTB_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/dtb"));
    let path = dir.join(name);
    std::fs::read(&path).unwrap_or_else(|error| {
        panic!("cannot read {} ({error}): run scripts/fetch-dtbs.sh or set KINGLY_DTB_DIR", path.display())
    })
}

const PI4: &str = "bcm2711-rpi-4-b.dtb";
const PI5: &str = "bcm2712-rpi-5-b.dtb";

/// The architected timer PPIs every Arm board wires the same way: 13, 14, 11, 10.
const ARM_TIMER: TimerIntids =
    TimerIntids { secure_physical: 29, nonsecure_physical: 30, virtual_timer: 27, hypervisor: 26 };

#[test]
fn pi4_uart0_gic_and_timer_come_from_the_soc_ranges() {
    let board = probe(&fixture(PI4)).expect("the real Pi 4 device tree probes");
    // serial0 = /soc/serial@7e201000; /soc maps 0x7e000000 to 0xfe000000.
    assert_eq!(board.uart_base, 0xFE20_1000);
    assert_eq!(board.uart_size, 0x200);
    // GIC_SPI 121 → INTID 32 + 121.
    assert_eq!(board.uart_intid, 153);
    // /soc maps 0x40000000 to 0xff800000.
    assert_eq!(board.gicd_base, 0xFF84_1000);
    assert_eq!(board.gicc_base, 0xFF84_2000);
    assert_eq!(board.timer, ARM_TIMER);
    assert_eq!(board.model.as_str(), "Raspberry Pi 4 Model B");
    // The firmware fills the memory node in at boot; the packaged tree has `reg = <0 0 0>`.
    assert!(board.memory.is_empty(), "{:x?}", board.memory);
    assert_eq!(board.psci, None, "the Pi 4 starts its secondaries from a spin table");
    assert_eq!(board.uart_clock_hz, None, "the Pi 4 UART clock comes from the firmware clock driver");
}

#[test]
fn pi5_debug_uart_and_gic_sit_above_4_gib() {
    let board = probe(&fixture(PI5)).expect("the real Pi 5 device tree probes");
    // stdout-path = serial10 = /soc@107c000000/serial@7d001000; /soc maps 0 to 0x10_0000_0000.
    assert_eq!(board.uart_base, 0x10_7D00_1000);
    assert_eq!(board.uart_intid, 153);
    assert_eq!(board.uart_clock_hz, Some(9_216_000));
    assert_eq!(board.gicd_base, 0x10_7FFF_9000);
    assert_eq!(board.gicc_base, 0x10_7FFF_A000);
    assert_eq!(board.timer, ARM_TIMER);
    assert_eq!(board.psci, Some(PsciConduit::Smc));
    assert_eq!(board.model.as_str(), "Raspberry Pi 5");
    assert_eq!(board.memory.as_slice(), &[(0, 0x2800_0000)]);
}

#[test]
fn pi4_table_is_what_the_real_tree_says() {
    let tree = probe(&fixture(PI4)).unwrap();
    // Taking the tree's devices changes nothing: the table and the tree agree.
    assert_eq!(refine(&raspi4b::BOARD, &tree), Ok(raspi4b::BOARD));
    assert_eq!(
        tree.act_led,
        Some(LedGpio {
            controller: GpioController::Bcm2711,
            controller_base: 0xFE20_0000,
            line: 42,
            active_low: false
        })
    );
    let spin = |release_address| EnableMethod::SpinTable { release_address };
    let cpus: Vec<CpuNode> = tree.cpus.to_vec();
    assert_eq!(
        cpus,
        [(0, 0xd8), (1, 0xe0), (2, 0xe8), (3, 0xf0)].map(|(a, r)| CpuNode { affinity: a, enable_method: spin(r) })
    );
    let SecondaryStart::SpinTable { release_slots } = raspi4b::BOARD.secondary_start else { panic!("spin table") };
    assert_eq!(release_slots.map(spin).to_vec(), cpus[1..].iter().map(|c| c.enable_method).collect::<Vec<_>>());
}

#[test]
fn pi5_table_is_what_the_real_tree_says() {
    let blob = fixture(PI5);
    let tree = probe(&blob).unwrap();
    assert_eq!(refine(&pi5::BOARD, &tree), Ok(pi5::BOARD));
    // PSCI targets: the `/cpus` reg values, core number in Aff1.
    assert!(tree.cpus.iter().all(|c| c.enable_method == EnableMethod::Psci));
    let affinities: Vec<u64> = tree.cpus.iter().map(|c| c.affinity).collect();
    assert_eq!(affinities, [0x000, 0x100, 0x200, 0x300]);
    let SecondaryStart::Psci { core_affinity } = pi5::BOARD.secondary_start else { panic!("PSCI") };
    assert_eq!(core_affinity.as_slice(), &affinities[1..]);
    // The ACT LED's block: Debian's upstream tree has no LED node, but it has `gio_aon`.
    assert_eq!(tree.act_led, None);
    let led = pi5::BOARD.act_led.unwrap();
    assert_eq!(reg_of_label(&blob, "gio_aon").unwrap(), Some((led.block.base(), 0x40)));
    assert_eq!(reg_of_label(&blob, "uart10").unwrap(), Some((pi5::BOARD.uart_base, 0x200)));
    assert_eq!(reg_of_label(&blob, "no_such_label").unwrap(), None);
    // The memory node is the placeholder the table falls back to.
    let ram = ram_region(&pi5::BOARD, &tree, 0x80000).unwrap();
    assert_eq!(ram, pi5::BOARD.default_ram);
    assert_eq!(ram.kind, MemoryKind::Normal);
}

/// A tiny deterministic generator (xorshift64*), so a failure replays exactly.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn every_truncation_of_the_real_trees_is_an_error_not_a_panic() {
    for name in [PI4, PI5] {
        let blob = fixture(name);
        for len in 0..blob.len() {
            assert!(probe(&blob[..len]).is_err(), "{name} truncated to {len} bytes still probed");
        }
    }
}

#[test]
fn corrupted_real_trees_never_panic() {
    let mut rng = Rng(0x6b69_6e67_6c79_6474);
    let mut outcomes = [0usize; 2];
    for name in [PI4, PI5] {
        let blob = fixture(name);
        // Corrupt the structure block most (it holds the values this code interprets), then
        // anywhere, including the header, then whole-blob word splats of typical cell values.
        let struct_start = u32::from_be_bytes(blob[8..12].try_into().unwrap()) as usize;
        let struct_len = u32::from_be_bytes(blob[36..40].try_into().unwrap()) as usize;
        for round in 0..3000 {
            let mut bytes = blob.clone();
            for _ in 0..1 + rng.below(4) {
                let at = if round % 4 == 0 { rng.below(bytes.len()) } else { struct_start + rng.below(struct_len) };
                match rng.below(3) {
                    0 => bytes[at] ^= 1 << rng.below(8),
                    1 => bytes[at] = rng.next() as u8,
                    _ => {
                        let word: [u32; 6] = [0, 1, 2, 3, 0xffff_ffff, 0x8000_0000];
                        let value = word[rng.below(word.len())].to_be_bytes();
                        let at = at & !3;
                        let end = (at + 4).min(bytes.len());
                        bytes[at..end].copy_from_slice(&value[..end - at]);
                    }
                }
            }
            outcomes[usize::from(probe(&bytes).is_ok())] += 1;
        }
    }
    // Both outcomes must occur, or the corruption never reached the code under test.
    assert!(outcomes[0] > 0 && outcomes[1] > 0, "errors/successes: {outcomes:?}");
}

#[test]
fn errors_say_what_is_wrong() {
    assert_eq!(probe(b"not a device tree"), Err(DtbError::Malformed));
    assert!(DtbError::NoGic.to_string().contains("gic-400"));
    assert!(DtbError::Untranslatable { bus_address: 0x7e20_1000 }.to_string().contains("0x7e201000"));
}

/// A minimal flattened-device-tree writer for hand-made trees (Devicetree Specification §5).
mod fdt_writer {
    pub enum Item {
        Prop(&'static str, Vec<u8>),
        Node(&'static str, Vec<Item>),
    }

    pub fn cells(values: &[u32]) -> Vec<u8> {
        values.iter().flat_map(|v| v.to_be_bytes()).collect()
    }

    pub fn string(text: &str) -> Vec<u8> {
        let mut bytes = text.as_bytes().to_vec();
        bytes.push(0);
        bytes
    }

    fn emit(item: &Item, structure: &mut Vec<u8>, strings: &mut Vec<u8>) {
        let push = |s: &mut Vec<u8>, v: u32| s.extend(v.to_be_bytes());
        match item {
            Item::Prop(name, value) => {
                let offset = strings.len() as u32;
                strings.extend(name.as_bytes());
                strings.push(0);
                push(structure, 3);
                push(structure, value.len() as u32);
                push(structure, offset);
                structure.extend(value);
            }
            Item::Node(name, children) => {
                push(structure, 1);
                structure.extend(name.as_bytes());
                structure.push(0);
                while !structure.len().is_multiple_of(4) {
                    structure.push(0);
                }
                // Properties must come before child nodes.
                for child in children.iter().filter(|c| matches!(c, Item::Prop(..))) {
                    emit(child, structure, strings);
                }
                for child in children.iter().filter(|c| matches!(c, Item::Node(..))) {
                    emit(child, structure, strings);
                }
                push(structure, 2);
            }
        }
        while !structure.len().is_multiple_of(4) {
            structure.push(0);
        }
    }

    pub fn blob(root: Item) -> Vec<u8> {
        let (mut structure, mut strings) = (Vec::new(), Vec::new());
        emit(&root, &mut structure, &mut strings);
        structure.extend(9u32.to_be_bytes()); // FDT_END
        let header_len = 40u32;
        let reserve_len = 16u32; // one empty memory-reservation entry
        let off_struct = header_len + reserve_len;
        let off_strings = off_struct + structure.len() as u32;
        let total = off_strings + strings.len() as u32;
        let mut blob = Vec::new();
        for word in [
            0xd00d_feed,
            total,
            off_struct,
            off_strings,
            header_len,
            17,
            16,
            0,
            strings.len() as u32,
            structure.len() as u32,
        ] {
            blob.extend(u32::to_be_bytes(word));
        }
        blob.extend([0u8; 16]);
        blob.extend(structure);
        blob.extend(strings);
        blob
    }
}

use fdt_writer::{blob, cells, string, Item::Node, Item::Prop};

/// A Pi 5-shaped tree with the downstream RP1 south bridge: the UART sits three buses down
/// (`/axi` → PCIe with 3-cell PCI addresses → `rp1`), as the firmware's own device tree has it.
fn nested_tree(pcie_ranges: Option<Vec<u8>>) -> Vec<u8> {
    let mut pcie = vec![
        Prop("#address-cells", cells(&[3])),
        Prop("#size-cells", cells(&[2])),
        Prop("reg", cells(&[0x10, 0x0012_0000, 0, 0x9310])),
        Node(
            "rp1",
            vec![
                Prop("#address-cells", cells(&[2])),
                Prop("#size-cells", cells(&[2])),
                // RP1's 0xc0_40000000 is PCI memory space 0 (phys.hi 0x02000000), 4 MiB.
                Prop("ranges", cells(&[0xc0, 0x4000_0000, 0x0200_0000, 0, 0, 0, 0x0040_0000])),
                Node(
                    "serial@c040030000",
                    vec![
                        Prop("compatible", string("arm,pl011")),
                        Prop("reg", cells(&[0xc0, 0x4003_0000, 0, 0x100])),
                        Prop("interrupts", cells(&[0, 25, 4])),
                    ],
                ),
            ],
        ),
    ];
    if let Some(ranges) = pcie_ranges {
        pcie.push(Prop("ranges", ranges));
    }
    blob(Node(
        "",
        vec![
            Prop("#address-cells", cells(&[2])),
            Prop("#size-cells", cells(&[2])),
            Prop("interrupt-parent", cells(&[1])),
            Prop("model", string("nested ranges")),
            Node(
                "axi",
                vec![
                    Prop("#address-cells", cells(&[2])),
                    Prop("#size-cells", cells(&[2])),
                    Prop("ranges", Vec::new()), // identity
                    Node("pcie@1000120000", pcie),
                ],
            ),
            Node(
                "soc@107c000000",
                vec![
                    Prop("#address-cells", cells(&[1])),
                    Prop("#size-cells", cells(&[1])),
                    Prop("ranges", cells(&[0, 0x10, 0, 0x8000_0000])),
                    Node(
                        "interrupt-controller@7fff9000",
                        vec![
                            Prop("compatible", string("arm,gic-400")),
                            Prop("reg", cells(&[0x7fff_9000, 0x1000, 0x7fff_a000, 0x2000])),
                            Prop("#interrupt-cells", cells(&[3])),
                            Prop("phandle", cells(&[1])),
                        ],
                    ),
                ],
            ),
            Node(
                "timer",
                vec![
                    Prop("compatible", string("arm,armv8-timer")),
                    Prop("interrupts", cells(&[1, 13, 0xf08, 1, 14, 0xf08, 1, 11, 0xf08, 1, 10, 0xf08])),
                ],
            ),
            Node(
                "memory@0",
                vec![
                    Prop("device_type", string("memory")),
                    Prop("reg", cells(&[0, 0, 0, 0x3f80_0000, 0x1, 0, 0x1, 0])),
                ],
            ),
        ],
    ))
}

/// The downstream PCIe window: PCI memory 0 → CPU 0x1f_0000_0000 (64 GiB - 4 bytes long).
fn pcie_memory_window() -> Vec<u8> {
    cells(&[0x0200_0000, 0, 0, 0x1f, 0, 0, 0xffff_fffc])
}

#[test]
fn nested_ranges_translate_rp1_through_pcie_and_axi() {
    let board = probe(&nested_tree(Some(pcie_memory_window()))).expect("the nested tree probes");
    assert_eq!(board.uart_base, 0x1f_0003_0000, "RP1 UART0 as the Pi 5 sees it");
    assert_eq!(board.uart_intid, 32 + 25);
    assert_eq!(board.gicd_base, 0x10_7FFF_9000);
    assert_eq!(board.gicc_base, 0x10_7FFF_A000);
    assert_eq!(board.memory.as_slice(), &[(0, 0x3f80_0000), (0x1_0000_0000, 0x1_0000_0000)]);
    assert_eq!(board.model.as_str(), "nested ranges");
}

/// The Pi 5 as Raspberry Pi's own tree describes it: `gio_aon` under `/soc` and
/// `led_act: led-act { gpios = <&gio_aon 9 GPIO_ACTIVE_LOW>; }`.
fn pi5_tree_with_led() -> Vec<u8> {
    blob(Node(
        "",
        vec![
            Prop("#address-cells", cells(&[2])),
            Prop("#size-cells", cells(&[2])),
            Prop("interrupt-parent", cells(&[1])),
            Node(
                "soc@107c000000",
                vec![
                    Prop("#address-cells", cells(&[1])),
                    Prop("#size-cells", cells(&[1])),
                    Prop("ranges", cells(&[0, 0x10, 0, 0x8000_0000])),
                    Node(
                        "serial@7d001000",
                        vec![
                            Prop("compatible", string("arm,pl011")),
                            Prop("reg", cells(&[0x7d00_1000, 0x200])),
                            Prop("interrupts", cells(&[0, 121, 4])),
                        ],
                    ),
                    Node(
                        "gpio@7d517c00",
                        vec![
                            Prop("compatible", [string("brcm,bcm7445-gpio"), string("brcm,brcmstb-gpio")].concat()),
                            Prop("reg", cells(&[0x7d51_7c00, 0x40])),
                            Prop("phandle", cells(&[0x0c])),
                        ],
                    ),
                    Node(
                        "interrupt-controller@7fff9000",
                        vec![
                            Prop("compatible", string("arm,gic-400")),
                            Prop("reg", cells(&[0x7fff_9000, 0x1000, 0x7fff_a000, 0x2000])),
                            Prop("phandle", cells(&[1])),
                        ],
                    ),
                ],
            ),
            Node(
                "timer",
                vec![
                    Prop("compatible", string("arm,armv8-timer")),
                    Prop("interrupts", cells(&[1, 13, 0xf08, 1, 14, 0xf08, 1, 11, 0xf08, 1, 10, 0xf08])),
                ],
            ),
            Node(
                "leds",
                vec![
                    Prop("compatible", string("gpio-leds")),
                    Node("led-act", vec![Prop("label", string("ACT")), Prop("gpios", cells(&[0x0c, 9, 1]))]),
                ],
            ),
        ],
    ))
}

#[test]
fn pi5_act_led_from_the_downstream_tree_is_the_tables() {
    let tree = probe(&pi5_tree_with_led()).unwrap();
    assert_eq!(
        tree.act_led,
        Some(LedGpio {
            controller: GpioController::Brcmstb,
            controller_base: 0x10_7D51_7C00,
            line: 9,
            active_low: true
        })
    );
    let refined = refine(&pi5::BOARD, &tree).unwrap();
    assert_eq!(refined.act_led, pi5::BOARD.act_led);
    // The UART clock is not in this tree: the table's stays.
    assert_eq!(refined, pi5::BOARD);
}

#[test]
fn a_bus_without_ranges_is_not_memory_mapped() {
    assert_eq!(
        probe(&nested_tree(None)),
        Err(DtbError::Untranslatable { bus_address: 0x3_0000 }),
        "PCI memory address 0x30000 has nowhere to go without the PCIe node's ranges"
    );
    // A window that misses the device is just as untranslatable.
    let elsewhere = cells(&[0x0200_0000, 0, 0x1000_0000, 0x1f, 0, 0, 0x1000]);
    assert!(matches!(probe(&nested_tree(Some(elsewhere))), Err(DtbError::Untranslatable { .. })));
}
