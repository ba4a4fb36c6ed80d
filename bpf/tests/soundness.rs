//! Regression tests for the verifier's pointer soundness, one group per class of hole an
//! adversarial review found (issue 16): each unsafe shape is refused at the instruction that
//! breaks a rule, and the safe twin beside it is accepted.

use kingly_bpf::error::{ErrorKind, RegionKind};
use kingly_bpf::hooks::Kind;
use kingly_bpf::verifier::Options;
use kingly_bpf::{asm, Env, FixedPlatform, Interpreter, Map, MapDef, MapKind, Program, ProgramType, VerifyError};

const ARRAY: MapDef = MapDef { kind: MapKind::Array, key_size_bytes: 4, value_size_bytes: 8, max_entries: 4 };

fn decision() -> ProgramType {
    Kind::Decision.program_type()
}

fn tool() -> ProgramType {
    Kind::Tool.program_type()
}

fn check(src: &str, prog_type: &ProgramType) -> Result<kingly_bpf::VerifiedProgram, VerifyError> {
    let slots = asm::assemble(src).unwrap_or_else(|e| panic!("{e}\n{src}"));
    Program::load_slots(slots, prog_type, &[ARRAY], &Options::default())
}

fn reject(src: &str, prog_type: &ProgramType, pc: usize, kind: ErrorKind) {
    match check(src, prog_type) {
        Err(e) => assert_eq!(e, VerifyError::new(pc, kind), "\n{src}"),
        Ok(_) => panic!("accepted an unsafe program:\n{src}"),
    }
}

fn accept(src: &str, prog_type: &ProgramType) -> kingly_bpf::VerifiedProgram {
    check(src, prog_type).unwrap_or_else(|e| panic!("rejected: {e}\n{src}"))
}

/// Runs a tool program on `input` with the interpreter.
fn run_tool(src: &str, input: &[u8]) -> u64 {
    let prog = accept(src, &tool());
    let mut maps = vec![Map::new(ARRAY, 1).unwrap()];
    let mut platform = FixedPlatform::default();
    let mut env = Env { maps: &mut maps, platform: &mut platform, budget_insns: 10_000 };
    let mut ctx = [0u8; 16];
    Interpreter::new().run_with_packet(&prog, &mut ctx, &mut input.to_vec(), &mut env).unwrap()
}

/// Two lookups of map 0 under keys 0 and 1, null-checked: values in r6 and r7. 20 slots.
const TWO_LOOKUPS: &str = "stw [%r10-4], 0\nstw [%r10-8], 1\n\
    mov %r2, %r10\nadd %r2, -4\nlddw %r1, map:0\ncall 1\njne %r0, 0, +2\nmov %r0, 0\nexit\nmov %r6, %r0\n\
    mov %r2, %r10\nadd %r2, -8\nlddw %r1, map:0\ncall 1\njne %r0, 0, +2\nmov %r0, 0\nexit\nmov %r7, %r0\n";

#[test]
fn class1_a_pointer_moved_by_a_huge_constant_is_refused_at_the_arithmetic() {
    // K = minus the stack address would make r1 zero: the add itself is refused.
    let forged = "lddw %r2, 0xffffffff00000000\nmov %r1, %r10\nadd %r1, %r2\njeq %r1, 0, +1\nmov %r0, 0\nexit";
    reject(forged, &decision(), 3, ErrorKind::UnboundedPointerArithmetic(2));
    // Small steps that end far from the stack: refused where the offset leaves ±2^29.
    let steps = "mov %r1, %r10\nmov %r2, 0x10000000\nadd %r1, %r2\nadd %r1, %r2\nadd %r1, %r2\nmov %r0, 0\nexit";
    reject(steps, &decision(), 4, ErrorKind::PointerOffsetRange(1));
    // Outside the frame, `ptr == 0` would depend on the real address.
    let outside = "mov %r1, %r10\nadd %r1, -4096\nmov %r0, 0\njeq %r1, 0, +1\nmov %r0, 1\nexit";
    reject(outside, &decision(), 3, ErrorKind::PointerComparison(1));
    // Inside the frame it is a real, non-zero address: the branch is decided.
    let inside = accept(&outside.replace("-4096", "-8"), &decision());
    assert_eq!(inside.stats().worst_case_path_insns, 6);
    // A non-null map value compared with a non-zero constant.
    reject(
        &format!("{TWO_LOOKUPS}mov %r0, 0\njgt %r6, 1, +1\nexit\nexit"),
        &decision(),
        21,
        ErrorKind::PointerComparison(6),
    );
}

#[test]
fn class2_pruning_never_merges_values_of_different_lookups() {
    // On the fall-through path r8 is the key-0 value (r6's), on the taken path the key-1 value
    // (r7's). `r8 - r6` is 0 on one path and the distance between two entries on the other.
    // r9 keeps the context across the calls.
    let src = format!(
        "mov %r9, %r1\n{TWO_LOOKUPS}ldxb %r1, [%r9+16]\nmov %r8, %r7\njne %r1, 0, +1\nmov %r8, %r6\n\
         mov %r0, %r8\nsub %r0, %r6\nadd %r6, %r0\nstw [%r6+0], 7\nmov %r0, 0\nexit"
    );
    reject(&src, &decision(), 26, ErrorKind::PointerSubtraction(0));
    // Pointers into one lookup's value subtract to a number.
    let same = src.replace("mov %r8, %r7\n", "mov %r8, %r6\nadd %r8, 4\n");
    accept(&same, &decision());
}

#[test]
fn class2_a_stored_state_with_one_lookup_does_not_cover_two() {
    // Both branches keep r6 = key-0 value; r8 is r6 on one and r7 on the other, then dead
    // except through a spill that is filled and subtracted.
    let src = format!(
        "mov %r9, %r1\n{TWO_LOOKUPS}ldxb %r1, [%r9+16]\nstxdw [%r10-16], %r7\njne %r1, 0, +1\nstxdw [%r10-16], %r6\n\
         ldxdw %r8, [%r10-16]\nsub %r8, %r6\nadd %r6, %r8\nldxdw %r0, [%r6+0]\nexit"
    );
    reject(&src, &decision(), 26, ErrorKind::PointerSubtraction(8));
}

#[test]
fn class3_pointers_are_not_compared_where_the_outcome_depends_on_the_address() {
    // The same pointer and itself plus a large constant: wrap-around would tell the address.
    let src = "mov %r1, %r10\nmov %r2, %r10\nadd %r2, 0x1000000\nmov %r0, 0\njgt %r2, %r1, +1\nmov %r0, 1\nexit";
    reject(src, &decision(), 4, ErrorKind::PointerComparison(2));
    // A pointer against a constant.
    reject("mov %r0, 0\njgt %r10, 0x1000, +1\nmov %r0, 1\nexit", &decision(), 1, ErrorKind::PointerComparison(10));
    // 32-bit comparisons see address bits.
    reject(
        "mov %r1, %r10\nadd %r1, -8\nmov %r0, 0\njeq32 %r1, 0, +1\nmov %r0, 1\nexit",
        &decision(),
        3,
        ErrorKind::PointerComparison(1),
    );
    // Bit tests on a packet pointer.
    let jset = "ldxdw %r2, [%r1+0]\nldxdw %r3, [%r1+8]\nmov %r0, 0\njset %r2, %r3, +1\nmov %r0, 1\nexit";
    reject(jset, &tool(), 3, ErrorKind::PointerComparison(2));
}

#[test]
fn class3_addresses_do_not_leave_through_helpers_or_returns() {
    // The conformance unwind helper returns its argument as the result.
    reject("mov %r1, %r10\ncall 5\nexit", &ProgramType::conformance(0), 1, ErrorKind::HelperArgument { arg: 1 });
    reject("mov %r0, %r10\nexit", &decision(), 1, ErrorKind::PointerLeak(0));
    reject(
        &format!("mov %r9, %r1\n{TWO_LOOKUPS}stxdw [%r6+0], %r7\nmov %r0, 0\nexit"),
        &decision(),
        21,
        ErrorKind::PointerStore(RegionKind::MapValue),
    );
}

#[test]
fn class5_packet_range_proofs_need_a_small_offset() {
    let head = "ldxdw %r2, [%r1+0]\nldxdw %r3, [%r1+8]\nmov %r4, %r2\n";
    // data + 2^62 cannot even be formed.
    reject(
        &format!(
            "{head}lddw %r5, 0x4000000000000000\nadd %r4, %r5\nmov %r0, 0\njgt %r4, %r3, +1\nldxb %r0, [%r2+0]\nexit"
        ),
        &tool(),
        5,
        ErrorKind::UnboundedPointerArithmetic(5),
    );
    // data + 0x10000 (one past the largest packet) proves nothing.
    let past = format!("{head}add %r4, 0x10000\nmov %r0, 0\njgt %r4, %r3, +1\nldxb %r0, [%r2+0]\nexit");
    reject(&past, &tool(), 6, ErrorKind::OutOfBounds { region: RegionKind::Packet, off: 0, size: 1 });
    // data + 0xffff does.
    accept(&past.replace("0x10000", "0xffff"), &tool());
    // Below data the comparison could wrap.
    reject(
        &format!("{head}add %r4, -1\nmov %r0, 0\njgt %r4, %r3, +1\nexit\nexit"),
        &tool(),
        5,
        ErrorKind::PointerComparison(4),
    );
}

#[test]
fn precision_a_variable_packet_offset_checked_against_data_end() {
    // p = data + (input[0] & 15); if p + 1 > data_end goto out; r0 = *p
    let src = "ldxdw %r2, [%r1+0]\nldxdw %r3, [%r1+8]\nmov %r0, 0\nmov %r4, %r2\nadd %r4, 1\njgt %r4, %r3, out\n\
               ldxb %r5, [%r2+0]\nand %r5, 15\nmov %r6, %r2\nadd %r6, %r5\nmov %r7, %r6\nadd %r7, 1\n\
               jgt %r7, %r3, out\nldxb %r0, [%r6+0]\nout:\nexit";
    assert_eq!(run_tool(src, &[3, 10, 20, 30, 40]), 30);
    assert_eq!(run_tool(src, &[9, 10]), 0);
    // One byte further than the check proved.
    reject(
        &src.replace("ldxb %r0, [%r6+0]", "ldxb %r0, [%r6+1]"),
        &tool(),
        13,
        ErrorKind::OutOfBounds { region: RegionKind::Packet, off: 16, size: 1 },
    );
    // A different variable part does not share the proof.
    let other = src.replace("ldxb %r0, [%r6+0]", "mov %r8, %r2\nadd %r8, %r5\nldxb %r0, [%r8+0]");
    reject(&other, &tool(), 15, ErrorKind::OutOfBounds { region: RegionKind::Packet, off: 15, size: 1 });
}

#[test]
fn precision_a_narrow_constant_read_back_sign_extended() {
    // 0xff read back with ldxsb is -1: fp - 1 is a valid address.
    let src = "stb [%r10-1], 0xff\nldxsb %r2, [%r10-1]\nmov %r3, %r10\nadd %r3, %r2\nldxb %r0, [%r3+0]\nexit";
    accept(src, &decision());
}

#[test]
fn pointer_subtraction_needs_one_object() {
    reject("mov %r0, %r10\nsub %r0, %r1\nexit", &decision(), 1, ErrorKind::PointerSubtraction(0));
    let src = "mov %r0, %r10\nadd %r0, -8\nmov %r2, %r10\nsub %r2, %r0\nmov %r0, %r2\nexit";
    let prog = accept(src, &decision());
    let mut maps = vec![Map::new(ARRAY, 1).unwrap()];
    let mut platform = FixedPlatform::default();
    let mut env = Env { maps: &mut maps, platform: &mut platform, budget_insns: 100 };
    let mut ctx = [0u8; 48];
    let r0 = Interpreter::new().run(&prog, &mut ctx, &mut env);
    assert_eq!(r0, Ok(8));
}

#[test]
fn pointers_into_one_object_compare_by_offset() {
    // Sum four stack bytes with a pointer loop: `p < end` inside one frame is address-free.
    let src = "stdw [%r10-8], 0x04030201\nmov %r1, %r10\nadd %r1, -8\nmov %r2, %r10\nadd %r2, -4\nmov %r0, 0\n\
               loop:\nldxb %r3, [%r1+0]\nadd %r0, %r3\nadd %r1, 1\njlt %r1, %r2, loop\nexit";
    let prog = accept(src, &decision());
    let mut maps = vec![Map::new(ARRAY, 1).unwrap()];
    let mut platform = FixedPlatform::default();
    let mut env = Env { maps: &mut maps, platform: &mut platform, budget_insns: 100 };
    assert_eq!(Interpreter::new().run(&prog, &mut [0u8; 48], &mut env), Ok(10));
    // Once a pointer may be outside its object the same comparison could wrap.
    reject(&src.replace("add %r2, -4", "add %r2, 8"), &decision(), 9, ErrorKind::PointerComparison(1));
    // Bit tests on two stack pointers depend on the address.
    reject(&src.replace("jlt %r1, %r2, loop", "jset %r1, %r2, loop"), &decision(), 9, ErrorKind::PointerComparison(1));
}

#[test]
fn unsigned_comparisons_with_zero_are_null_tests() {
    // `ptr > 0` is `ptr != 0`: a NULL check for a lookup's value.
    let lookup = "stw [%r10-4], 0\nmov %r2, %r10\nadd %r2, -4\nlddw %r1, map:0\ncall 1\n";
    accept(&format!("{lookup}jgt %r0, 0, +2\nmov %r0, 0\nexit\nldxdw %r0, [%r0+0]\nexit"), &decision());
    // `ptr <= 0` is `ptr == 0`: the fall-through has the value.
    accept(&format!("{lookup}jle %r0, 0, +1\nldxdw %r0, [%r0+0]\nmov %r0, 0\nexit"), &decision());
    // `ptr < 0` is never true; `ptr >= 0` always.
    let never = "mov %r0, 0\njlt %r10, 0, +1\nexit\nmov %r0, %r10\nexit";
    let prog = accept(never, &decision());
    assert_eq!(prog.stats().worst_case_path_insns, 3);
    reject(&never.replace("jlt %r10, 0", "jge %r10, 0"), &decision(), 4, ErrorKind::PointerLeak(0));
    // Signed comparisons would depend on the address's top bit.
    reject(&never.replace("jlt", "jslt"), &decision(), 1, ErrorKind::PointerComparison(10));
}

#[test]
fn a_variable_packet_part_without_a_proof_proves_nothing() {
    // Found by the pointer fuzzer: data + r1 (r1 >= 21, never checked against data_end) read
    // at -2. Only data + 10 was proven; no proof for r1's part means no bytes, not zero bytes.
    let src = "ldxdw %r7, [%r1+0]\nldxdw %r2, [%r1+8]\nmov %r5, %r7\nadd %r5, 10\njlt %r2, %r5, out\n\
               ldxb %r1, [%r7+9]\njlt %r1, 21, out\nmov %r0, %r7\nadd %r0, %r1\nldxh %r0, [%r0-2]\nexit\n\
               out:\nmov %r0, 0\nexit";
    reject(src, &tool(), 9, ErrorKind::OutOfBounds { region: RegionKind::Packet, off: 253, size: 2 });
}
