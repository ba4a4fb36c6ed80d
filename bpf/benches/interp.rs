//! Interpreter speed on three loops, side by side with rbpf 0.4.1's interpreter (the baseline)
//! in the same run. Throughput is in executed instructions, so criterion's "elem/s" reads
//! directly as instructions per second (ns/insn = 1e9 / that).
//!
//! Loops (the same bytecode for both VMs):
//! - alu:   `add r0,r1; xor r0,0x55; add r1,1; jlt r1,N` (4 insns/iteration)
//! - bytes: `ldxb r4,[r2]; add r0,r4; add r2,1; jlt r2,r3` over a 64 KiB buffer (4)
//! - divmul: `mul r0,3; div r0,7; add r0,11; add r1,1; jlt r1,N` (5)

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use kingly_bpf::{
    asm, isa, AnyProgram, Env, FixedPlatform, Interpreter, Program, ProgramType, UncheckedProgram, VerifiedProgram,
};

const ITERATIONS: u32 = 100_000;
const BUFFER_BYTES: usize = 64 * 1024;

fn alu_loop() -> String {
    format!("mov %r0, 0\nmov %r1, 0\nadd %r0, %r1\nxor %r0, 0x55\nadd %r1, 1\njlt %r1, {ITERATIONS}, -4\nexit")
}

fn byte_loop() -> String {
    format!(
        "mov %r0, 0\nmov %r2, %r1\nmov %r3, %r1\nadd %r3, {BUFFER_BYTES}\n\
         ldxb %r4, [%r2+0]\nadd %r0, %r4\nadd %r2, 1\njlt %r2, %r3, -4\nexit"
    )
}

fn divmul_loop() -> String {
    format!("mov %r0, 1\nmov %r1, 0\nmul %r0, 3\ndiv %r0, 7\nadd %r0, 11\nadd %r1, 1\njlt %r1, {ITERATIONS}, -5\nexit")
}

/// A benched program, verified or (where the verifier cannot prove it) only decoded.
enum Loaded {
    Verified(VerifiedProgram),
    Unchecked(UncheckedProgram),
}

impl Loaded {
    fn any(&self) -> AnyProgram<'_> {
        match self {
            Loaded::Verified(prog) => prog.into(),
            Loaded::Unchecked(prog) => prog.into(),
        }
    }
}

fn load(src: &str, mem_len: usize, verify: bool) -> (Vec<u8>, Loaded) {
    let bytes = isa::slots_to_bytes(&asm::assemble(src).unwrap());
    let ty = ProgramType::conformance(mem_len as u32);
    let prog = if verify {
        Loaded::Verified(Program::load(&bytes, &ty).unwrap())
    } else {
        // The pointer-bounded byte loop is beyond what the verifier proves (it compares two
        // packet pointers); the interpreter still bounds-checks every load.
        Loaded::Unchecked(Program::load_unverified(&bytes, &ty, &[]).unwrap())
    };
    (bytes, prog)
}

fn bench_loop(c: &mut Criterion, name: &str, src: &str, mem_len: usize, verify: bool, insns: u64) {
    let (bytes, prog) = load(src, mem_len, verify);
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(insns));
    group.sample_size(20);

    let mut interp = Interpreter::new();
    let mut mem = vec![1u8; mem_len];
    let mut platform = FixedPlatform::default();
    let expect = {
        let mut env = Env { maps: &mut [], platform: &mut platform, budget_insns: u64::MAX };
        let r0 = interp.run_any(prog.any(), &mut mem, &mut [], &mut env).unwrap();
        assert_eq!(interp.last_run_insns(), insns, "{name}: instruction count");
        r0
    };
    group.bench_function("kingly", |b| {
        b.iter(|| {
            let mut env = Env { maps: &mut [], platform: &mut platform, budget_insns: u64::MAX };
            interp.run_any(prog.any(), &mut mem, &mut [], &mut env).unwrap()
        })
    });

    let mut rbpf_mem = vec![1u8; mem_len];
    let vm = rbpf::EbpfVmRaw::new(Some(&bytes)).unwrap();
    assert_eq!(vm.execute_program(&mut rbpf_mem).unwrap(), expect, "{name}: rbpf disagrees");
    group.bench_function("rbpf-0.4.1", |b| b.iter(|| vm.execute_program(&mut rbpf_mem).unwrap()));
    group.finish();
}

fn interpreters(c: &mut Criterion) {
    let it = ITERATIONS as u64;
    bench_loop(c, "alu_loop", &alu_loop(), 0, true, 2 + 4 * it + 1);
    bench_loop(c, "byte_load_loop", &byte_loop(), BUFFER_BYTES, false, 4 + 4 * BUFFER_BYTES as u64 + 1);
    bench_loop(c, "divmul_loop", &divmul_loop(), 0, true, 2 + 5 * it + 1);
}

criterion_group!(benches, interpreters);
criterion_main!(benches);
