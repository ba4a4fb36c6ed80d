//! `kingly boot --test decide-bench --icount 0`: the cost of `decide()` in guest instructions
//! (deterministic under QEMU -icount): an L1 hit, a global-table hit, and a miss that runs the
//! attached agent (interpreter and JIT); the bare interpreter and JIT runs of the same agent
//! for scale.

use super::Tally;
use crate::agents::signing::Trust;
use crate::agents::{Compiled, LoadRequest, Runtime};
use crate::arch::aarch64::cpu::Aarch64Cpu;
use crate::arch::aarch64::jit::JitProgram;
use crate::arch::aarch64::pmu;
use crate::cpu::CpuOps;
use crate::dcache::{CacheConfig, DecisionCache, HookId, Key, Lookup};
use crate::kprintln;
use crate::platform::agents::{KernelJit, KernelPlatform};
use crate::rcu::Rcu;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use kingly_bpf::hooks::{self, Kind, MCP_ADMIT, SCHED_SLICE};
use kingly_bpf::{Env, Interpreter, Program};

const CALLS: u64 = 1000;
/// Keys of the global-hit rows: 64 times the L1's slots, so that between two calls with a key
/// its L1 slot has always been taken by another (checked: every call must be a global hit).
const GLOBAL_KEYS: u64 = 4096;
/// The slice_latency example's logic: three compares on the class field.
const POLICY: &str =
    "ldxdw %r2, [%r1+16]\nmov %r0, 500\njeq %r2, 2, +4\nmov %r0, 2000\njeq %r2, 1, +2\nmov %r0, 1000\nexit\nexit";

static RCU: Rcu<Aarch64Cpu> = Rcu::new();
static CACHE: spin::Once<DecisionCache<'static, Aarch64Cpu>> = spin::Once::new();
static JIT_CACHE: spin::Once<DecisionCache<'static, Aarch64Cpu>> = spin::Once::new();

/// `pmu::count` with interrupts masked: a timer tick that lands in a measurement would add its
/// handler to the count.
fn quiet_count<T>(f: impl FnOnce() -> T) -> (T, u64) {
    let irqs = Aarch64Cpu::irq_save();
    let counted = pmu::count(f);
    Aarch64Cpu::irq_restore(irqs);
    counted
}

/// A runtime with the benchmark policy attached at `sched_slice` and `mcp_admit` (never cached).
fn runtime(
    cache: &'static DecisionCache<'static, Aarch64Cpu>,
    jit: bool,
    bytecode: &[u8],
) -> Option<Runtime<'static, Aarch64Cpu>> {
    let engine: Option<&'static dyn crate::agents::Jit> = if jit { Some(&KernelJit) } else { None };
    let runtime = Runtime::new(cache, Trust::Unsigned, engine);
    for (name, hook) in [("slice", SCHED_SLICE), ("admit", MCP_ADMIT)] {
        let request = LoadRequest { kind: Kind::Decision, name, maps: &[], bytecode, signature: None };
        runtime.load(&request).and_then(|agent| runtime.attach(agent.id, &hook)).ok()?;
    }
    Some(runtime)
}

/// Runs the benchmark; returns the exit status.
pub(super) fn run() -> u32 {
    let mut tally = Tally::new("decide-bench");
    match measure() {
        Ok(()) => tally.count(true),
        Err(why) => tally.refuse(why),
    }
    tally.finish()
}

/// Measures every row and prints them; `Err` says why a row would not mean what it says.
fn measure() -> Result<(), String> {
    let slots = kingly_bpf::asm::assemble(POLICY).map_err(|e| format!("the benchmark policy: {e}"))?;
    let bytecode: Vec<u8> = slots.iter().flat_map(|s| s.to_bytes()).collect();
    let cache = CACHE.call_once(|| DecisionCache::new(&RCU, CacheConfig::default()));
    let jit_cache = JIT_CACHE.call_once(|| DecisionCache::new(&RCU, CacheConfig::default()));
    let (Some(runtime), Some(jit_runtime)) = (runtime(cache, false, &bytecode), runtime(jit_cache, true, &bytecode))
    else {
        return Err(String::from("could not attach the benchmark policy"));
    };
    let core = Aarch64Cpu::cpu_id();
    let mut platform = KernelPlatform::here();
    pmu::start_instruction_counter();
    let per_call = |total: u64| total / CALLS;
    // Warm the L1 and the global table, including the L1 row's key: its first call is a miss
    // whose insert grows the global table (a rebuild of ~35k instructions that once made up
    // half of the L1 figure).
    for i in 0..GLOBAL_KEYS {
        runtime.decide(core, &SCHED_SLICE, [i % 3, i, 0, 0], 1, &mut platform);
    }
    runtime.decide(core, &SCHED_SLICE, [2, 7, 0, 1], 1, &mut platform);
    let (_, l1) = quiet_count(|| {
        for _ in 0..CALLS {
            core::hint::black_box(runtime.decide(core, &SCHED_SLICE, [2, 7, 0, 1], 1, &mut platform));
        }
    });
    // The same with fields the compiler cannot see (a real caller's): inlined, the row above
    // folds the key's packing and hashing into constants.
    let (_, l1_opaque) = quiet_count(|| {
        for _ in 0..CALLS {
            let fields = core::hint::black_box([2, 7, 0, 1]);
            core::hint::black_box(runtime.decide(core, &SCHED_SLICE, fields, 1, &mut platform));
        }
    });
    // The trace as the scheduler uses it: decide, then record if the hook is traced. Off, the
    // record is one load and a branch; on, it writes an 80-byte record to this core's ring.
    let traced_l1 = |platform: &mut KernelPlatform| {
        for _ in 0..CALLS {
            let fields = core::hint::black_box([2, 7, 0, 1]);
            let d = runtime.decide(core, &SCHED_SLICE, fields, 1, platform);
            runtime.trace_decision(core, &SCHED_SLICE, fields, &d, false, [1, 2, 3, 4], 5);
            core::hint::black_box(d);
        }
    };
    let (_, l1_trace_off) = quiet_count(|| traced_l1(&mut platform));
    runtime.trace.set(SCHED_SLICE.id, true, false);
    let (_, l1_trace_on) = quiet_count(|| traced_l1(&mut platform));
    runtime.trace.set(SCHED_SLICE.id, false, false);
    let traced = runtime.trace.counters().written;
    let global_hits_before = cache.stats().cpus.global_hits;
    let (_, global) = quiet_count(|| {
        for i in 0..CALLS {
            let i = i % GLOBAL_KEYS;
            core::hint::black_box(runtime.decide(core, &SCHED_SLICE, [i % 3, i, 0, 0], 1, &mut platform));
        }
    });
    let global_hits = cache.stats().cpus.global_hits - global_hits_before;
    let (_, miss) = quiet_count(|| {
        for _ in 0..CALLS {
            core::hint::black_box(runtime.decide(core, &MCP_ADMIT, [2, 7, 0, 1], 1, &mut platform));
        }
    });
    let (_, jit_miss) = quiet_count(|| {
        for _ in 0..CALLS {
            core::hint::black_box(jit_runtime.decide(core, &MCP_ADMIT, [2, 7, 0, 1], 1, &mut platform));
        }
    });
    let jit_engine = jit_runtime.list().first().map_or("none", |a| a.engine());
    let program =
        Program::load(&bytecode, &Kind::Decision.program_type()).map_err(|e| format!("loading the policy: {e}"))?;
    let mut interpreter = Interpreter::new();
    let (_, interp) = quiet_count(|| {
        for _ in 0..CALLS {
            let mut ctx = hooks::decision_context(0, 0, 0, [2, 7, 0, 1]);
            let mut env = Env { maps: &mut [], platform: &mut platform, budget_insns: 1 << 20 };
            core::hint::black_box(interpreter.run(&program, &mut ctx, &mut env).ok());
        }
    });
    let jit_program = JitProgram::compile(&program).map_err(|e| format!("compiling the policy: {e}"))?;
    // Through `dyn Compiled`, as the runtime calls it: inlined here, the run's cost moved by up
    // to 250 instructions with how the compiler happened to split the kernel into codegen units.
    let jit_program: &dyn Compiled = core::hint::black_box(&jit_program);
    let (_, jit_run) = quiet_count(|| {
        for _ in 0..CALLS {
            let mut ctx = hooks::decision_context(0, 0, 0, [2, 7, 0, 1]);
            let mut env = Env { maps: &mut [], platform: &mut platform, budget_insns: 1 << 20 };
            core::hint::black_box(jit_program.run(&mut ctx, &mut [], &mut env).ok());
        }
    });
    // Phases, for the per-phase table in `kernel/src/dcache/HOTPATH.md`: the loop alone, building
    // a key (packing is the caller's, hashing is `Key`'s), and the cache's own lookup without the
    // runtime around it (hook lookup, key packing, `Decision`).
    let fields = core::hint::black_box([2u64, 7, 0, 1]);
    let (_, empty_loop) = quiet_count(|| {
        for _ in 0..CALLS {
            core::hint::black_box(core::hint::black_box(fields)[0]);
        }
    });
    let packed = fields[0] | fields[1] << 16 | fields[2] << 32 | fields[3] << 48;
    let (_, key_hash) = quiet_count(|| {
        for _ in 0..CALLS {
            core::hint::black_box(Key::from_u64(core::hint::black_box(packed)));
        }
    });
    let key = Key::from_u64(packed);
    let hook = HookId::SCHED_SLICE;
    let (_, cache_l1) = quiet_count(|| {
        for _ in 0..CALLS {
            core::hint::black_box(matches!(cache.lookup(core, hook, core::hint::black_box(&key), 1), Lookup::Hit(_)));
        }
    });
    let keys: Vec<Key> = (0..GLOBAL_KEYS).map(|i| Key::from_u64((i % 3) | (i << 16))).collect();
    let cache_global_before = cache.stats().cpus.global_hits;
    let (_, cache_global) = quiet_count(|| {
        for i in 0..CALLS as usize {
            core::hint::black_box(matches!(cache.lookup(core, hook, &keys[i % keys.len()], 1), Lookup::Hit(_)));
        }
    });
    let cache_global_hits = cache.stats().cpus.global_hits - cache_global_before;
    if l1 == 0 {
        return Err(String::from("the instruction counter reads 0; run under QEMU -icount (kingly boot --icount 0)"));
    }
    if traced != CALLS {
        return Err(format!("the traced row wrote {traced} records in {CALLS} calls"));
    }
    if global_hits != CALLS || cache_global_hits != CALLS {
        return Err(format!(
            "the global-hit rows measured {global_hits} and {cache_global_hits} global hits in {CALLS} calls; \
             the rest hit the L1, so the rows would not mean what they say"
        ));
    }
    kprintln!(
        "decide-bench: l1_hit={} global_hit={} miss_run_interpreter={} miss_run_jit={} interpreter_run={} jit_run={} (guest instructions per call; jit engine: {jit_engine})",
        per_call(l1),
        per_call(global),
        per_call(miss),
        per_call(jit_miss),
        per_call(interp),
        per_call(jit_run)
    );
    kprintln!(
        "decide-bench phases: loop={} key_hash={} l1_hit_opaque_fields={} cache_l1_hit={} cache_global_hit={} (guest instructions per iteration, loop included)",
        per_call(empty_loop),
        per_call(key_hash),
        per_call(l1_opaque),
        per_call(cache_l1),
        per_call(cache_global)
    );
    kprintln!(
        "decide-bench trace: l1_hit_opaque_fields={} l1_hit_trace_off={} l1_hit_trace_on={} (guest instructions per call: decide, then the trace check and record the scheduler does)",
        per_call(l1_opaque),
        per_call(l1_trace_off),
        per_call(l1_trace_on)
    );
    Ok(())
}
