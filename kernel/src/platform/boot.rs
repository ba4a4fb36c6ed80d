//! The boot sequence, from the first Rust function to the ready line.

use super::{devices, heap, irq, log, memory, power, serve, smp, state, virtio_port};
use crate::arch::aarch64::cpu::{self, Aarch64Cpu};
use crate::arch::aarch64::{exceptions, mmu};
use crate::board::{self, Board};
use crate::bootargs::{self, BootArgs};
use crate::cpu::{CpuOps, MAX_CPUS};
use crate::dtb::{DtbBoard, DtbError};
use crate::kprintln;

/// The boot-argument area `kingly boot` patches (see [`crate::bootargs`]).
#[used]
#[no_mangle]
#[link_section = ".data.kingly_bootargs"]
static KINGLY_BOOTARGS: [u8; bootargs::AREA_BYTES] = {
    let mut area = [0u8; bootargs::AREA_BYTES];
    let mut i = 0;
    while i < bootargs::MAGIC.len() {
        area[i] = bootargs::MAGIC[i];
        i += 1;
    }
    area
};

static ARGS_TEXT: spin::Once<[u8; bootargs::AREA_BYTES]> = spin::Once::new();
fn boot_args() -> BootArgs<'static> {
    let text = ARGS_TEXT.call_once(|| {
        // SAFETY: reading our own static; volatile because the host rewrote it after linking.
        unsafe { core::ptr::read_volatile(core::ptr::addr_of!(KINGLY_BOOTARGS)) }
    });
    match bootargs::parse(&text[bootargs::MAGIC.len()..]) {
        Ok(args) => args,
        Err(error) => {
            kprintln!("warning: ignoring boot arguments: {error:?}");
            BootArgs::default()
        }
    }
}

extern "C" {
    static __kernel_start: u8;
    static __kernel_end: u8;
}

/// The board to run with: the table, or the table with the device tree's devices. Logs which.
fn refine_board(table: &'static Board, tree: Option<(&[u8], &Result<DtbBoard, DtbError>)>) -> &'static Board {
    let Some((blob, result)) = tree else {
        kprintln!("devices: from the {} board table (no device tree)", table.name);
        return table;
    };
    let address = blob.as_ptr() as usize;
    let tree = match result {
        Ok(tree) => tree,
        Err(error) => {
            kprintln!(
                "devices: from the {} board table: the device tree at {address:#x} is unusable: {error}",
                table.name
            );
            return table;
        }
    };
    match board::device_tree::refine(table, tree) {
        Ok(refined) => {
            let board = state::set_board(refined);
            kprintln!(
                "devices: from the device tree at {address:#x} ({}): uart {:#x} intid {}, gic {:#x}/{:#x}, timer intid {}",
                tree.model,
                board.uart_base,
                board.uart_intid,
                board.gicd_base,
                board.gicc_base,
                board.timer_intid
            );
            board
        }
        Err(refusal) => {
            kprintln!("devices: from the {} board table: {refusal}", table.name);
            table
        }
    }
}

/// Core 0's first Rust function, at EL1 with the MMU off.
#[no_mangle]
extern "C" fn kingly_main(dtb: usize, entry_el: usize) -> ! {
    cpu::set_cpu_id(0);
    let board = state::board();
    let early = devices::early_uart(board);
    early.init(board.uart_clock_hz, 115_200);
    kprintln!(
        "\nKingly {} booting on {} (entered at EL{entry_el}, dtb={dtb:#x})",
        env!("CARGO_PKG_VERSION"),
        board.name
    );

    // Both read memory the firmware wrote: the blob's header, and the mailbox's reply (the
    // VideoCore sees memory, not our caches), so they run before the caches are on.
    let blob = memory::device_tree_blob(dtb);
    let mailbox_ram = memory::mailbox_ram(board);
    if let Err(error) = mmu::build_tables(board.memory_map) {
        kprintln!("FATAL: cannot build the translation tables: {error:?}");
        cpu::halt();
    }
    mmu::enable();
    log::locks_usable();
    let args = boot_args();
    power::init(entry_el as u64, args.semihosting);

    // Parsed with the MMU on: the parser may load unaligned, which device memory refuses.
    let tree = blob.map(|blob| (blob, crate::dtb::probe(blob)));
    let board = refine_board(board, tree.as_ref().map(|(blob, result)| (*blob, result)));
    let kernel_start = core::ptr::addr_of!(__kernel_start) as u64;
    let tree_board = tree.as_ref().and_then(|(_, result)| result.as_ref().ok());
    let ram = memory::choose(board, tree_board, blob, mailbox_ram, kernel_start);

    let devices = devices::init(board);
    if board.uart_base != state::board_table().uart_base {
        devices.uart.init(board.uart_clock_hz, 115_200);
    }
    if let Some(gpio) = &devices.gpio {
        gpio.route_uart0();
    }
    let kernel_end = core::ptr::addr_of!(__kernel_end) as u64;
    state::set_ram_bytes(ram.size);
    let (heap_start, heap_end) = memory::heap_range(&ram, kernel_end);
    let heap_bytes = (heap_end - heap_start) as usize;
    // SAFETY: `heap_range` excludes the kernel image and the device tree; the rest of the
    // RAM above the image is unused and is given to the heap for good.
    unsafe { heap::init(heap_start as usize, heap_bytes) };
    kprintln!(
        "memory: {} MiB RAM at {:#x} (from {}), heap {} MiB at {heap_start:#x}",
        ram.size >> 20,
        ram.base,
        ram.source.name(),
        heap_bytes >> 20
    );

    exceptions::install(irq::handle_exception);
    devices.gic.init_distributor();
    devices.gic.init_cpu_interface();
    devices.gic.enable(board.uart_intid, 0x80, 0b1);
    devices.uart.enable_rx_interrupts();
    virtio_port::init(devices);
    irq::start_tick();
    cpu::enable_irqs();
    smp::mark_online();

    smp::start_secondaries(board, entry_el as u64);
    let cpus = smp::wait_online(MAX_CPUS, 2_000_000_000);
    if cpus < MAX_CPUS {
        kprintln!("warning: only {cpus} of {MAX_CPUS} cores came up");
    }
    let el = cpu::current_el();
    let mmu_state = if mmu::is_enabled() { "on" } else { "off" };
    kprintln!("kingly ready: board={} cpus={cpus} el={el} mmu={mmu_state} heap={heap_bytes}", board.name);

    if let Some(name) = args.test {
        power::exit(run_suite(name));
    }
    serve::run()
}

/// Runs the test suite the boot arguments name; returns the exit status.
#[cfg(feature = "suites")]
fn run_suite(name: &str) -> u32 {
    super::suites::run(name)
}

/// A production kernel has no suites: it says so and exits with status 2.
#[cfg(not(feature = "suites"))]
fn run_suite(name: &str) -> u32 {
    kprintln!(
        "error: this kernel was built without test suites, so it cannot run '{name}'; \
         `kingly boot --test {name}` builds one with them (cargo feature `suites`)"
    );
    2
}

/// A secondary core's first Rust function, at EL1 with the MMU off.
#[no_mangle]
extern "C" fn kingly_secondary_main(core: usize) -> ! {
    cpu::set_cpu_id(core);
    // No atomics before this: exclusives need the MMU and caches on.
    mmu::enable();
    exceptions::install(irq::handle_exception);
    if let Some(devices) = devices::get() {
        devices.gic.init_cpu_interface();
    }
    irq::start_tick();
    cpu::enable_irqs();
    smp::mark_online();
    smp::secondary_idle(core)
}

/// Runs at EL3 (ELF entry on QEMU raspi4b) before the drop to EL1: what a Pi firmware
/// armstub does. `.bss` is not zeroed yet, so this writes no statics.
#[no_mangle]
extern "C" fn kingly_el3_init(core: usize) {
    devices::el3_gic(state::board_table()).el3_route_all_to_non_secure(core);
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    let core = Aarch64Cpu::cpu_id();
    let irq = Aarch64Cpu::irq_save();
    let _ = irq;
    match info.location() {
        Some(l) => log::write_fmt_panicking(format_args!(
            "\nPANIC on core {core} at {}:{}: {}\n",
            l.file(),
            l.line(),
            info.message()
        )),
        None => log::write_fmt_panicking(format_args!("\nPANIC on core {core}: {}\n", info.message())),
    }
    power::exit(101)
}
