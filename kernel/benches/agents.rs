//! decide() on the host (the portable path the kernel runs): an L1 hit, a global-table hit, and
//! a miss that runs the attached agent in the interpreter; the bare interpreter run of the same
//! program is the baseline for the miss. `cargo bench -p kingly-kernel --bench agents`.
//!
//! The in-kernel figures (guest instructions under QEMU -icount) come from
//! `kingly boot --test decide-bench --icount 0`. Times are thread CPU time (see dcache.rs).

use criterion::{criterion_group, criterion_main, Criterion};
use kingly_bpf::hooks::{self, Kind, MCP_ADMIT, SCHED_SLICE};
use kingly_bpf::{Env, FixedPlatform, Interpreter, Program};
use kingly_kernel::agents::signing::Trust;
use kingly_kernel::agents::{LoadRequest, Runtime};
use kingly_kernel::cpu::host::HostCpu;
use kingly_kernel::dcache::{CacheConfig, DecisionCache};
use kingly_kernel::rcu::Rcu;
use std::hint::black_box;

#[path = "support/cpu_time.rs"]
mod cpu_time;
use cpu_time::cpu_timed;

/// The slice_latency example's logic: three compares on the class field.
const POLICY: &str =
    "ldxdw %r2, [%r1+16]\nmov %r0, 500\njeq %r2, 2, +4\nmov %r0, 2000\njeq %r2, 1, +2\nmov %r0, 1000\nexit\nexit";

fn bytecode() -> Vec<u8> {
    kingly_bpf::asm::assemble(POLICY).unwrap().iter().flat_map(|s| s.to_bytes()).collect()
}

fn runtime() -> &'static Runtime<'static, HostCpu> {
    let rcu: &'static Rcu<HostCpu> = Box::leak(Box::new(Rcu::new()));
    let cache = Box::leak(Box::new(DecisionCache::new(rcu, CacheConfig::default())));
    let rt = Box::leak(Box::new(Runtime::new(cache, Trust::Unsigned, None)));
    let code = bytecode();
    for (name, hook) in [("slice", SCHED_SLICE), ("admit", MCP_ADMIT)] {
        let request = LoadRequest { kind: Kind::Decision, name, maps: &[], bytecode: &code, signature: None };
        let agent = rt.load(&request).unwrap();
        rt.attach(agent.id, &hook).unwrap();
    }
    rt
}

fn decide(c: &mut Criterion) {
    HostCpu::set_current(0);
    let rt = runtime();
    let mut platform = FixedPlatform::default();
    let mut group = c.benchmark_group("decide");
    group.bench_function("l1_hit", |b| {
        b.iter_custom(|n| {
            cpu_timed(n, || {
                black_box(rt.decide(0, &SCHED_SLICE, black_box([2, 7, 0, 1]), 10, &mut platform).value());
            })
        })
    });
    // 256 distinct keys round-robin: the 64-slot L1 misses, the global table answers.
    let mut i = 0u64;
    group.bench_function("global_hit", |b| {
        b.iter_custom(|n| {
            cpu_timed(n, || {
                i = (i + 1) % 256;
                black_box(rt.decide(0, &SCHED_SLICE, black_box([i % 3, i, 0, 0]), 10, &mut platform).value());
            })
        })
    });
    // mcp_admit is never cached: every decide runs the agent.
    group.bench_function("miss_runs_agent", |b| {
        b.iter_custom(|n| {
            cpu_timed(n, || {
                black_box(rt.decide(0, &MCP_ADMIT, black_box([2, 7, 0, 1]), 10, &mut platform).value());
            })
        })
    });
    let program = Program::load(&bytecode(), &Kind::Decision.program_type()).unwrap();
    let mut interpreter = Interpreter::new();
    group.bench_function("baseline_interpreter_run", |b| {
        b.iter_custom(|n| {
            cpu_timed(n, || {
                let mut ctx = hooks::decision_context(0, 0, 0, black_box([2, 7, 0, 1]));
                let mut env = Env { maps: &mut [], platform: &mut platform, budget_insns: 1 << 20 };
                black_box(interpreter.run(&program, &mut ctx, &mut env).unwrap());
            })
        })
    });
    group.finish();
}

criterion_group!(benches, decide);
criterion_main!(benches);
