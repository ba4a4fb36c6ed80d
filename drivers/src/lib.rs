//! Kingly's drivers: one file per hardware block, named after the block, never after a board.
//!
//! Each driver takes its base address (and IRQ number) from the caller, which gets them from
//! a board table or the device tree. Registers are described with `tock-registers`; a raw
//! address becomes a typed register block exactly once, in [`mmio::Mmio::new`].
#![cfg_attr(not(test), no_std)]

pub mod bcm2711_gpio;
pub mod bcm2835_pm;
pub mod brcmstb_gpio;
pub mod generic_timer;
pub mod gic400;
pub mod mmio;
pub mod pl011;
pub mod videocore_mailbox;
pub mod virtio_console;
