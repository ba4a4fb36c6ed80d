//! One reject case (and where useful an accept twin) for every verifier rule.

use kingly_bpf::error::{ErrorKind, Field, RegionKind};
use kingly_bpf::helpers;
use kingly_bpf::verifier::Options;
use kingly_bpf::{asm, isa, MapDef, MapKind, Program, ProgramType, VerifyError};

const ARRAY: MapDef = MapDef { kind: MapKind::Array, key_size_bytes: 4, value_size_bytes: 8, max_entries: 4 };

fn struct_type() -> ProgramType {
    ProgramType::with_struct_context("test", 16)
}

fn check(src: &str, prog_type: &ProgramType) -> Result<(), VerifyError> {
    let slots = asm::assemble(src).unwrap_or_else(|e| panic!("{e}\n{src}"));
    Program::load_slots(slots, prog_type, &[ARRAY], &Options::default()).map(|_| ())
}

fn reject(src: &str, prog_type: &ProgramType, pc: usize, kind: ErrorKind) {
    assert_eq!(check(src, prog_type), Err(VerifyError::new(pc, kind)), "\n{src}");
}

fn accept(src: &str, prog_type: &ProgramType) {
    if let Err(e) = check(src, prog_type) {
        panic!("rejected: {e}\n{src}");
    }
}

/// Lookup of key 0 in map 0; leaves the (nullable) value pointer in r0. 6 slots.
const LOOKUP: &str = "stw [%r10-4], 0\nmov %r2, %r10\nadd %r2, -4\nlddw %r1, map:0\ncall 1\n";

#[test]
fn registers_are_written_before_read() {
    reject("mov %r0, %r3\nexit", &ProgramType::conformance(0), 0, ErrorKind::ReadBeforeWrite(3));
    reject("exit", &ProgramType::conformance(0), 0, ErrorKind::ReadBeforeWrite(0));
    // After a helper call r1-r5 are clobbered.
    reject("mov %r1, 1\ncall 7\nmov %r0, %r1\nexit", &struct_type(), 2, ErrorKind::ReadBeforeWrite(1));
}

#[test]
fn stack_bytes_are_written_before_read() {
    let t = ProgramType::conformance(0);
    reject("ldxdw %r0, [%r10-8]\nexit", &t, 0, ErrorKind::StackReadBeforeWrite { off: -8 });
    reject("stw [%r10-8], 1\nldxdw %r0, [%r10-8]\nexit", &t, 1, ErrorKind::StackReadBeforeWrite { off: -4 });
    accept("stdw [%r10-8], 1\nldxdw %r0, [%r10-8]\nexit", &t);
    // Variable offsets: both candidate slots must be initialised.
    let var = "ldxb %r1, [%r1+0]\nand %r1, 8\nmov %r2, %r10\nadd %r2, %r1\nstdw [%r10-16], 1\n";
    reject(
        &format!("{var}ldxdw %r0, [%r2-16]\nexit"),
        &ProgramType::conformance(1),
        5,
        ErrorKind::StackReadBeforeWrite { off: -8 },
    );
    accept(&format!("{var}stdw [%r10-8], 2\nldxdw %r0, [%r2-16]\nexit"), &ProgramType::conformance(1));
}

#[test]
fn accesses_stay_inside_their_region() {
    let t = ProgramType::conformance(4);
    reject(
        "stdw [%r10-520], 1\nmov %r0, 0\nexit",
        &t,
        0,
        ErrorKind::OutOfBounds { region: RegionKind::Stack, off: -520, size: 8 },
    );
    reject(
        "stb [%r10+0], 1\nmov %r0, 0\nexit",
        &t,
        0,
        ErrorKind::OutOfBounds { region: RegionKind::Stack, off: 0, size: 1 },
    );
    reject("ldxw %r0, [%r1+2]\nexit", &t, 0, ErrorKind::OutOfBounds { region: RegionKind::Context, off: 2, size: 4 });
    accept("ldxw %r0, [%r1+0]\nexit", &t);
    reject("ldxb %r0, [%r1-1]\nexit", &t, 0, ErrorKind::OutOfBounds { region: RegionKind::Context, off: -1, size: 1 });
    // An unbounded index into the context.
    reject("ldxw %r2, [%r1+0]\nadd %r1, %r2\nldxb %r0, [%r1+0]\nexit", &t, 1, ErrorKind::UnboundedPointerArithmetic(2));
    // A bounded index is fine.
    accept("ldxb %r2, [%r1+0]\nand %r2, 3\nadd %r1, %r2\nldxb %r0, [%r1+0]\nexit", &t);
    // A bound checked on a copy applies to the original (linked scalars).
    let copy = "ldxb %r2, [%r1+0]\nmov %r3, %r2\nmov %r0, 0\njgt %r3, 3, +2\nadd %r1, %r2\nldxb %r0, [%r1+0]\nexit";
    accept(copy, &t);
    reject(
        &copy.replace("jgt %r3, 3", "jgt %r3, 4"),
        &t,
        5,
        ErrorKind::OutOfBounds { region: RegionKind::Context, off: 4, size: 1 },
    );
    // Rewriting the copy breaks the link.
    let broken = copy.replace("mov %r0, 0\n", "mov %r0, 0\nmov %r3, 0\n");
    reject(&broken, &t, 6, ErrorKind::OutOfBounds { region: RegionKind::Context, off: 255, size: 1 });
    reject(
        &format!("{LOOKUP}jeq %r0, 0, +1\nldxdw %r0, [%r0+4]\nmov %r0, 0\nexit"),
        &struct_type(),
        7,
        ErrorKind::OutOfBounds { region: RegionKind::MapValue, off: 4, size: 8 },
    );
}

#[test]
fn scalars_are_not_dereferenced_and_context_can_be_read_only() {
    reject("mov %r1, 0\nldxb %r0, [%r1+0]\nexit", &ProgramType::conformance(0), 1, ErrorKind::NotAPointer(1));
    reject("stw [%r1+0], 1\nmov %r0, 0\nexit", &struct_type(), 0, ErrorKind::ReadOnlyContext);
    accept("stw [%r1+0], 1\nmov %r0, 0\nexit", &ProgramType::conformance(4));
}

#[test]
fn map_values_are_null_checked() {
    reject(&format!("{LOOKUP}ldxdw %r0, [%r0+0]\nexit"), &struct_type(), 6, ErrorKind::PossiblyNull(0));
    accept(&format!("{LOOKUP}jeq %r0, 0, +1\nldxdw %r0, [%r0+0]\nexit"), &struct_type());
    // The check on a copy covers the original too.
    accept(
        &format!("{LOOKUP}mov %r6, %r0\njne %r6, 0, +2\nmov %r0, 0\nexit\nldxdw %r0, [%r0+0]\nexit"),
        &struct_type(),
    );
    reject(&format!("{LOOKUP}add %r0, 8\nmov %r0, 0\nexit"), &struct_type(), 6, ErrorKind::PointerArithmetic(0));
}

#[test]
fn pointers_do_not_leak() {
    let t = ProgramType::conformance(8);
    reject("mov %r0, %r10\nexit", &t, 1, ErrorKind::PointerLeak(0));
    reject("stxdw [%r1+0], %r10\nmov %r0, 0\nexit", &t, 0, ErrorKind::PointerStore(RegionKind::Context));
    reject(
        &format!("{LOOKUP}jeq %r0, 0, +1\nstxdw [%r0+0], %r10\nmov %r0, 0\nexit"),
        &struct_type(),
        7,
        ErrorKind::PointerStore(RegionKind::MapValue),
    );
    reject("stxw [%r10-8], %r10\nmov %r0, 0\nexit", &t, 0, ErrorKind::PartialPointerAccess);
    reject("stxdw [%r10-8], %r10\nldxw %r0, [%r10-8]\nexit", &t, 1, ErrorKind::PartialPointerAccess);
    accept("stxdw [%r10-8], %r10\nldxdw %r0, [%r10-8]\nldxdw %r0, [%r0-8]\nmov %r0, 0\nexit", &t);
    reject("mov32 %r0, %r10\nexit", &t, 0, ErrorKind::PointerLeak(10));
    reject("mov %r0, %r10\nmul %r0, 2\nexit", &t, 1, ErrorKind::PointerArithmetic(0));
    reject("mov %r0, 0\njgt %r10, 5, +0\nexit", &t, 1, ErrorKind::PointerComparison(10));
    reject("stdw [%r10-8], 0\nlock add [%r10-8], %r10\nmov %r0, 0\nexit", &t, 1, ErrorKind::AtomicOnPointer);
    // A pointer into a callee's frame is dead after it returns.
    reject(
        "call local +2\nldxdw %r0, [%r0-8]\nexit\nstdw [%r10-8], 1\nmov %r0, %r10\nexit",
        &t,
        1,
        ErrorKind::ReadBeforeWrite(0),
    );
    reject("mov %r10, 0\nmov %r0, 0\nexit", &t, 0, ErrorKind::WriteToFramePointer);
    // A callee's stack address spilled into the caller's frame is unreadable after return.
    reject(
        "mov %r1, %r10\nadd %r1, -8\ncall local +2\nldxdw %r0, [%r10-8]\nexit\nstxdw [%r1+0], %r10\nmov %r0, 0\nexit",
        &t,
        3,
        ErrorKind::StackReadBeforeWrite { off: -8 },
    );
    // The conformance unwind helper returns its argument, so it only takes numbers.
    reject("mov %r1, %r10\ncall 5\nexit", &t, 1, ErrorKind::HelperArgument { arg: 1 });
}

#[test]
fn helpers_match_their_prototypes() {
    let t = struct_type();
    reject("mov %r0, 0\ncall 99\nexit", &t, 1, ErrorKind::UnknownHelper(99));
    reject("mov %r1, 0\nmov %r2, %r10\ncall 1\nmov %r0, 0\nexit", &t, 2, ErrorKind::HelperArgument { arg: 1 });
    reject(
        "mov %r2, %r10\nadd %r2, -4\nlddw %r1, map:0\ncall 1\nmov %r0, 0\nexit",
        &t,
        4,
        ErrorKind::StackReadBeforeWrite { off: -4 },
    );
    reject(
        "stw [%r10-4], 0\nmov %r2, 7\nlddw %r1, map:0\ncall 1\nmov %r0, 0\nexit",
        &t,
        4,
        ErrorKind::HelperArgument { arg: 2 },
    );
    reject("lddw %r1, map:3\nmov %r0, 0\nexit", &t, 0, ErrorKind::UnknownMap(3));
    // ktime is helper 5 for kernel types, unwind for conformance; unknown callx targets are refused.
    accept("call 5\nexit", &t);
    reject("ldxb %r1, [%r1+0]\ncall %r1\nexit", &ProgramType::conformance(1), 1, ErrorKind::UnknownCallTarget);
    assert!(helpers::STANDARD_HELPERS
        .iter()
        .all(|h| h.id != helpers::id::CONFORMANCE_UNWIND || h.name == "ktime_get_ns"));
}

#[test]
fn control_flow_is_well_formed() {
    let t = ProgramType::conformance(0);
    reject("mov %r0, 0", &t, 0, ErrorKind::FallOffEnd);
    reject("mov %r0, 0\njeq %r0, 1, +5\nexit", &t, 1, ErrorKind::JumpOutOfRange);
    reject("mov %r0, 0\nja +1\nlddw %r0, 1\nexit", &t, 1, ErrorKind::JumpIntoLddw);
    reject("mov %r0, 0\nja -1\nexit", &t, 1, ErrorKind::InfiniteLoop);
    reject("call local -1\nexit", &t, 0, ErrorKind::TooManyFrames);
    // A counter that only wraps after 2^64 steps exhausts the budget.
    let slots = asm::assemble("mov %r0, 1\nadd %r0, 1\njne %r0, 0, -2\nexit").unwrap();
    let small = Options { max_insns_processed: 10_000, ..Options::default() };
    assert_eq!(Program::load_slots(slots, &t, &[], &small).unwrap_err().kind, ErrorKind::TooComplex);
    // A bounded loop is accepted and its worst case counted.
    let slots = asm::assemble("mov %r0, 0\nadd %r0, 1\njlt %r0, 100, -2\nexit").unwrap();
    let prog = Program::load_slots(slots, &t, &[], &Options::default()).unwrap();
    assert_eq!(prog.stats().worst_case_path_insns, 1 + 2 * 100 + 1);
    // Unknown opcodes and non-zero unused fields are refused with their pc.
    let mut raw = asm::assemble("mov %r0, 0\nexit").unwrap();
    raw[1].src = 1;
    let err = Program::load(&isa::slots_to_bytes(&raw), &t).unwrap_err();
    assert_eq!(err, VerifyError::new(1, ErrorKind::NonZeroField(Field::Src)));
    assert_eq!(err.to_string(), "unused field src is not zero at pc 1");
}

#[test]
fn return_values_stay_in_the_declared_range() {
    let t = ProgramType { return_range: Some((0, 1)), ..struct_type() };
    reject("mov %r0, 2\nexit", &t, 1, ErrorKind::ReturnOutOfRange);
    accept("mov %r0, 1\nexit", &t);
    accept("call 7\nand %r0, 1\nexit", &t);
}

#[test]
fn error_messages_name_register_and_pc() {
    let err = check("mov %r1, 1\nmov %r2, 2\nmov %r4, 4\nmov %r0, 0\nadd %r0, %r3\nexit", &ProgramType::conformance(0))
        .unwrap_err();
    assert_eq!(err.to_string(), "R3 read before write at pc 4");
}

#[test]
fn pruning_keeps_independent_branches_linear() {
    // 30 diamonds, each of which may set one of six registers that are never read again.
    // Without liveness the joins see up to 2^6 different states; with it they are all equal.
    let regs = [2, 3, 4, 5, 8, 9];
    let mut src = String::from("mov %r0, 0\n");
    for r in regs {
        src.push_str(&format!("mov %r{r}, 0\n"));
    }
    for k in 0..30 {
        let r = regs[k % regs.len()];
        src.push_str(&format!("ldxb %r7, [%r1+0]\njeq %r7, 5, +1\nmov %r{r}, 1\nadd %r0, 1\nmov %r7, 0\n"));
    }
    src.push_str("exit\n");
    let prog =
        Program::load_slots(asm::assemble(&src).unwrap(), &ProgramType::conformance(1), &[], &Options::default())
            .unwrap();
    let stats = prog.stats();
    assert!(stats.insns_processed < 500, "{stats:?}");
    assert_eq!(stats.worst_case_path_insns, 7 + 30 * 5 + 1);
}

#[test]
fn packet_bytes_need_a_data_end_check() {
    use kingly_bpf::{ContextKind, Env, FixedPlatform, Interpreter};
    let t = ProgramType {
        context: ContextKind::Packet { size_bytes: 16, data_offset: 0, data_end_offset: 8, writable_packet: false },
        ..struct_type()
    };
    let checked = "ldxdw %r2, [%r1+0]\nldxdw %r3, [%r1+8]\nmov %r4, %r2\nadd %r4, 4\nmov %r0, 0\n\
                   jgt %r4, %r3, +1\nldxw %r0, [%r2+0]\nexit";
    accept(checked, &t);
    // The same check written the other way round.
    accept(&checked.replace("jgt %r4, %r3, +1", "jle %r3, %r4, +1"), &t);
    reject(
        &checked.replace("ldxw %r0, [%r2+0]", "ldxw %r0, [%r2+1]"),
        &t,
        6,
        ErrorKind::OutOfBounds { region: RegionKind::Packet, off: 1, size: 4 },
    );
    reject(
        &checked.replace("jgt %r4, %r3, +1", "ja +0"),
        &t,
        6,
        ErrorKind::OutOfBounds { region: RegionKind::Packet, off: 0, size: 4 },
    );
    reject(
        &checked.replace("add %r4, 4", "add %r4, 3"),
        &t,
        6,
        ErrorKind::OutOfBounds { region: RegionKind::Packet, off: 0, size: 4 },
    );
    reject(&checked.replace("ldxw %r0, [%r2+0]", "stw [%r2+0], 1"), &t, 6, ErrorKind::ReadOnlyContext);
    reject("ldxw %r2, [%r1+8]\nmov %r0, 0\nexit", &t, 0, ErrorKind::PartialPointerAccess);
    reject(
        "ldxdw %r3, [%r1+8]\nldxb %r0, [%r3+0]\nexit",
        &t,
        1,
        ErrorKind::OutOfBounds { region: RegionKind::Packet, off: 0, size: 1 },
    );
    reject("ldxdw %r3, [%r1+8]\nmov %r0, %r3\nexit", &t, 2, ErrorKind::PointerLeak(0));

    let prog = Program::load(&isa::slots_to_bytes(&asm::assemble(checked).unwrap()), &t).unwrap();
    let mut platform = FixedPlatform::default();
    let mut interp = Interpreter::new();
    for (packet, want) in [(&mut [1u8, 2, 3, 4, 5][..], 0x0403_0201u64), (&mut [1u8, 2][..], 0)] {
        let mut env = Env { maps: &mut [], platform: &mut platform, budget_insns: 100 };
        let mut ctx = [0u8; 16];
        assert_eq!(interp.run_with_packet(&prog, &mut ctx, packet, &mut env), Ok(want));
    }
}

#[test]
fn packet_length_is_a_number() {
    let t = ProgramType {
        context: kingly_bpf::ContextKind::Packet {
            size_bytes: 16,
            data_offset: 0,
            data_end_offset: 8,
            writable_packet: false,
        },
        ..struct_type()
    };
    accept("ldxdw %r2, [%r1+0]\nldxdw %r3, [%r1+8]\nsub %r3, %r2\nmov %r0, %r3\nand %r0, 1\nexit", &t);
    reject(
        "ldxdw %r2, [%r1+0]\nldxdw %r3, [%r1+8]\nsub %r2, %r3\nmov %r0, 0\nexit",
        &t,
        2,
        ErrorKind::PointerSubtraction(2),
    );
}

#[test]
fn narrow_spills_keep_their_bounds() {
    let t = ProgramType::conformance(4);
    // A 4-byte spill of a bounded index, refilled and used to index the buffer.
    let src = "ldxb %r2, [%r1+0]\nand %r2, 3\nstxw [%r10-4], %r2\nmov %r2, 0\nldxw %r3, [%r10-4]\n\
               add %r1, %r3\nldxb %r0, [%r1+0]\nexit";
    accept(src, &t);
    // Overwriting one byte of it loses the bound.
    reject(&src.replace("mov %r2, 0", "stb [%r10-2], 9"), &t, 5, ErrorKind::UnboundedPointerArithmetic(3));
}
