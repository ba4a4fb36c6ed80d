//! `config.txt`, the Raspberry Pi firmware's boot configuration.
//!
//! # Resources
//! - Raspberry Pi documentation, "config.txt": conditional filters (`[pi4]`, `[pi5]`, `[all]`),
//!   `arm_64bit`, `kernel`, `kernel_address`, `enable_uart`, `os_check`, `uart_2ndstage`,
//!   `init_uart_clock`, `init_uart_baud`.
//! - Raspberry Pi documentation, "cmdline.txt": one line, handed to the kernel as the device
//!   tree's `/chosen/bootargs`.

use super::Boards;
use kingly_proto::line_rate::BAUD_KEY;

/// The Pi 4 kernel file name on the card (the firmware's default for 64-bit kernels).
pub const PI4_KERNEL: &str = "kernel8.img";
/// The Pi 5 kernel file name on the card (the firmware's default on BCM2712).
pub const PI5_KERNEL: &str = "kernel_2712.img";

/// The text of `config.txt` for the selected boards: common settings, then one section per board.
/// A chainload card (`chainload_baud` is the loader's rate) also has the firmware log its own
/// boot on the UART at that rate and, on the Pi 4, pins the PL011's clock at the 48 MHz the
/// loader's baud divisor assumes.
pub fn render(boards: Boards, chainload_baud: Option<u32>) -> String {
    let chainload = chainload_baud.is_some();
    let mut text = String::from(
        "# Kingly boot configuration, written by `kingly image`.\n\
         [all]\n\
         # 64-bit mode, the kernel's raw image at its link address, PL011 console on GPIO 14/15.\n\
         arm_64bit=1\n\
         kernel_address=0x80000\n\
         enable_uart=1\n",
    );
    if let Some(baud) = chainload_baud {
        text.push_str(&format!(
            "# The serial chainloader is on this card: the firmware's own log goes to the UART too,\n\
             # so a board that never reaches the loader still says why, at the loader's rate\n\
             # ({BAUD_KEY}= in cmdline.txt; change both together).\n\
             uart_2ndstage=1\n\
             init_uart_baud={baud}\n",
        ));
    }
    if boards.pi4 {
        text.push_str(&format!("\n[pi4]\nkernel={PI4_KERNEL}\n"));
        if chainload {
            text.push_str(
                "# UART0's reference clock, which the loader divides down to its baud rate.\ninit_uart_clock=48000000\n",
            );
        }
    }
    if boards.pi5 {
        text.push_str(&format!(
            "\n[pi5]\nkernel={PI5_KERNEL}\n\
             # Boot a kernel that is not Linux without the downstream device tree's blessing.\n\
             os_check=0\n"
        ));
    }
    text.push_str("\n[all]\n");
    text
}

/// The text of a chainload card's `cmdline.txt`: the firmware passes it to the loader as
/// `/chosen/bootargs`, where the loader finds the rate to listen at.
pub fn render_cmdline(baud: u32) -> String {
    format!("{BAUD_KEY}={baud}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_boards_have_their_sections() {
        let text = render(Boards { pi4: true, pi5: true }, None);
        for line in ["arm_64bit=1", "kernel_address=0x80000", "enable_uart=1", "[pi4]", "kernel=kernel8.img"] {
            assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
        }
        let pi5 = text.split("[pi5]").nth(1).unwrap();
        assert!(pi5.contains("kernel=kernel_2712.img\n") && pi5.contains("os_check=0\n"));
        assert!(text.ends_with("[all]\n"), "later additions must apply to every board");
    }

    #[test]
    fn one_board_has_only_its_section() {
        assert!(!render(Boards { pi4: true, pi5: false }, None).contains("[pi5]"));
        assert!(!render(Boards { pi4: false, pi5: true }, None).contains("[pi4]"));
    }

    #[test]
    fn a_chainload_card_logs_the_firmware_and_pins_the_pi4_uart_clock() {
        let text = render(Boards { pi4: true, pi5: true }, Some(921_600));
        assert!(text.lines().any(|l| l == "uart_2ndstage=1"), "{text}");
        assert!(text.lines().any(|l| l == "init_uart_baud=921600"), "{text}");
        assert_eq!(render_cmdline(921_600), "kingly.baud=921600\n");
        let pi4 = text.split("[pi4]").nth(1).unwrap().split("\n[").next().unwrap();
        assert!(pi4.lines().any(|l| l == "init_uart_clock=48000000"), "{text}");
        assert!(!render(Boards { pi4: true, pi5: true }, None).contains("uart_2ndstage"));
    }
}
