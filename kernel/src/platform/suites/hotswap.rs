//! `kingly boot --test hotswap-torture`: core 0 replaces the `sched_slice` agent over and over
//! while the other cores decide continuously, and every decision is checked.
//!
//! Agent `i` answers `BASE + i`. After core 0's `attach` of agent `i` returns it publishes
//! `BASE + i`; a decision that starts after that and returns less is stale. A decision from the
//! default policy or a failed run is lost (an agent is attached throughout). A run of an agent
//! that was already freed (its poison is seen) is counted by the runtime as a dead run.

use super::Tally;
use crate::agents::signing::Trust;
use crate::agents::{LoadRequest, Runtime, Source};
use crate::arch::aarch64::cpu::Aarch64Cpu;
use crate::cpu::CpuOps;
use crate::dcache::{CacheConfig, DecisionCache};
use crate::kprintln;
use crate::platform::agents::{KernelJit, KernelPlatform};
use crate::platform::clock::now_ticks;
use crate::platform::smp;
use crate::rcu::Rcu;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use kingly_bpf::hooks::{Kind, SCHED_SLICE};

/// Replacements in one run (the issue asks for at least 1000).
const SWAPS: u64 = 1500;
const BASE: u64 = 1000;

static RCU: Rcu<Aarch64Cpu> = Rcu::new();
static CACHE: spin::Once<DecisionCache<'static, Aarch64Cpu>> = spin::Once::new();
static RUNTIME: spin::Once<Runtime<'static, Aarch64Cpu>> = spin::Once::new();
static COMPLETED: AtomicU64 = AtomicU64::new(0);
static FINISHED: AtomicBool = AtomicBool::new(false);
static DECISIONS: AtomicU64 = AtomicU64::new(0);
static STALE: AtomicU64 = AtomicU64::new(0);
static LOST: AtomicU64 = AtomicU64::new(0);
static SWAPS_DONE: AtomicU64 = AtomicU64::new(0);
static LOAD_ERRORS: AtomicU64 = AtomicU64::new(0);

fn runtime() -> &'static Runtime<'static, Aarch64Cpu> {
    RUNTIME.call_once(|| {
        let cache = CACHE.call_once(|| DecisionCache::new(&RCU, CacheConfig { max_entries: 1024 }));
        // Its own runtime in development mode (the kernel has no signing key to sign with),
        // with the JIT: every replacement also unmaps the old agent's native code.
        Runtime::new(cache, Trust::Unsigned, Some(&KernelJit))
    })
}

fn constant_agent(value: u64) -> Option<u32> {
    let source = alloc::format!("mov %r0, {value}\nexit");
    let slots = kingly_bpf::asm::assemble(&source).ok()?;
    let bytecode: Vec<u8> = slots.iter().flat_map(|s| s.to_bytes()).collect();
    let name = alloc::format!("slice_{value}");
    let request = LoadRequest { kind: Kind::Decision, name: &name, maps: &[], bytecode: &bytecode, signature: None };
    runtime().load(&request).ok().map(|agent| agent.id)
}

fn swapper() {
    let rt = runtime();
    let mut previous = None;
    for i in 0..=SWAPS {
        let Some(id) = constant_agent(BASE + i) else {
            LOAD_ERRORS.fetch_add(1, Ordering::Relaxed);
            break;
        };
        if rt.attach(id, &SCHED_SLICE).is_err() {
            LOAD_ERRORS.fetch_add(1, Ordering::Relaxed);
            break;
        }
        COMPLETED.store(BASE + i, Ordering::Release);
        if let Some(old) = previous.replace(id) {
            if rt.unload(old).is_err() {
                LOAD_ERRORS.fetch_add(1, Ordering::Relaxed);
            }
            SWAPS_DONE.fetch_add(1, Ordering::Relaxed);
        }
        RCU.quiescent_state(0);
    }
    FINISHED.store(true, Ordering::Release);
}

fn decider(core: usize) {
    let rt = runtime();
    let mut platform = KernelPlatform::here();
    let mut n: u64 = 0;
    while COMPLETED.load(Ordering::Acquire) == 0 && !FINISHED.load(Ordering::Acquire) {
        Aarch64Cpu::relax();
    }
    while !FINISHED.load(Ordering::Acquire) {
        let floor = COMPLETED.load(Ordering::Acquire);
        let fields = [n % 3, n % 7, 0, core as u64];
        let decision = rt.decide(core, &SCHED_SLICE, fields, now_ticks(), &mut platform);
        match decision.source {
            Source::Default | Source::Fallback => {
                LOST.fetch_add(1, Ordering::Relaxed);
            }
            _ if decision.value() < floor => {
                STALE.fetch_add(1, Ordering::Relaxed);
            }
            _ => {}
        }
        DECISIONS.fetch_add(1, Ordering::Relaxed);
        RCU.quiescent_state(core);
        n += 1;
    }
}

/// Runs the torture; returns the exit status.
pub fn run() -> u32 {
    let cpus = smp::online();
    runtime();
    smp::run_on_all_cores(|core| {
        RCU.online(core);
        if core == 0 {
            swapper();
        } else {
            decider(core);
        }
        RCU.offline(core);
    });
    RCU.synchronize();
    RCU.reclaim();
    let dead = runtime().stats.dead_runs.load(Ordering::Relaxed);
    let (stale, lost) = (STALE.load(Ordering::Relaxed), LOST.load(Ordering::Relaxed));
    let load_errors = LOAD_ERRORS.load(Ordering::Relaxed);
    let violations = stale + lost + dead + load_errors;
    let engine = runtime().list().first().map_or("none", |a| a.engine());
    kprintln!(
        "  stale={stale} lost={lost} freed_runs={dead} load_errors={load_errors} deciders={} engine={engine}",
        cpus - 1
    );
    kprintln!(
        "hotswap torture: swaps={} decisions={} violations={violations}",
        SWAPS_DONE.load(Ordering::Relaxed),
        DECISIONS.load(Ordering::Relaxed)
    );
    let mut tally = Tally::new("hotswap-torture");
    tally.count(violations == 0 && cpus >= 2);
    tally.finish()
}
