//! Verifier time against program size: straight-line programs of 100, 1k, 10k and 100k
//! instructions mixing ALU work with stack spills and fills. Target: 10k in under 10 ms.
//!
//! `verify_worst_case`: the shapes of `kingly_bpf::shapes` (wide states at forks,
//! identities at joins, a branchy loop against the budget, a backward-jump chain), each at the
//! kernel's 64 KiB load limit. Target: a verdict (accept or refuse) in under 1 s for each.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use kingly_bpf::isa::{self, AluOp, Insn, Operand, Size, Width};
use kingly_bpf::{Program, ProgramType};

fn straight_line(len: usize) -> Vec<u8> {
    let mut insns = Vec::with_capacity(len);
    for r in 0..10u8 {
        insns.push(Insn::Alu { width: Width::W64, op: AluOp::Mov, dst: r, src: Operand::Imm(r as i32) });
    }
    let ops = [AluOp::Add, AluOp::Xor, AluOp::Mul, AluOp::Or, AluOp::Sub, AluOp::And, AluOp::Lsh, AluOp::Rsh];
    let mut i = 0usize;
    while insns.len() < len - 1 {
        let dst = (i % 9) as u8 + 1;
        let insn = match i % 8 {
            0 => Insn::Store { size: Size::DW, dst: 10, off: -8 * ((i % 32) as i16 + 1), src: Operand::Reg(dst) },
            1 => {
                Insn::Load { size: Size::DW, sign_extend: false, dst, src: 10, off: -8 * (((i + 31) % 32) as i16 + 1) }
            }
            2 => {
                Insn::Alu { width: Width::W32, op: ops[i % ops.len()], dst, src: Operand::Reg(((i + 3) % 9) as u8 + 1) }
            }
            _ => Insn::Alu { width: Width::W64, op: ops[i % ops.len()], dst, src: Operand::Imm((i % 61) as i32 + 1) },
        };
        // Loads need an initialised slot: the first 32 stores cover every slot read later.
        let insn = if i < 64 && i % 8 == 1 {
            Insn::Alu { width: Width::W64, op: AluOp::Add, dst, src: Operand::Imm(1) }
        } else {
            insn
        };
        insns.push(insn);
        i += 1;
    }
    insns.push(Insn::Exit);
    let mut slots = Vec::new();
    for insn in &insns {
        isa::encode(insn, &mut slots);
    }
    isa::slots_to_bytes(&slots)
}

fn verifier(c: &mut Criterion) {
    let ty = ProgramType::conformance(0);
    let mut group = c.benchmark_group("verify_straight_line");
    group.sample_size(10);
    for len in [100usize, 1_000, 10_000, 100_000] {
        let bytes = straight_line(len);
        Program::load(&bytes, &ty).unwrap_or_else(|e| panic!("{len}: {e}"));
        group.throughput(Throughput::Elements(len as u64));
        group.bench_with_input(BenchmarkId::from_parameter(len), &bytes, |b, bytes| {
            b.iter(|| Program::load(bytes, &ty).unwrap())
        });
    }
    group.finish();
}

fn worst_case(c: &mut Criterion) {
    use kingly_bpf::shapes;
    use kingly_bpf::verifier::Options;
    let mut group = c.benchmark_group("verify_worst_case");
    group.sample_size(10);
    let mut all: Vec<shapes::Shape> = shapes::all().into();
    // Beyond the kernel's limit (the host tool takes larger programs): a 64k-slot chain.
    let mut long = shapes::backward_jump_chain(65_536);
    long.name = "backward_jump_chain_64k";
    all.push(long);
    for shape in all {
        let slots = kingly_bpf::asm::assemble(&shape.asm).unwrap();
        let verdict = Program::load_slots(slots.clone(), &shape.prog_type, shape.maps, &Options::default());
        eprintln!("{}: {} slots, {:?}", shape.name, slots.len(), verdict.as_ref().map(|p| *p.stats()));
        group.bench_function(shape.name, |b| {
            b.iter(|| Program::load_slots(slots.clone(), &shape.prog_type, shape.maps, &Options::default()))
        });
    }
    group.finish();
}

criterion_group!(benches, verifier, worst_case);
criterion_main!(benches);
