//! Device-tree probing: the PL011 UART, GIC-400, generic timer, PSCI conduit and RAM of the
//! board the firmware booted, with every `reg` address translated through the `ranges` of each
//! bus above it (`/soc`, and nested buses such as the Pi 5's `/axi` → PCIe → RP1) into a CPU
//! physical address.
//!
//! Portable and hostile-input safe: the blob is validated by `dtoolkit` before anything reads
//! it, every property is length-checked here, recursion is bounded, and nothing panics or
//! uses `unsafe`. Unit tests parse the real `bcm2711-rpi-4-b.dtb` and `bcm2712-rpi-5-b.dtb`
//! (`kernel/tests/dtb.rs`).
//!
//! # Resources
//! - Devicetree Specification v0.4, §2.3.5 (`#address-cells`, `#size-cells`, defaults 2 and 1),
//!   §2.3.8 (`ranges`: child-bus-address, parent-bus-address, length; empty = identity; absent
//!   = not memory-mapped), §2.4 (interrupts, `interrupt-parent` inherited from ancestors),
//!   §3.3 (`/aliases`), §3.6 (`/chosen` `stdout-path`).
//! - Linux `Documentation/devicetree/bindings/interrupt-controller/arm,gic.yaml`: three
//!   cells, type 0 = SPI (INTID 32 + n), 1 = PPI (INTID 16 + n).
//! - `bindings/timer/arm,arch_timer.yaml`: interrupts are secure phys, non-secure phys, virtual,
//!   hypervisor (and optionally hypervisor virtual) PPIs.
//! - PCI bus binding (IEEE 1275 PCI): 3 address cells, `phys.hi` holds the space code in
//!   bits 24–25; translation compares space and address, as Linux's `of_bus_pci` does.

use core::fmt;
use dtoolkit::fdt::{Fdt, FdtNode};
use dtoolkit::{Node, Property};

/// Deepest node nesting accepted (real Pi trees nest 5 deep); bounds recursion on hostile input.
pub const MAX_DEPTH: usize = 16;
/// Most RAM regions kept (an 8 GB Pi 4's firmware writes four).
pub const MAX_MEMORY_REGIONS: usize = 8;
/// Most `/cpus` entries kept.
pub const MAX_CPU_NODES: usize = 8;

/// Why a device tree could not describe the board.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DtbError {
    /// The blob fails structural validation (magic, header, tokens, string table).
    Malformed,
    /// Nodes nest deeper than [`MAX_DEPTH`].
    TooDeep,
    /// No enabled `arm,pl011` node.
    NoUart,
    /// No `arm,gic-400` / `arm,cortex-a15-gic` node.
    NoGic,
    /// No `arm,armv8-timer` node.
    NoTimer,
    /// A property's length does not fit its cell counts, or a string is not UTF-8.
    BadProperty { property: &'static str },
    /// `#address-cells` above 3 or `#size-cells` above 2.
    UnsupportedCells { property: &'static str, cells: u32 },
    /// A bus address falls in no `ranges` window of a bus above it (or the bus has no `ranges`).
    Untranslatable { bus_address: u64 },
    /// A device's interrupt parent is not the GIC, or its specifier is not a GIC SPI/PPI.
    UnsupportedInterrupt { property: &'static str },
    /// More than [`MAX_MEMORY_REGIONS`] RAM regions.
    TooManyMemoryRegions,
}

impl fmt::Display for DtbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            DtbError::Malformed => f.write_str("device tree blob is malformed (header, structure or strings)"),
            DtbError::TooDeep => write!(f, "device tree nests deeper than {MAX_DEPTH} levels"),
            DtbError::NoUart => f.write_str("device tree has no enabled arm,pl011 UART"),
            DtbError::NoGic => f.write_str("device tree has no arm,gic-400 interrupt controller"),
            DtbError::NoTimer => f.write_str("device tree has no arm,armv8-timer node"),
            DtbError::BadProperty { property } => {
                write!(f, "device tree property {property} has a bad length or value")
            }
            DtbError::UnsupportedCells { property, cells } => write!(f, "{property} = {cells} is not supported"),
            DtbError::Untranslatable { bus_address } => {
                write!(f, "bus address {bus_address:#x} is outside every ranges window above it")
            }
            DtbError::UnsupportedInterrupt { property } => {
                write!(f, "{property}: interrupt parent is not the GIC or the specifier is not an SPI/PPI")
            }
            DtbError::TooManyMemoryRegions => write!(f, "more than {MAX_MEMORY_REGIONS} memory regions"),
        }
    }
}

/// How PSCI calls reach the firmware.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PsciConduit {
    Smc,
    Hvc,
}

/// The generic timer's interrupts as GIC INTIDs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimerIntids {
    pub secure_physical: u32,
    /// CNTP (EL1 physical timer).
    pub nonsecure_physical: u32,
    /// CNTV (virtual timer).
    pub virtual_timer: u32,
    pub hypervisor: u32,
}

/// How a core is started, from its `/cpus` node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnableMethod {
    /// `enable-method = "psci"`: PSCI `CPU_ON` with the node's `reg` as target.
    Psci,
    /// `enable-method = "spin-table"`: write the entry to `cpu-release-addr`.
    SpinTable { release_address: u64 },
    /// Absent (the boot core) or another method.
    Other,
}

/// One `/cpus/cpu@N` node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuNode {
    /// The `reg` value: the core's MPIDR_EL1 affinity fields (Aff3..Aff0).
    pub affinity: u64,
    pub enable_method: EnableMethod,
}

/// GPIO block layouts the kernel can drive, by `compatible`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GpioController {
    /// `brcm,bcm2711-gpio` (and the BCM2835 family).
    Bcm2711,
    /// `brcm,brcmstb-gpio` (BCM2712 `gio`, `gio_aon`).
    Brcmstb,
    Other,
}

/// The ACT LED: a `gpio-leds` child named `led-act` (or labelled "ACT").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LedGpio {
    pub controller: GpioController,
    /// The controller's first `reg` entry as a CPU physical address.
    pub controller_base: u64,
    pub line: u32,
    /// Flags cell bit 0 (`GPIO_ACTIVE_LOW`).
    pub active_low: bool,
}

/// What the kernel needs to know about a board, read from its device tree. Addresses are CPU
/// physical addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DtbBoard {
    /// The root `model` (e.g. "Raspberry Pi 4 Model B"), cut to 64 bytes at a character boundary.
    pub model: heapless::String<64>,
    /// The console PL011: `/chosen` `stdout-path` if that is a PL011, else alias `serial0`, else
    /// the first enabled one.
    pub uart_base: u64,
    pub uart_size: u64,
    pub uart_intid: u32,
    /// The UART reference clock when the tree gives it as a `fixed-clock` (Pi 5: 9.216 MHz);
    /// `None` when a firmware clock driver provides it (Pi 4).
    pub uart_clock_hz: Option<u32>,
    /// GIC distributor and CPU interface (the first two `reg` entries).
    pub gicd_base: u64,
    pub gicc_base: u64,
    pub timer: TimerIntids,
    /// `/psci` `method`, when the tree has a PSCI node (Pi 5, QEMU virt).
    pub psci: Option<PsciConduit>,
    /// RAM as (base, size) from every `device_type = "memory"` node, zero-sized ones dropped
    /// (a Pi 4 tree before the firmware fills it in has `reg = <0 0 0>`).
    pub memory: heapless::Vec<(u64, u64), MAX_MEMORY_REGIONS>,
    /// The `device_type = "cpu"` nodes in tree order.
    pub cpus: heapless::Vec<CpuNode, MAX_CPU_NODES>,
    /// The ACT LED, when the tree describes it and its controller translates (optional
    /// hardware: a malformed LED node leaves this `None` rather than failing the probe).
    pub act_led: Option<LedGpio>,
}

/// Reads the board description from the device tree blob `dtb`.
pub fn probe(dtb: &[u8]) -> Result<DtbBoard, DtbError> {
    let fdt = Fdt::new(dtb).map_err(|_| DtbError::Malformed)?;
    let root = fdt.root();
    let root_bus = [Bus::of(&root, None)?];

    let mut found = Found::default();
    walk(&root, &root_bus, &mut found)?;

    let gic = found.gic.ok_or(DtbError::NoGic)?;
    let uart_node = choose_uart(fdt, &found)?;
    let uart = uart_from(fdt, &uart_node, gic.phandle)?;
    let timer_interrupts = found.timer.ok_or(DtbError::NoTimer)?;
    let timer = timer_from(&timer_interrupts, gic.phandle)?;
    let act_led = match &found.act_led {
        Some(led) => led_from(fdt, led).ok().flatten(),
        None => None,
    };

    let mut model = heapless::String::new();
    if let Some(text) = string_property(&root, "model")? {
        for c in text.chars() {
            if model.push(c).is_err() {
                break;
            }
        }
    }
    Ok(DtbBoard {
        model,
        uart_base: uart.base,
        uart_size: uart.size,
        uart_intid: uart.intid,
        uart_clock_hz: uart.clock_hz,
        gicd_base: gic.gicd_base,
        gicc_base: gic.gicc_base,
        timer,
        psci: found.psci,
        memory: found.memory,
        cpus: found.cpus,
        act_led,
    })
}

/// The CPU physical (base, size) of the first `reg` entry of the node a `/__symbols__` label
/// (a dts `label:`) names, e.g. `gio_aon` or `uart10`; `None` when the tree has no such label.
pub fn reg_of_label(dtb: &[u8], label: &str) -> Result<Option<(u64, u64)>, DtbError> {
    let fdt = Fdt::new(dtb).map_err(|_| DtbError::Malformed)?;
    let Some(symbols) = fdt.find_node("/__symbols__") else {
        return Ok(None);
    };
    let path = match value(&symbols, label).map(string_value) {
        Some(Some(path)) if path.starts_with('/') => path,
        Some(_) => return Err(DtbError::BadProperty { property: "__symbols__" }),
        None => return Ok(None),
    };
    match resolve(fdt, path)? {
        Some(node) => nth_reg(&node.node, &node.ancestors, 0),
        None => Ok(None),
    }
}

/// Address-space facts of one node, as seen by its children.
#[derive(Debug, Clone, Copy)]
struct Bus<'a> {
    address_cells: u32,
    size_cells: u32,
    /// `None`: no `ranges` (children are not memory-mapped); `Some(&[])`: identity.
    ranges: Option<&'a [u8]>,
    /// The effective `interrupt-parent` phandle (own or inherited).
    interrupt_parent: Option<u32>,
}

impl<'a> Bus<'a> {
    fn of(node: &FdtNode<'a>, parent: Option<&Bus<'a>>) -> Result<Self, DtbError> {
        let address_cells = u32_property(node, "#address-cells")?.unwrap_or(2);
        let size_cells = u32_property(node, "#size-cells")?.unwrap_or(1);
        if address_cells > 3 {
            return Err(DtbError::UnsupportedCells { property: "#address-cells", cells: address_cells });
        }
        if size_cells > 2 {
            return Err(DtbError::UnsupportedCells { property: "#size-cells", cells: size_cells });
        }
        let interrupt_parent = match u32_property(node, "interrupt-parent")? {
            Some(phandle) => Some(phandle),
            None => parent.and_then(|p| p.interrupt_parent),
        };
        Ok(Bus { address_cells, size_cells, ranges: value(node, "ranges"), interrupt_parent })
    }
}

/// A node together with the buses above it (root first), enough to translate and route it.
#[derive(Clone)]
struct Located<'a> {
    node: FdtNode<'a>,
    ancestors: heapless::Vec<Bus<'a>, MAX_DEPTH>,
}

#[derive(Clone, Copy)]
struct Gic {
    gicd_base: u64,
    gicc_base: u64,
    phandle: Option<u32>,
}

/// What one pass over the tree collects.
#[derive(Default)]
struct Found<'a> {
    gic: Option<Gic>,
    first_uart: Option<Located<'a>>,
    timer: Option<Located<'a>>,
    psci: Option<PsciConduit>,
    memory: heapless::Vec<(u64, u64), MAX_MEMORY_REGIONS>,
    cpus: heapless::Vec<CpuNode, MAX_CPU_NODES>,
    act_led: Option<FdtNode<'a>>,
}

fn walk<'a>(node: &FdtNode<'a>, ancestors: &[Bus<'a>], found: &mut Found<'a>) -> Result<(), DtbError> {
    if ancestors.len() > MAX_DEPTH {
        return Err(DtbError::TooDeep);
    }
    for child in node.children() {
        visit(&child, ancestors, found)?;
        let parent = ancestors.last();
        let bus = Bus::of(&child, parent)?;
        let mut below: heapless::Vec<Bus<'a>, { MAX_DEPTH + 1 }> = heapless::Vec::new();
        for ancestor in ancestors.iter().chain(core::iter::once(&bus)) {
            below.push(*ancestor).map_err(|_| DtbError::TooDeep)?;
        }
        walk(&child, &below, found)?;
    }
    Ok(())
}

fn located<'a>(node: &FdtNode<'a>, ancestors: &[Bus<'a>]) -> Result<Located<'a>, DtbError> {
    let ancestors = heapless::Vec::from_slice(ancestors).map_err(|_| DtbError::TooDeep)?;
    Ok(Located { node: *node, ancestors })
}

fn visit<'a>(node: &FdtNode<'a>, ancestors: &[Bus<'a>], found: &mut Found<'a>) -> Result<(), DtbError> {
    if !enabled(node)? {
        return Ok(());
    }
    if found.gic.is_none() && compatible_with(node, &["arm,gic-400", "arm,cortex-a15-gic"])? {
        let gicd = nth_reg(node, ancestors, 0)?.ok_or(DtbError::BadProperty { property: "reg" })?;
        let gicc = nth_reg(node, ancestors, 1)?.ok_or(DtbError::BadProperty { property: "reg" })?;
        let phandle = match u32_property(node, "phandle")? {
            Some(p) => Some(p),
            None => u32_property(node, "linux,phandle")?,
        };
        found.gic = Some(Gic { gicd_base: gicd.0, gicc_base: gicc.0, phandle });
    }
    if found.first_uart.is_none() && compatible_with(node, &["arm,pl011"])? {
        found.first_uart = Some(located(node, ancestors)?);
    }
    if found.timer.is_none() && compatible_with(node, &["arm,armv8-timer"])? {
        found.timer = Some(located(node, ancestors)?);
    }
    if found.psci.is_none() && compatible_with(node, &["arm,psci", "arm,psci-0.2", "arm,psci-1.0"])? {
        found.psci = match string_property(node, "method")? {
            Some("smc") => Some(PsciConduit::Smc),
            Some("hvc") => Some(PsciConduit::Hvc),
            _ => None,
        };
    }
    if string_property(node, "device_type")? == Some("cpu") {
        let cpu = cpu_from(node, ancestors)?;
        // Trees with more cores than the kernel uses: keep the first ones.
        let _ = found.cpus.push(cpu);
    }
    if found.act_led.is_none() && is_act_led(node) {
        found.act_led = Some(*node);
    }
    if string_property(node, "device_type")? == Some("memory") {
        let mut index = 0;
        while let Some((base, size)) = nth_reg(node, ancestors, index)? {
            if size > 0 {
                found.memory.push((base, size)).map_err(|_| DtbError::TooManyMemoryRegions)?;
            }
            index += 1;
        }
    }
    Ok(())
}

/// A `/cpus` child: `reg` in the parent's `#address-cells` (no translation: these are MPIDR
/// values, not addresses), and how it is started.
fn cpu_from(node: &FdtNode<'_>, ancestors: &[Bus<'_>]) -> Result<CpuNode, DtbError> {
    let parent = ancestors.last().ok_or(DtbError::BadProperty { property: "reg" })?;
    let reg = value(node, "reg").ok_or(DtbError::BadProperty { property: "reg" })?;
    let width = 4 * parent.address_cells as usize;
    if width == 0 || reg.len() < width {
        return Err(DtbError::BadProperty { property: "reg" });
    }
    let affinity = u64::try_from(cells(&reg[..width])).map_err(|_| DtbError::BadProperty { property: "reg" })?;
    let enable_method = match string_property(node, "enable-method")? {
        Some("psci") => EnableMethod::Psci,
        Some("spin-table") => match value(node, "cpu-release-addr") {
            Some(bytes) if bytes.len() == 8 => EnableMethod::SpinTable { release_address: cells(bytes) as u64 },
            _ => return Err(DtbError::BadProperty { property: "cpu-release-addr" }),
        },
        _ => EnableMethod::Other,
    };
    Ok(CpuNode { affinity, enable_method })
}

/// A `gpio-leds` child named `led-act` or labelled "ACT" (the parent's compatible is not
/// checked: a node of that name with a `gpios` property means nothing else).
fn is_act_led(node: &FdtNode<'_>) -> bool {
    if value(node, "gpios").is_none() {
        return false;
    }
    node.name_without_address() == "led-act" || matches!(string_property(node, "label"), Ok(Some("ACT")))
}

/// The LED's GPIO: `gpios = <&controller line flags>`, the controller found by phandle.
fn led_from<'a>(fdt: Fdt<'a>, led: &FdtNode<'a>) -> Result<Option<LedGpio>, DtbError> {
    let gpios = value(led, "gpios").ok_or(DtbError::BadProperty { property: "gpios" })?;
    if gpios.len() < 12 {
        return Err(DtbError::BadProperty { property: "gpios" });
    }
    let (phandle, line, flags) = (be32(&gpios[0..4]), be32(&gpios[4..8]), be32(&gpios[8..12]));
    let Some(controller) = find_phandle(fdt, phandle)? else {
        return Ok(None);
    };
    let Some((controller_base, _)) = nth_reg(&controller.node, &controller.ancestors, 0)? else {
        return Ok(None);
    };
    let kind = if compatible_with(&controller.node, &["brcm,bcm2711-gpio", "brcm,bcm2835-gpio"])? {
        GpioController::Bcm2711
    } else if compatible_with(&controller.node, &["brcm,brcmstb-gpio"])? {
        GpioController::Brcmstb
    } else {
        GpioController::Other
    };
    Ok(Some(LedGpio { controller: kind, controller_base, line, active_low: flags & 1 != 0 }))
}

/// The node whose `phandle` is `phandle`, with the buses above it.
fn find_phandle<'a>(fdt: Fdt<'a>, phandle: u32) -> Result<Option<Located<'a>>, DtbError> {
    fn search<'a>(
        node: &FdtNode<'a>,
        ancestors: &mut heapless::Vec<Bus<'a>, MAX_DEPTH>,
        phandle: u32,
    ) -> Result<Option<Located<'a>>, DtbError> {
        let bus = Bus::of(node, ancestors.last())?;
        ancestors.push(bus).map_err(|_| DtbError::TooDeep)?;
        for child in node.children() {
            if u32_property(&child, "phandle")? == Some(phandle) {
                return located(&child, ancestors).map(Some);
            }
            if let Some(found) = search(&child, ancestors, phandle)? {
                return Ok(Some(found));
            }
        }
        ancestors.pop();
        Ok(None)
    }
    search(&fdt.root(), &mut heapless::Vec::new(), phandle)
}

/// The console UART: `stdout-path`, then `serial0`, then the first enabled PL011.
fn choose_uart<'a>(fdt: Fdt<'a>, found: &Found<'a>) -> Result<Located<'a>, DtbError> {
    let stdout = match fdt.find_node("/chosen") {
        Some(chosen) => string_property(&chosen, "stdout-path")?,
        None => None,
    };
    let stdout = stdout.map(|path| path.split(':').next().unwrap_or(path));
    for candidate in [stdout, Some("serial0")].into_iter().flatten() {
        if let Some(uart) = resolve(fdt, candidate)? {
            if compatible_with(&uart.node, &["arm,pl011"])? && enabled(&uart.node)? {
                return Ok(uart);
            }
        }
    }
    found.first_uart.clone().ok_or(DtbError::NoUart)
}

/// Follows a path or an alias name to its node, collecting the buses on the way.
fn resolve<'a>(fdt: Fdt<'a>, path_or_alias: &str) -> Result<Option<Located<'a>>, DtbError> {
    let path = if path_or_alias.starts_with('/') {
        path_or_alias
    } else {
        match fdt.find_node("/aliases") {
            Some(aliases) => match value(&aliases, path_or_alias).map(string_value) {
                Some(Some(path)) if path.starts_with('/') => path,
                Some(None) => return Err(DtbError::BadProperty { property: "aliases" }),
                _ => return Ok(None),
            },
            None => return Ok(None),
        }
    };
    let mut node = fdt.root();
    let mut ancestors: heapless::Vec<Bus<'a>, MAX_DEPTH> = heapless::Vec::new();
    ancestors.push(Bus::of(&node, None)?).map_err(|_| DtbError::TooDeep)?;
    let mut components = path.split('/').filter(|c| !c.is_empty()).peekable();
    while let Some(component) = components.next() {
        let Some(child) = node.child(component) else {
            return Ok(None);
        };
        node = child;
        if components.peek().is_some() {
            let bus = Bus::of(&node, ancestors.last())?;
            ancestors.push(bus).map_err(|_| DtbError::TooDeep)?;
        }
    }
    Ok(Some(Located { node, ancestors }))
}

struct Uart {
    base: u64,
    size: u64,
    intid: u32,
    clock_hz: Option<u32>,
}

fn uart_from<'a>(fdt: Fdt<'a>, uart: &Located<'a>, gic: Option<u32>) -> Result<Uart, DtbError> {
    let (base, size) = nth_reg(&uart.node, &uart.ancestors, 0)?.ok_or(DtbError::BadProperty { property: "reg" })?;
    let parent = match u32_property(&uart.node, "interrupt-parent")? {
        Some(phandle) => Some(phandle),
        None => uart.ancestors.last().and_then(|bus| bus.interrupt_parent),
    };
    let interrupts = interrupt_triples(&uart.node, parent, gic, "interrupts")?;
    let first = interrupts.first().copied().ok_or(DtbError::UnsupportedInterrupt { property: "interrupts" })?;
    let intid = gic_intid(first).ok_or(DtbError::UnsupportedInterrupt { property: "interrupts" })?;
    // The first `clocks` phandle is the UART clock ("uartclk"); a fixed-clock states its rate.
    let clock_hz = match value(&uart.node, "clocks").and_then(|v| v.get(..4)) {
        Some(cell) => fixed_clock_rate(fdt, be32(cell))?,
        None => None,
    };
    Ok(Uart { base, size, intid, clock_hz })
}

fn timer_from(timer: &Located<'_>, gic: Option<u32>) -> Result<TimerIntids, DtbError> {
    let parent = match u32_property(&timer.node, "interrupt-parent")? {
        Some(phandle) => Some(phandle),
        None => timer.ancestors.last().and_then(|bus| bus.interrupt_parent),
    };
    let triples = interrupt_triples(&timer.node, parent, gic, "interrupts")?;
    let intid = |index: usize| {
        triples.get(index).copied().and_then(gic_intid).ok_or(DtbError::UnsupportedInterrupt { property: "interrupts" })
    };
    Ok(TimerIntids {
        secure_physical: intid(0)?,
        nonsecure_physical: intid(1)?,
        virtual_timer: intid(2)?,
        hypervisor: intid(3)?,
    })
}

/// The node's `interrupts` as GIC triples, after checking its interrupt parent is the GIC.
fn interrupt_triples(
    node: &FdtNode<'_>,
    parent: Option<u32>,
    gic: Option<u32>,
    property: &'static str,
) -> Result<heapless::Vec<[u32; 3], 8>, DtbError> {
    // A tree without phandles on the GIC (and no interrupt-parent) can only mean the GIC.
    if parent.is_some() && parent != gic {
        return Err(DtbError::UnsupportedInterrupt { property });
    }
    let bytes = value(node, property).ok_or(DtbError::UnsupportedInterrupt { property })?;
    if bytes.is_empty() || bytes.len() % 12 != 0 {
        return Err(DtbError::BadProperty { property });
    }
    let mut triples = heapless::Vec::new();
    for chunk in bytes.chunks_exact(12).take(8) {
        let triple = [be32(&chunk[0..4]), be32(&chunk[4..8]), be32(&chunk[8..12])];
        // `take(8)` keeps this within capacity.
        triples.push(triple).map_err(|_| DtbError::BadProperty { property })?;
    }
    Ok(triples)
}

/// GIC INTID of a three-cell specifier: SPI n → 32 + n, PPI n → 16 + n.
fn gic_intid([kind, number, _flags]: [u32; 3]) -> Option<u32> {
    match kind {
        0 if number < 988 => Some(32 + number),
        1 if number < 16 => Some(16 + number),
        _ => None,
    }
}

/// The `clock-frequency` of the `fixed-clock` node with this phandle, if it is one.
fn fixed_clock_rate(fdt: Fdt<'_>, phandle: u32) -> Result<Option<u32>, DtbError> {
    fn find<'a>(node: &FdtNode<'a>, phandle: u32, depth: usize) -> Result<Option<FdtNode<'a>>, DtbError> {
        if depth > MAX_DEPTH {
            return Err(DtbError::TooDeep);
        }
        for child in node.children() {
            if u32_property(&child, "phandle")? == Some(phandle) {
                return Ok(Some(child));
            }
            if let Some(found) = find(&child, phandle, depth + 1)? {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }
    match find(&fdt.root(), phandle, 0)? {
        Some(clock) if compatible_with(&clock, &["fixed-clock"])? => u32_property(&clock, "clock-frequency"),
        _ => Ok(None),
    }
}

/// The `index`th `reg` entry of `node` as a CPU physical (base, size), or `None` past the end.
fn nth_reg(node: &FdtNode<'_>, ancestors: &[Bus<'_>], index: usize) -> Result<Option<(u64, u64)>, DtbError> {
    let parent = ancestors.last().ok_or(DtbError::BadProperty { property: "reg" })?;
    let Some(reg) = value(node, "reg") else {
        return Ok(None);
    };
    let entry_bytes = 4 * (parent.address_cells + parent.size_cells) as usize;
    if entry_bytes == 0 || reg.len() % entry_bytes != 0 {
        return Err(DtbError::BadProperty { property: "reg" });
    }
    let Some(entry) = reg.chunks_exact(entry_bytes).nth(index) else {
        return Ok(None);
    };
    let (address, size) = entry.split_at(4 * parent.address_cells as usize);
    let address = bus_address(address, parent.address_cells);
    let size = u64::try_from(cells(size)).map_err(|_| DtbError::BadProperty { property: "reg" })?;
    Ok(Some((translate(address, ancestors)?, size)))
}

/// Translates a bus address of a child of `ancestors.last()` up to the root's address space.
fn translate(mut address: u128, ancestors: &[Bus<'_>]) -> Result<u64, DtbError> {
    let bus_address_u64 = |a: u128| a as u64;
    for level in (1..ancestors.len()).rev() {
        let bus = &ancestors[level];
        let parent = &ancestors[level - 1];
        let Some(ranges) = bus.ranges else {
            return Err(DtbError::Untranslatable { bus_address: bus_address_u64(address) });
        };
        if ranges.is_empty() {
            continue; // identity mapping
        }
        let child_bytes = 4 * bus.address_cells as usize;
        let parent_bytes = 4 * parent.address_cells as usize;
        let entry_bytes = child_bytes + parent_bytes + 4 * bus.size_cells as usize;
        if entry_bytes == 0 || ranges.len() % entry_bytes != 0 {
            return Err(DtbError::BadProperty { property: "ranges" });
        }
        let mut translated = None;
        for entry in ranges.chunks_exact(entry_bytes) {
            let child = bus_address(&entry[..child_bytes], bus.address_cells);
            let parent_base = bus_address(&entry[child_bytes..child_bytes + parent_bytes], parent.address_cells);
            let length = cells(&entry[child_bytes + parent_bytes..]);
            if child <= address && address - child < length {
                translated = Some(parent_base.checked_add(address - child));
                break;
            }
        }
        match translated {
            Some(Some(next)) => address = next,
            _ => return Err(DtbError::Untranslatable { bus_address: bus_address_u64(address) }),
        }
    }
    u64::try_from(address).map_err(|_| DtbError::Untranslatable { bus_address: bus_address_u64(address) })
}

/// A bus address of `count` cells; for PCI's three cells only the space code of `phys.hi`
/// takes part (bus/device/function numbers and flags do not select a window).
fn bus_address(bytes: &[u8], count: u32) -> u128 {
    if count == 3 && bytes.len() == 12 {
        let space = u128::from(be32(&bytes[..4]) & 0x0300_0000);
        return (space << 64) | cells(&bytes[4..]);
    }
    cells(bytes)
}

/// Big-endian cells (at most four, 16 bytes) as one number.
fn cells(bytes: &[u8]) -> u128 {
    bytes.chunks_exact(4).take(4).fold(0u128, |acc, cell| (acc << 32) | u128::from(be32(cell)))
}

/// A big-endian u32 from the first four bytes (callers pass exactly four; shorter reads as zero-padded).
fn be32(bytes: &[u8]) -> u32 {
    let mut word = [0u8; 4];
    for (slot, byte) in word.iter_mut().zip(bytes) {
        *slot = *byte;
    }
    u32::from_be_bytes(word)
}

fn value<'a>(node: &FdtNode<'a>, name: &str) -> Option<&'a [u8]> {
    // `value_as` keeps the blob's lifetime (`Property::value` borrows the property instead).
    node.properties().find(|p| p.name() == name).and_then(|p| p.value_as::<&'a [u8]>().ok())
}

fn u32_property(node: &FdtNode<'_>, name: &'static str) -> Result<Option<u32>, DtbError> {
    match value(node, name) {
        None => Ok(None),
        Some(bytes) if bytes.len() == 4 => Ok(Some(be32(bytes))),
        Some(_) => Err(DtbError::BadProperty { property: name }),
    }
}

/// A single NUL-terminated UTF-8 string property.
fn string_property<'a>(node: &FdtNode<'a>, name: &'static str) -> Result<Option<&'a str>, DtbError> {
    match value(node, name) {
        None => Ok(None),
        Some(bytes) => string_value(bytes).map(Some).ok_or(DtbError::BadProperty { property: name }),
    }
}

/// The first string of a NUL-terminated string (list) value.
fn string_value(bytes: &[u8]) -> Option<&str> {
    let text = bytes.strip_suffix(&[0])?;
    let first = text.split(|&b| b == 0).next().unwrap_or(text);
    core::str::from_utf8(first).ok()
}

/// Whether the node's `compatible` string list contains any of `wanted`.
fn compatible_with(node: &FdtNode<'_>, wanted: &[&str]) -> Result<bool, DtbError> {
    let Some(list) = value(node, "compatible") else {
        return Ok(false);
    };
    Ok(list
        .split(|&b| b == 0)
        .filter_map(|entry| core::str::from_utf8(entry).ok())
        .any(|entry| wanted.contains(&entry)))
}

/// `status` absent, "okay" or "ok"; a malformed status counts as disabled.
fn enabled(node: &FdtNode<'_>) -> Result<bool, DtbError> {
    Ok(matches!(string_property(node, "status"), Ok(None | Some("okay" | "ok"))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gic_specifiers_map_to_intids() {
        assert_eq!(gic_intid([0, 121, 4]), Some(153));
        assert_eq!(gic_intid([1, 14, 0xf08]), Some(30));
        assert_eq!(gic_intid([1, 16, 0]), None);
        assert_eq!(gic_intid([2, 0, 0]), None);
    }

    #[test]
    fn pci_addresses_compare_space_and_address_only() {
        // Memory space (0x02), bus 1 device 0: the bus/device bits do not take part.
        let a = [0x02, 0x01, 0x00, 0x00, 0, 0, 0, 0, 0x10, 0, 0, 0];
        let b = [0x02, 0x00, 0x00, 0x00, 0, 0, 0, 0, 0x10, 0, 0, 0];
        assert_eq!(bus_address(&a, 3), bus_address(&b, 3));
    }

    #[test]
    fn garbage_is_malformed() {
        assert_eq!(probe(&[]), Err(DtbError::Malformed));
        assert_eq!(probe(&[0xd0, 0x0d, 0xfe, 0xed, 0, 0, 0, 0x28]), Err(DtbError::Malformed));
    }
}
