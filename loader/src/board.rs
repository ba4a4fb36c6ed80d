//! Where the UART is on each board the loader is built for (`--features board-pi4|board-pi5`).

use kingly_proto::chainload::LoaderBoard;

/// What the loader needs to know about its board.
pub struct Board {
    /// The board named in the announcement; a kernel for another is refused.
    pub id: LoaderBoard,
    /// PL011 base address (its reference clock is `id.uart_clock_hz()`).
    pub uart_base: usize,
    /// BCM2711 GPIO block whose pins 14/15 carry UART0, if the UART sits on the header.
    pub gpio_base: Option<usize>,
    /// Where kernels are loaded and entered.
    pub load_address: u64,
}

/// Raspberry Pi 4 (and QEMU `raspi4b`): UART0 on GPIO 14 (TXD) / 15 (RXD), header pins 8/10.
#[cfg(not(feature = "board-pi5"))]
pub const BOARD: Board =
    Board { id: LoaderBoard::Pi4, uart_base: 0xFE20_1000, gpio_base: Some(0xFE20_0000), load_address: 0x80000 };

/// Raspberry Pi 5: the three-pin debug UART connector between the HDMI ports.
#[cfg(feature = "board-pi5")]
pub const BOARD: Board =
    Board { id: LoaderBoard::Pi5, uart_base: 0x10_7D00_1000, gpio_base: None, load_address: 0x80000 };
