//! kingly-loader: the serial chainloader that sits on the SD card instead of the kernel.
//!
//! At power-on it sets up the PL011 at the rate the card asks for (`kingly.baud=N` in
//! `cmdline.txt`, which the firmware hands over as the device tree's `/chosen/bootargs`;
//! 115200 without one), announces itself once a second
//! (`KINGLY-LOADER v1 board=pi4 load=0x80000 max=… baud=N`), and waits for `kingly boot --serial`
//! to send a kernel over the frames of [`kingly_proto::chainload`]. Once the whole image
//! is in memory and its CRC-32C matches, it jumps to it with x0 = the firmware's DTB
//! pointer; the secondary cores are still parked where the firmware left them, so the
//! kernel boots exactly as if the firmware had loaded it.
//!
//! No heap, no interrupts, no MMU: a polling loop around the sans-IO [`Loader`].
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
mod arch;
#[cfg(target_os = "none")]
mod board;

#[cfg(target_os = "none")]
mod bare_metal {
    use crate::arch;
    use crate::board::BOARD;
    use core::fmt::Write;
    use kingly_drivers::bcm2711_gpio::Bcm2711Gpio;
    use kingly_drivers::pl011::Pl011;
    use kingly_proto::chainload::{Loader, LoaderOutput};
    use kingly_proto::line_rate::{self, LineRateError, DEFAULT_BAUD, MAX_DTB_BYTES};

    extern "C" {
        static __loader_start: u8;
    }

    struct Uart(Pl011);

    impl Write for Uart {
        fn write_str(&mut self, text: &str) -> core::fmt::Result {
            self.0.write_text(text);
            Ok(())
        }
    }

    /// The kernel's load window: from the load address up to the loader (or up to the
    /// device tree, if the firmware put it in between).
    fn window_bytes(dtb: usize) -> usize {
        let start = BOARD.load_address as usize;
        let mut end = core::ptr::addr_of!(__loader_start) as usize;
        if dtb > start && dtb < end {
            end = dtb;
        }
        end - start
    }

    /// The rate the card asks for in the device tree at `dtb` (x0 from the firmware; 0 under
    /// QEMU without `-dtb`): `None` for no tree or no `kingly.baud=`, an error for a tree or a
    /// rate the loader cannot use.
    fn card_baud(dtb: usize) -> Result<Option<u32>, LineRateError> {
        if dtb == 0 || dtb & 7 != 0 {
            return Ok(None);
        }
        // SAFETY: the firmware (or QEMU) passes the address of the device tree it placed in
        // RAM, 8-byte aligned as the Devicetree Specification (§5.1) requires; its first 8
        // bytes are the header's magic and size.
        let header = unsafe { core::ptr::read_volatile(dtb as *const [u8; 8]) };
        let Some(size) = line_rate::dtb_total_size(&header) else {
            return Ok(None);
        };
        // SAFETY: as above; the header says the tree takes `size` bytes, and a size beyond
        // MAX_DTB_BYTES is not believed. Nothing writes the tree while the loader reads it.
        let tree = unsafe { core::slice::from_raw_parts(dtb as *const u8, size.min(MAX_DTB_BYTES)) };
        line_rate::baud_from_tree(tree, BOARD.id.uart_clock_hz())
    }

    /// Core 0's first Rust function, called by `entry.s` on the relocated copy.
    #[no_mangle]
    extern "C" fn loader_main(dtb: usize) -> ! {
        if let Some(gpio_base) = BOARD.gpio_base {
            // SAFETY: the board table's GPIO block; nothing else drives it yet.
            let gpio = unsafe { Bcm2711Gpio::new(gpio_base) };
            gpio.route_uart0();
        }
        // SAFETY: the board table's PL011; the loader is its only user.
        let mut uart = Uart(unsafe { Pl011::new(BOARD.uart_base) });
        let card = card_baud(dtb);
        let baud = card.unwrap_or(None).unwrap_or(DEFAULT_BAUD);
        uart.0.init(BOARD.id.uart_clock_hz(), baud);
        let problem = card.err();

        let window = window_bytes(dtb);
        // SAFETY: [load_address, load_address + window) is RAM that nothing uses: entry.s
        // moved the loader above it, the firmware's spin table and stubs sit below 0x80000,
        // and `window_bytes` stops short of the device tree.
        let memory = unsafe { core::slice::from_raw_parts_mut(BOARD.load_address as *mut u8, window) };
        let mut loader = Loader::new(BOARD.id, BOARD.load_address, memory).announcing_baud(baud);
        serve(&mut uart, &mut loader, dtb, problem)
    }

    /// Announces the loader once a second while it is idle (after why the card's rate was
    /// refused, if it was), answers the host's frames, and jumps once an image is whole.
    fn serve(uart: &mut Uart, loader: &mut Loader<'_>, dtb: usize, problem: Option<LineRateError>) -> ! {
        let second = arch::ticks_per_second();
        let mut last_announcement: Option<u64> = None;
        loop {
            let now = arch::ticks();
            if loader.is_idle() && last_announcement.is_none_or(|at| now.wrapping_sub(at) >= second) {
                // `write!` to the UART cannot fail.
                if let Some(problem) = problem {
                    let _ = write!(uart, "\nKINGLY-LOADER: {problem}; listening at {DEFAULT_BAUD} baud");
                }
                let _ = write!(uart, "\n{}\n", loader.announcement());
                last_announcement = Some(now);
            }
            let Some((byte, _flags)) = uart.0.read_byte() else {
                continue;
            };
            if !loader.is_idle() {
                last_announcement = Some(now);
            }
            let mut input: &[u8] = &[byte];
            while let Some(output) = loader.push(&mut input) {
                match output {
                    LoaderOutput::Send { bytes, len } => bytes[..len].iter().for_each(|&b| uart.0.write_byte(b)),
                    LoaderOutput::Jump { reply, len, entry } => {
                        reply[..len].iter().for_each(|&b| uart.0.write_byte(b));
                        uart.0.flush();
                        // SAFETY: the loader checked the image's CRC-32C against the host's;
                        // it lies whole at `entry` and the loader needs nothing more.
                        unsafe { arch::jump_to_kernel(entry, dtb as u64) }
                    }
                }
            }
        }
    }

    #[panic_handler]
    fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
        // SAFETY: the board's PL011, already set up; a panicking loader has no other user.
        let mut uart = Uart(unsafe { Pl011::new(BOARD.uart_base) });
        let _ = write!(uart, "\nKINGLY-LOADER panic: {info}\n");
        loop {
            core::hint::spin_loop();
        }
    }
}

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("kingly-loader runs on bare metal: `kingly image --chainload` puts it on an SD card");
}
