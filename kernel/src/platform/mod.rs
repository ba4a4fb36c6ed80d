//! The running kernel on a real or emulated board: boot sequence, devices, interrupts,
//! logging, heap, secondary cores, in-kernel test suites.
#![allow(unsafe_code)]

pub mod agents;
pub mod boot;
pub mod decide_bench;
pub mod devices;
pub mod heap;
pub mod hotswap;
pub mod irq;
pub mod link;
pub mod log;
pub mod memory;
pub mod sched;
pub mod serve;
pub mod smp;
pub mod suite_jit;
pub mod suites;
pub mod uart;
pub mod verify_bench;
pub mod virtio_port;

pub use irq::handle_exception;
