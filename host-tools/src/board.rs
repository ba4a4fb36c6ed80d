//! The boards `kingly` can build for and boot.

use std::fmt;
use std::str::FromStr;

/// A board Kingly runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Board {
    /// QEMU `raspi4b` (Raspberry Pi 4 Model B emulation) — the default. `pi4`, the name
    /// `kingly image` uses, is taken too.
    #[value(alias = "pi4")]
    Raspi4b,
    /// QEMU `virt` with four Cortex-A72 cores.
    Virt,
    /// Raspberry Pi 5 (BCM2712): built for SD card images only, no QEMU machine emulates it,
    /// so `kingly boot --board` does not list it; given anyway, it is refused with a pointer
    /// to `kingly image --board pi5`.
    #[value(hide = true)]
    Pi5,
}

impl Board {
    /// The name used in the ready line, file names and `--board`.
    pub fn name(self) -> &'static str {
        match self {
            Board::Raspi4b => "raspi4b",
            Board::Virt => "virt",
            Board::Pi5 => "pi5",
        }
    }

    /// The kernel crate feature that selects this board.
    pub fn cargo_feature(self) -> &'static str {
        match self {
            Board::Raspi4b => "board-raspi4b",
            Board::Virt => "board-virt",
            Board::Pi5 => "board-pi5",
        }
    }

    /// Where the raw image must be loaded (must match `linker/<board>.ld`).
    pub fn load_address(self) -> u64 {
        match self {
            Board::Raspi4b | Board::Pi5 => 0x80000,
            Board::Virt => 0x4008_0000,
        }
    }

    /// The QEMU machine options that emulate this board, if QEMU has one.
    pub fn qemu_machine(self) -> Option<&'static [&'static str]> {
        match self {
            Board::Raspi4b => Some(&["-M", "raspi4b", "-m", "2G"]),
            Board::Virt => Some(&["-M", "virt,gic-version=2", "-cpu", "cortex-a72", "-smp", "4", "-m", "2G"]),
            Board::Pi5 => None,
        }
    }
}

impl fmt::Display for Board {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Board {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "raspi4b" | "pi4" => Ok(Board::Raspi4b),
            "virt" => Ok(Board::Virt),
            "pi5" => Ok(Board::Pi5),
            other => Err(format!("unknown board '{other}': expected raspi4b, virt or pi5")),
        }
    }
}
