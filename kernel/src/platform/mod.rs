//! The running kernel on a real or emulated board, in layers: each module names only the ones
//! listed before it (`kernel/tests/layering.rs` checks this, `PLATFORM_LAYERS`).
//!
//! - the machine's state and services: [`devices`], [`heap`], [`memory`], [`state`] (board,
//!   RAM, RCU domain, decision cache), [`clock`];
//! - output and the cores: [`log`] (with its queue for the port), [`uart`], [`virtio_port`],
//!   [`link`], [`power`] (reboot, exit), [`smp`];
//! - the agent runtime's instance ([`agents`]), the scheduler ([`sched`]) and exception
//!   dispatch ([`irq`]);
//! - what core 0 serves: [`services`] (the port's view of the kernel), [`ratelimit`],
//!   [`console`] (text commands), [`serve`] (the main loop);
//! - the in-kernel test suites and benches (`suites`, only with the `suites` feature);
//! - [`boot`], from the first Rust function to the ready line.
#![allow(unsafe_code)]

pub mod clock;
pub mod devices;
pub mod heap;
pub mod memory;
pub mod state;

pub mod link;
pub mod log;
pub mod power;
pub mod smp;
pub mod uart;
pub mod virtio_port;

pub mod agents;
pub mod irq;
pub mod sched;

pub mod console;
pub mod ratelimit;
pub mod serve;
pub mod services;

#[cfg(feature = "suites")]
pub mod suites;

pub mod boot;
