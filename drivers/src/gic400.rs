//! ARM GIC-400 (GICv2) interrupt controller: distributor plus per-core CPU interface.
//!
//! # Resources
//! - ARM Generic Interrupt Controller Architecture Specification v2.0 (IHI 0048B), chapter 4.
//! - CoreLink GIC-400 Technical Reference Manual (DDI 0471B).

use crate::mmio::Mmio;
use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::register_structs;
use tock_registers::registers::{ReadOnly, ReadWrite, WriteOnly};

register_structs! {
    #[allow(non_snake_case)]
    pub DistributorRegisters {
        (0x000 => CTLR: ReadWrite<u32>),
        (0x004 => TYPER: ReadOnly<u32>),
        (0x008 => _reserved0),
        (0x080 => IGROUPR: [ReadWrite<u32>; 32]),
        (0x100 => ISENABLER: [ReadWrite<u32>; 32]),
        (0x180 => ICENABLER: [ReadWrite<u32>; 32]),
        (0x200 => ISPENDR: [ReadWrite<u32>; 32]),
        (0x280 => ICPENDR: [ReadWrite<u32>; 32]),
        (0x300 => ISACTIVER: [ReadWrite<u32>; 32]),
        (0x380 => ICACTIVER: [ReadWrite<u32>; 32]),
        (0x400 => IPRIORITYR: [ReadWrite<u32>; 255]),
        (0x7fc => _reserved1),
        (0x800 => ITARGETSR: [ReadWrite<u32>; 255]),
        (0xbfc => _reserved2),
        (0xc00 => ICFGR: [ReadWrite<u32>; 64]),
        (0xd00 => _reserved3),
        (0xf00 => SGIR: WriteOnly<u32>),
        (0xf04 => @END),
    }
}

register_structs! {
    #[allow(non_snake_case)]
    pub CpuInterfaceRegisters {
        (0x000 => CTLR: ReadWrite<u32>),
        (0x004 => PMR: ReadWrite<u32>),
        (0x008 => BPR: ReadWrite<u32>),
        (0x00c => IAR: ReadOnly<u32>),
        (0x010 => EOIR: WriteOnly<u32>),
        (0x014 => @END),
    }
}

/// INTIDs 1020–1023 are special; 1023 means "no pending interrupt" (IHI 0048B §3.2.5).
pub const SPURIOUS_INTID: u32 = 1023;
/// First shared peripheral interrupt.
pub const FIRST_SPI: u32 = 32;

/// An acknowledged interrupt; hand it back to [`Gic400::end_of_interrupt`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Acknowledged {
    iar: u32,
}

impl Acknowledged {
    /// The interrupt ID (0–1019).
    pub fn intid(&self) -> u32 {
        self.iar & 0x3ff
    }
}

/// A GIC-400.
pub struct Gic400 {
    distributor: Mmio<DistributorRegisters>,
    cpu_interface: Mmio<CpuInterfaceRegisters>,
}

impl Gic400 {
    /// # Safety
    /// `gicd_base`/`gicc_base` must be the distributor and CPU interface of a GICv2 mapped as
    /// device memory for the lifetime of the value.
    pub const unsafe fn new(gicd_base: usize, gicc_base: usize) -> Self {
        // SAFETY: forwarded to the caller.
        unsafe { Self { distributor: Mmio::new(gicd_base), cpu_interface: Mmio::new(gicc_base) } }
    }

    /// Number of interrupt lines the distributor implements (TYPER.ITLinesNumber).
    pub fn lines(&self) -> u32 {
        32 * ((self.distributor.TYPER.get() & 0x1f) + 1)
    }

    /// Secure-world setup a Pi firmware armstub performs before handing over: every interrupt
    /// in Group 1 (non-secure), both groups enabled. Run at EL3 on each core; the banked
    /// registers (IGROUPR0, the CPU interface) are per core, the rest is shared.
    ///
    /// A GIC without the Security Extensions (GICD_TYPER.SecurityExtn = 0, as QEMU's
    /// raspi4b emulates it) has no secure world to leave: every interrupt stays in Group 0,
    /// which the non-secure setup below enables, so nothing is changed.
    pub fn el3_route_all_to_non_secure(&self, core: usize) {
        let d = &self.distributor;
        if d.TYPER.get() & (1 << 10) == 0 {
            return;
        }
        d.IGROUPR[0].set(!0);
        if core == 0 {
            let words = (self.lines() / 32) as usize;
            for word in d.IGROUPR.iter().take(words).skip(1) {
                word.set(!0);
            }
            d.CTLR.set(0b11);
        }
        let c = &self.cpu_interface;
        c.CTLR.set(0b11);
        c.PMR.set(0xff);
    }

    /// Distributor setup, once, on the boot core: every SPI disabled, level-triggered,
    /// default priority, then the distributor enabled.
    pub fn init_distributor(&self) {
        let d = &self.distributor;
        d.CTLR.set(0);
        let lines = self.lines() as usize;
        for word in (FIRST_SPI as usize / 32)..(lines / 32) {
            d.ICENABLER[word].set(!0);
            d.ICPENDR[word].set(!0);
        }
        for word in (FIRST_SPI as usize / 4)..(lines / 4) {
            d.IPRIORITYR[word].set(0xa0a0_a0a0);
            d.ITARGETSR[word].set(0x0101_0101);
        }
        for word in (FIRST_SPI as usize / 16)..(lines / 16) {
            d.ICFGR[word].set(0);
        }
        d.CTLR.set(1);
    }

    /// Per-core CPU interface setup: all priorities unmasked, no preemption groups.
    pub fn init_cpu_interface(&self) {
        let c = &self.cpu_interface;
        c.PMR.set(0xff);
        c.BPR.set(0);
        c.CTLR.set(1);
    }

    /// Enables `intid`. SGIs and PPIs (< 32) are banked: enable them on every core that wants
    /// them. SPIs are routed to the cores in `target_cores` (bit n = core n).
    pub fn enable(&self, intid: u32, priority: u8, target_cores: u8) {
        let d = &self.distributor;
        let word = (intid / 4) as usize;
        let shift = (intid % 4) * 8;
        let prio = d.IPRIORITYR[word].get() & !(0xff << shift);
        d.IPRIORITYR[word].set(prio | (u32::from(priority) << shift));
        if intid >= FIRST_SPI {
            let targets = d.ITARGETSR[word].get() & !(0xff << shift);
            d.ITARGETSR[word].set(targets | (u32::from(target_cores) << shift));
        }
        d.ISENABLER[(intid / 32) as usize].set(1 << (intid % 32));
    }

    /// Disables `intid`.
    pub fn disable(&self, intid: u32) {
        self.distributor.ICENABLER[(intid / 32) as usize].set(1 << (intid % 32));
    }

    /// Takes the highest-priority pending interrupt for this core, if any.
    pub fn acknowledge(&self) -> Option<Acknowledged> {
        let iar = self.cpu_interface.IAR.get();
        if iar & 0x3ff >= 1020 {
            None
        } else {
            Some(Acknowledged { iar })
        }
    }

    /// Signals that handling of `irq` is complete.
    pub fn end_of_interrupt(&self, irq: Acknowledged) {
        self.cpu_interface.EOIR.set(irq.iar);
    }

    /// Sends software-generated interrupt `sgi` (0–15) to the cores in `target_cores`.
    pub fn send_sgi(&self, sgi: u32, target_cores: u8) {
        self.distributor.SGIR.set((u32::from(target_cores) << 16) | (sgi & 0xf));
    }
}
