//! Programs that cost the verifier the most per byte, for the worst-case bench
//! (`benches/verifier.rs`) and the tests that keep every verdict bounded.
//!
//! Each shape attacks one part of the verifier's work: wide states copied at every fork,
//! many distinct states compared at one join, loops unrolled against stored states, and a
//! long chain of backward jumps for the liveness pass. All of them stay within the kernel's
//! `bpf_load` limit of 64 KiB (8192 slots) unless a size is given.

use alloc::format;
use alloc::string::String;

use crate::hooks::Kind;
use crate::maps::{MapDef, MapKind};
use crate::program::ProgramType;

/// Slots in the kernel's largest loadable program (64 KiB of bytecode).
pub const KERNEL_LIMIT_SLOTS: usize = 8192;

/// One worst-case program: a name, its assembly and what it is verified as.
pub struct Shape {
    pub name: &'static str,
    pub asm: String,
    pub prog_type: ProgramType,
    pub maps: &'static [MapDef],
}

const ARRAY: MapDef = MapDef { kind: MapKind::Array, key_size_bytes: 4, value_size_bytes: 64, max_entries: 16 };

/// 512 one-byte stack stores (a state with 512 narrow records), then `diamonds` branches on
/// context bytes, each side storing a different byte: every fork copies the wide state and
/// every join compares wide states.
pub fn narrow_stores_then_diamonds(diamonds: usize) -> Shape {
    let mut asm = String::from("mov %r9, %r1\nmov %r0, 0\n");
    for i in 1..=512 {
        asm += &format!("stb [%r10-{i}], {}\n", i % 127);
    }
    for d in 0..diamonds {
        let field = 16 + 8 * (d % 4);
        asm += &format!(
            "ldxb %r2, [%r9+{field}]\njeq %r2, {d}, +2\nstb [%r10-{}], 1\nja +1\nstb [%r10-{}], 2\nadd %r0, 1\n",
            1 + d % 512,
            1 + (d * 7) % 512
        );
    }
    asm += "exit\n";
    Shape { name: "narrow_stores_then_diamonds", asm, prog_type: Kind::Decision.program_type(), maps: &[] }
}

/// A chain of `slots` backward jumps: execution starts at the top, jumps to the last slot and
/// walks back up one slot at a time. Liveness must settle it in one pass.
pub fn backward_jump_chain(slots: usize) -> Shape {
    // pc 0: mov; pc 1: ja to the last; pc k (2 < k <= last): ja to k - 1; pc 2: exit.
    let last = slots - 1;
    let mut asm = String::from("mov %r0, 0\n");
    asm += &format!("ja32 +{}\n", last - 2);
    asm += "exit\n";
    for _ in 3..=last {
        asm += "ja -2\n";
    }
    Shape { name: "backward_jump_chain", asm, prog_type: Kind::Decision.program_type(), maps: &[] }
}

/// Map lookups under different keys, then diamonds that each swap which lookup's value two
/// registers hold: identities make every join state distinct, up to the per-insn limit.
pub fn lookup_identity_diamonds(diamonds: usize) -> Shape {
    let mut asm = String::from("mov %r9, %r1\n");
    for (k, reg) in [(0, 6), (1, 7), (2, 8)] {
        asm += &format!(
            "stw [%r10-4], {k}\nmov %r2, %r10\nadd %r2, -4\nlddw %r1, map:0\ncall 1\njne %r0, 0, +2\nmov %r0, 0\nexit\n\
             mov %r{reg}, %r0\n"
        );
    }
    asm += "mov %r0, 0\n";
    for d in 0..diamonds {
        let field = 16 + 8 * (d % 4);
        asm += &format!(
            "ldxb %r2, [%r9+{field}]\njset %r2, {}, +3\nmov %r1, %r6\nmov %r6, %r7\nmov %r7, %r1\n\
             stxdw [%r10-{}], %r8\nldxb %r3, [%r6+{}]\nadd %r0, %r3\n",
            1 << (d % 8),
            16 + 8 * (d % 32),
            d % 64
        );
    }
    asm += "and %r0, 0xffff\nexit\n";
    Shape { name: "lookup_identity_diamonds", asm, prog_type: Kind::Decision.program_type(), maps: &[ARRAY] }
}

/// A counted loop whose body branches `branches` ways on the counter's bits, so every
/// iteration brings new states to compare with the ones stored at the loop head, until the
/// budget runs out.
pub fn branchy_loop(branches: usize) -> Shape {
    let mut asm = String::from("mov %r9, %r1\nmov %r0, 0\nmov %r6, 0\nloop:\n");
    for b in 0..branches {
        asm += &format!(
            "mov %r2, %r6\nand %r2, {}\njeq %r2, 0, +1\nadd %r0, {b}\nstxdw [%r10-{}], %r0\n",
            1 << (b % 20),
            8 + 8 * (b % 60)
        );
    }
    asm += "add %r6, 1\njlt %r6, 100000, loop\nand %r0, 0xffff\nexit\n";
    Shape { name: "branchy_loop", asm, prog_type: Kind::Decision.program_type(), maps: &[] }
}

/// `lookups` map values spilled to their own stack slots (a state with that many distinct
/// identities), then diamonds that swap two of the slots: every comparison maps every id.
pub fn spilled_identities(lookups: usize, diamonds: usize) -> Shape {
    let mut asm = String::from("mov %r9, %r1\nmov %r6, 0\n");
    for k in 0..lookups {
        asm += &format!(
            "stw [%r10-4], {}\nmov %r2, %r10\nadd %r2, -4\nlddw %r1, map:0\ncall 1\njne %r0, 0, +2\nmov %r0, 0\nexit\n\
             stxdw [%r10-{}], %r0\n",
            k % 16,
            16 + 8 * k
        );
    }
    asm += "mov %r0, 0\n";
    for d in 0..diamonds {
        let (a, b) = (16 + 8 * (d % lookups), 16 + 8 * ((d * 7 + 1) % lookups));
        asm += &format!(
            "ldxb %r2, [%r9+{}]\njset %r2, {}, +4\nldxdw %r3, [%r10-{a}]\nldxdw %r4, [%r10-{b}]\n\
             stxdw [%r10-{a}], %r4\nstxdw [%r10-{b}], %r3\nadd %r0, 1\n",
            16 + 8 * (d % 4),
            1 << (d % 8)
        );
    }
    asm += "exit\n";
    Shape { name: "spilled_identities", asm, prog_type: Kind::Decision.program_type(), maps: &[ARRAY] }
}

/// Every shape at the kernel's load limit, or as large as its generator makes it within it.
pub fn all() -> [Shape; 5] {
    [
        narrow_stores_then_diamonds(1000),
        backward_jump_chain(KERNEL_LIMIT_SLOTS),
        lookup_identity_diamonds(700),
        branchy_loop(1500),
        spilled_identities(60, 1000),
    ]
}
