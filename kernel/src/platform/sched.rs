//! Per-core preemptive scheduling of the synthetic workload on the worker cores (1..n; core 0
//! keeps serving the message port). A context switch is the timer tick's exception return
//! with another task's saved [`TrapFrame`], which holds x0–x30, q0–q31, FPCR and FPSR.
//!
//! Every switch asks the agent runtime: `sched_slice` for the next task's time slice and, when a
//! sleeper wakes, `sched_cpu` for the core it runs on — both through the decision cache.

use super::agents::{runtime, KernelPlatform};
use super::clock::now_ticks;
use super::smp;
use crate::agents::Decision;
use crate::arch::aarch64::cpu::{self, Aarch64Cpu};
use crate::arch::aarch64::exceptions::TrapFrame;
use crate::cpu::{CpuOps, MAX_CPUS};
use crate::workload::{self, Mix, Pattern, TaskReport};
use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::string::{String, ToString};
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use kingly_bpf::hooks::{self, class};
use kingly_drivers::generic_timer::GenericTimer;

const STACK_BYTES: usize = 16 * 1024;
const MAX_LATENCY_SAMPLES: usize = 8192;

const RUNNING: u8 = 0;
const RUNNABLE: u8 = 1;
const SLEEPING: u8 = 2;
const DONE: u8 = 3;

/// A workload task: its stack, its saved context and what it measured.
struct Task {
    id: u32,
    class: u64,
    pattern: Pattern,
    /// When the task last joined a run queue (woken or preempted).
    queued_at_ns: AtomicU64,
    end_ns: u64,
    state: AtomicU8,
    wake_at_ns: AtomicU64,
    last_cpu: AtomicU32,
    iterations: AtomicU64,
    migrations: AtomicU64,
    /// Written only by the task itself; read after it is done.
    latencies_us: spin::Mutex<Vec<u32>>,
    /// Address of the saved [`TrapFrame`] on `stack`.
    frame: AtomicUsize,
    stack: Box<[u128]>,
}

struct CoreState {
    current: Option<Arc<Task>>,
    /// The core's own context (its idle loop), saved when a task first ran.
    idle_frame: usize,
    queue: VecDeque<Arc<Task>>,
    /// When the current task's slice ends (time, not a tick count: ticks can arrive late).
    slice_end_ns: u64,
    /// The current slice's `sched_slice` call, recorded with its outcome when the slice ends
    /// (only while the hook is traced).
    traced: Option<SliceTrace>,
}

/// A traced `sched_slice` call waiting for its outcome.
struct SliceTrace {
    fields: [u64; hooks::DECISION_FIELDS],
    decision: Decision,
    explored: bool,
    start_ns: u64,
    iterations_at_start: u64,
    /// How long the task waited in the queue before this slice.
    waited_us: u32,
}

struct Sched {
    cores: [CoreState; MAX_CPUS],
    sleepers: Vec<Arc<Task>>,
    switches: u64,
    workers: usize,
}

static ACTIVE: AtomicBool = AtomicBool::new(false);
static SCHED: spin::Mutex<Option<Sched>> = spin::Mutex::new(None);

fn now_ns() -> u64 {
    GenericTimer.uptime_ns()
}

/// Called by the tick after the interrupt is handled: the frame to resume on this core.
pub fn switch(frame: &mut TrapFrame) -> &mut TrapFrame {
    if !ACTIVE.load(Ordering::Acquire) {
        return frame;
    }
    let core = Aarch64Cpu::cpu_id();
    if core == 0 {
        return frame;
    }
    let here = core::ptr::from_mut(frame) as usize;
    let next = {
        let mut guard = SCHED.lock();
        let Some(sched) = guard.as_mut() else { return frame };
        schedule(sched, core, here)
    };
    if next == here {
        return frame;
    }
    // SAFETY: `next` is the address of a TrapFrame saved by an earlier exception entry on this
    // core (the idle loop's) or on a task's stack (a task's, or its initial frame), and that
    // context is not running anywhere: a task is on exactly one core's `current` or queue.
    unsafe { &mut *(next as *mut TrapFrame) }
}

fn schedule(sched: &mut Sched, core: usize, here: usize) -> usize {
    let now = now_ns();
    wake_sleepers(sched, core, now);
    let Sched { cores, sleepers, switches, .. } = sched;
    let state = &mut cores[core];
    match state.current.take() {
        Some(task) => {
            task.frame.store(here, Ordering::Relaxed);
            let running = task.state.load(Ordering::Acquire);
            if running == RUNNING && now < state.slice_end_ns {
                state.current = Some(task);
                return here;
            }
            if let Some(traced) = state.traced.take() {
                trace_slice(core, &traced, &task, &state.queue, now);
            }
            match running {
                RUNNING => {
                    task.state.store(RUNNABLE, Ordering::Relaxed);
                    task.queued_at_ns.store(now, Ordering::Relaxed);
                    state.queue.push_back(task);
                }
                SLEEPING => sleepers.push(task),
                _ => {} // DONE: the workload keeps its own reference.
            }
        }
        None => state.idle_frame = here,
    }
    let Some(task) = state.queue.pop_front() else { return state.idle_frame };
    let runnable = state.queue.len() as u64;
    let fields = [task.class, u64::from(task.id), 0, runnable];
    let rt = runtime();
    let mut decision = rt.decide(core, &hooks::SCHED_SLICE, fields, now_ticks(), &mut KernelPlatform::here());
    let explored = rt.trace.exploring(hooks::SCHED_SLICE.id);
    if explored {
        let index = rt.trace.explore_index(core, workload::EXPLORE_SLICES_US.len());
        decision = decision.with_value(workload::EXPLORE_SLICES_US[index]);
    }
    let slice_us = decision.value().clamp(100, 100_000);
    state.traced = rt.trace.on(hooks::SCHED_SLICE.id).then(|| SliceTrace {
        fields,
        decision,
        explored,
        start_ns: now,
        iterations_at_start: task.iterations.load(Ordering::Relaxed),
        waited_us: micros(now.saturating_sub(task.queued_at_ns.load(Ordering::Relaxed))),
    });
    // The tick that ends the slice may come up to one period late; aim just before it.
    state.slice_end_ns = now + slice_us * 1000 - 500_000.min(slice_us * 500);
    if task.last_cpu.swap(core as u32, Ordering::Relaxed) != core as u32 {
        task.migrations.fetch_add(1, Ordering::Relaxed);
    }
    *switches += 1;
    task.state.store(RUNNING, Ordering::Release);
    let frame = task.frame.load(Ordering::Relaxed);
    state.current = Some(task);
    frame
}

fn micros(ns: u64) -> u32 {
    (ns / 1000).min(u64::from(u32::MAX)) as u32
}

/// Records a traced slice with what it led to: outcome = [microseconds it ran, iterations the
/// task completed, microseconds the task had waited for it, microseconds latency-sensitive
/// tasks spent queued behind it].
fn trace_slice(core: usize, traced: &SliceTrace, task: &Task, queue: &VecDeque<Arc<Task>>, now: u64) {
    let imposed: u64 = queue
        .iter()
        .filter(|t| t.class == class::LATENCY)
        .map(|t| now.saturating_sub(t.queued_at_ns.load(Ordering::Relaxed).max(traced.start_ns)))
        .sum();
    let work = task.iterations.load(Ordering::Relaxed) - traced.iterations_at_start;
    let outcome =
        [micros(now - traced.start_ns), work.min(u64::from(u32::MAX)) as u32, traced.waited_us, micros(imposed)];
    runtime().trace_decision(
        core,
        &hooks::SCHED_SLICE,
        traced.fields,
        &traced.decision,
        traced.explored,
        outcome,
        traced.start_ns,
    );
}

/// Moves sleepers whose time came to the core `sched_cpu` picks.
fn wake_sleepers(sched: &mut Sched, waker: usize, now: u64) {
    let mut i = 0;
    while i < sched.sleepers.len() {
        if sched.sleepers[i].wake_at_ns.load(Ordering::Relaxed) > now {
            i += 1;
            continue;
        }
        let task = sched.sleepers.swap_remove(i);
        let prev = u64::from(task.last_cpu.load(Ordering::Relaxed));
        let fields = [task.class, u64::from(task.id), prev, waker as u64];
        let rt = runtime();
        let decision = rt.decide(waker, &hooks::SCHED_CPU, fields, now_ticks(), &mut KernelPlatform::here());
        let target = worker_core(decision.value(), sched.workers);
        if rt.trace.on(hooks::SCHED_CPU.id) {
            // Outcome: [moved to another core, tasks queued there before it, 0, 0].
            let outcome = [u32::from(target as u64 != prev), sched.cores[target].queue.len() as u32, 0, 0];
            rt.trace_decision(waker, &hooks::SCHED_CPU, fields, &decision, false, outcome, now);
        }
        task.state.store(RUNNABLE, Ordering::Relaxed);
        task.queued_at_ns.store(now, Ordering::Relaxed);
        sched.cores[target].queue.push_back(task);
    }
}

/// The worker core for a `sched_cpu` decision: cores 1..=workers; others wrap around.
fn worker_core(decision: u64, workers: usize) -> usize {
    let workers = workers.max(1) as u64;
    if (1..=workers).contains(&decision) {
        decision as usize
    } else {
        1 + (decision % workers) as usize
    }
}

/// Sleeps the calling task for `ms`; returns the wake-up latency in microseconds.
fn sleep_ms(task: &Task, ms: u64) -> u32 {
    let wake_at = now_ns() + ms * 1_000_000;
    task.wake_at_ns.store(wake_at, Ordering::Relaxed);
    task.state.store(SLEEPING, Ordering::Release);
    while task.state.load(Ordering::Acquire) != RUNNING {
        cpu::wait_for_interrupt();
    }
    (now_ns().saturating_sub(wake_at) / 1000).min(u64::from(u32::MAX)) as u32
}

fn record(task: &Task, latency_us: u32) {
    let mut samples = task.latencies_us.lock();
    if samples.len() < MAX_LATENCY_SAMPLES {
        samples.push(latency_us);
    }
}

/// First code of every task; `task` points to its [`Task`], kept alive by the workload.
extern "C" fn task_entry(task: *const Task) -> ! {
    // SAFETY: `run` holds an Arc of every task until the task is DONE and off every core.
    let task = unsafe { &*task };
    let mut x = u64::from(task.id) | 1;
    while now_ns() < task.end_ns {
        match task.pattern {
            Pattern::Compute => {
                for _ in 0..2000 {
                    x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                }
                core::hint::black_box(x);
            }
            Pattern::Sleeper => {
                let until = now_ns() + workload::SLEEPER_WORK_US * 1000;
                while now_ns() < until {
                    x = core::hint::black_box(x.rotate_left(7) ^ 0x5bd1_e995);
                }
                record(task, sleep_ms(task, workload::SLEEPER_SLEEP_MS));
            }
            Pattern::Periodic => record(task, sleep_ms(task, workload::LATENCY_SLEEP_MS)),
            Pattern::Bursty => {
                let gap = task.iterations.load(Ordering::Relaxed) % workload::BURST_WAKEUPS == 0;
                record(task, sleep_ms(task, if gap { workload::BURST_GAP_MS } else { 1 }));
            }
        }
        task.iterations.fetch_add(1, Ordering::Relaxed);
    }
    task.state.store(DONE, Ordering::Release);
    loop {
        cpu::wait_for_interrupt();
    }
}

fn new_task(id: u32, pattern: Pattern, end_ns: u64, core: usize) -> Arc<Task> {
    let stack: Box<[u128]> = alloc::vec![0u128; STACK_BYTES / 16].into_boxed_slice();
    let task = Arc::new(Task {
        id,
        class: pattern.class(),
        pattern,
        queued_at_ns: AtomicU64::new(now_ns()),
        end_ns,
        state: AtomicU8::new(RUNNABLE),
        wake_at_ns: AtomicU64::new(0),
        last_cpu: AtomicU32::new(core as u32),
        iterations: AtomicU64::new(0),
        migrations: AtomicU64::new(0),
        latencies_us: spin::Mutex::new(Vec::with_capacity(MAX_LATENCY_SAMPLES)),
        frame: AtomicUsize::new(0),
        stack,
    });
    let top = task.stack.as_ptr() as usize + STACK_BYTES;
    let frame_address = top - core::mem::size_of::<TrapFrame>();
    // SAFETY: the frame lies inside the task's stack (16-byte aligned: the stack is u128s and
    // the frame size a multiple of 16), which nothing else uses before the task first runs.
    let frame = unsafe { &mut *(frame_address as *mut TrapFrame) };
    frame.x[0] = Arc::as_ptr(&task) as u64;
    frame.elr = task_entry as *const () as usize as u64;
    // EL1h (SPSel = 1), interrupts unmasked.
    frame.spsr = 0b0101;
    task.frame.store(frame_address, Ordering::Relaxed);
    task
}

/// Runs the workload on the worker cores for `ms` and reports what each class achieved.
pub fn run(ms: u64, mix: Mix) -> Result<kingly_proto::contract::WorkloadReport, String> {
    let cpus = smp::online();
    if cpus < 2 {
        return Err("workload_run needs at least 2 cores (core 0 serves the port)".to_string());
    }
    if ACTIVE.load(Ordering::Acquire) {
        return Err("a workload is already running".to_string());
    }
    let workers = cpus - 1;
    let end_ns = now_ns() + ms * 1_000_000;
    let mut tasks = Vec::new();
    let mut cores: [CoreState; MAX_CPUS] = core::array::from_fn(|_| CoreState {
        current: None,
        idle_frame: 0,
        queue: VecDeque::new(),
        slice_end_ns: 0,
        traced: None,
    });
    for (core, state) in cores.iter_mut().enumerate().take(cpus).skip(1) {
        for &(pattern, count) in workload::tasks(mix) {
            for _ in 0..count {
                let task = new_task(tasks.len() as u32 + 1, pattern, end_ns, core);
                state.queue.push_back(task.clone());
                tasks.push(task);
            }
        }
    }
    let slice_policy = runtime().attached(Aarch64Cpu::cpu_id(), &hooks::SCHED_SLICE);
    with_irqs_masked(|| *SCHED.lock() = Some(Sched { cores, sleepers: Vec::new(), switches: 0, workers }));
    ACTIVE.store(true, Ordering::Release);
    // Wait for every task to finish and every worker to be back in its idle loop.
    let give_up_ns = end_ns + 2_000_000_000;
    let finished = loop {
        cpu::wait_for_interrupt();
        let idle = with_irqs_masked(|| {
            SCHED.lock().as_ref().is_some_and(|s| s.cores.iter().all(|c| c.current.is_none() && c.queue.is_empty()))
        });
        let all_done = tasks.iter().all(|t| t.state.load(Ordering::Acquire) == DONE);
        if all_done && idle {
            break true;
        }
        if now_ns() > give_up_ns {
            break false;
        }
    };
    ACTIVE.store(false, Ordering::Release);
    let sched = with_irqs_masked(|| SCHED.lock().take());
    let switches = sched.as_ref().map_or(0, |s| s.switches);
    if !finished {
        // A task still holds a core: keep everything alive rather than free a live stack.
        core::mem::forget(sched);
        core::mem::forget(tasks);
        return Err("workload tasks did not finish within 2 s of the deadline".to_string());
    }
    drop(sched);
    let reports: Vec<TaskReport> = tasks
        .iter()
        .map(|t| TaskReport {
            class: t.class,
            cpu_switches: t.migrations.load(Ordering::Relaxed),
            iterations: t.iterations.load(Ordering::Relaxed),
            latencies_us: t.latencies_us.lock().clone(),
        })
        .collect();
    Ok(workload::report(ms, mix, workers, &reports, switches, slice_policy))
}

fn with_irqs_masked<R>(f: impl FnOnce() -> R) -> R {
    let state = Aarch64Cpu::irq_save();
    let result = f();
    Aarch64Cpu::irq_restore(state);
    result
}
