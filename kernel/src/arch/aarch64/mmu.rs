//! Turns on the MMU with the identity map built by [`crate::mm::translation`].
//!
//! Core 0 writes the tables (MMU off, so straight to memory) and enables; each secondary
//! enables with the same tables before it executes any atomic read-modify-write, because
//! exclusives need the MMU and caches on real Cortex-A72 hardware.

use crate::board::Region;
use crate::mm::translation::{self, MapError, ENTRIES, L2_TABLES, MAIR_VALUE, VA_BITS};
use aarch64_cpu::asm::barrier;
use aarch64_cpu::registers::{ID_AA64MMFR0_EL1, MAIR_EL1, SCTLR_EL1, TCR_EL1, TTBR0_EL1};
use core::arch::asm;
use core::sync::atomic::{AtomicU64, Ordering};
use tock_registers::interfaces::{ReadWriteable, Readable, Writeable};

#[repr(C, align(4096))]
struct Table([AtomicU64; ENTRIES]);

impl Table {
    const fn new() -> Self {
        Self([const { AtomicU64::new(0) }; ENTRIES])
    }
    fn address(&self) -> u64 {
        self.0.as_ptr() as u64
    }
    fn fill(&self, entries: &[u64; ENTRIES]) {
        // Plain stores (no read-modify-write): safe with the MMU off.
        for (slot, value) in self.0.iter().zip(entries) {
            slot.store(*value, Ordering::Relaxed);
        }
    }
}

static L1: Table = Table::new();
static L2: [Table; L2_TABLES] = [const { Table::new() }; L2_TABLES];

/// Builds the identity map of `regions` into the static tables. Core 0, MMU off.
pub fn build_tables(regions: &[Region]) -> Result<(), MapError> {
    let l2_addresses = core::array::from_fn(|i| L2[i].address());
    let tables = translation::build(regions, l2_addresses)?;
    L1.fill(&tables.l1);
    for (table, entries) in L2.iter().zip(&tables.l2) {
        table.fill(entries);
    }
    Ok(())
}

/// Enables the MMU and caches on the calling core with the static tables.
pub fn enable() {
    MAIR_EL1.set(MAIR_VALUE);
    let pa_range = ID_AA64MMFR0_EL1.read(ID_AA64MMFR0_EL1::PARange).min(0b101);
    TCR_EL1.write(
        TCR_EL1::T0SZ.val(u64::from(64 - VA_BITS))
            + TCR_EL1::IRGN0::WriteBack_ReadAlloc_WriteAlloc_Cacheable
            + TCR_EL1::ORGN0::WriteBack_ReadAlloc_WriteAlloc_Cacheable
            + TCR_EL1::SH0::Inner
            + TCR_EL1::TG0::KiB_4
            + TCR_EL1::EPD1::DisableTTBR1Walks
            + TCR_EL1::IPS.val(pa_range),
    );
    TTBR0_EL1.set_baddr(L1.address());
    barrier::dsb(barrier::ISHST);
    // SAFETY: invalidating this core's stale EL1 TLB entries before first use of the tables.
    unsafe { asm!("tlbi vmalle1", options(nostack, preserves_flags)) };
    barrier::dsb(barrier::ISH);
    barrier::isb(barrier::SY);
    SCTLR_EL1.modify(SCTLR_EL1::M::Enable + SCTLR_EL1::C::Cacheable + SCTLR_EL1::I::Cacheable);
    barrier::isb(barrier::SY);
}

/// Points level-1 entry `index` at a next-level table owned by the caller (the JIT's window,
/// [`super::jit`]). MMU on; the entry must have been invalid, so no TLB entry can be stale.
pub fn install_l1_table(index: usize, table_address: u64) {
    const TABLE_DESCRIPTOR: u64 = 0b11;
    L1.0[index].store(table_address | TABLE_DESCRIPTOR, Ordering::Release);
    barrier::dsb(barrier::ISHST);
    barrier::isb(barrier::SY);
}

/// True once the calling core runs with the MMU on.
pub fn is_enabled() -> bool {
    SCTLR_EL1.is_set(SCTLR_EL1::M)
}
