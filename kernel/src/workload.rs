//! The synthetic workload's task classes and its report: per-class throughput and wake-up
//! latency percentiles. Portable; the scheduler that runs the tasks is `platform::sched`.

use alloc::collections::BTreeMap;
use alloc::string::ToString;
use alloc::vec::Vec;
use kingly_bpf::hooks::class;
use kingly_proto::contract::{ClassReport, Latencies, WorkloadReport};

/// How a task behaves between its wake-ups.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pattern {
    /// Computes without sleeping (class `cpu_bound`).
    Compute,
    /// Works [`SLEEPER_WORK_US`], sleeps [`SLEEPER_SLEEP_MS`] (class `sleeper`).
    Sleeper,
    /// Wakes every [`LATENCY_SLEEP_MS`] and does almost nothing (class `latency`).
    Periodic,
    /// Wakes [`BURST_WAKEUPS`] times 1 ms apart, then sleeps [`BURST_GAP_MS`] (class `latency`).
    Bursty,
}

impl Pattern {
    /// The task class the scheduler's hooks see.
    pub fn class(self) -> u64 {
        match self {
            Pattern::Compute => class::CPU_BOUND,
            Pattern::Sleeper => class::SLEEPER,
            Pattern::Periodic | Pattern::Bursty => class::LATENCY,
        }
    }
}

/// A workload mix (a contract type: `workload_run` names it).
pub use kingly_proto::contract::Mix;

/// The tasks `mix` runs on every worker core: (pattern, count).
pub fn tasks(mix: Mix) -> &'static [(Pattern, usize)] {
    match mix {
        Mix::Mixed => &[(Pattern::Compute, 2), (Pattern::Sleeper, 1), (Pattern::Periodic, 1)],
        Mix::Latency => &[(Pattern::Compute, 1), (Pattern::Periodic, 3)],
        Mix::CpuBound => &[(Pattern::Compute, 3), (Pattern::Sleeper, 1)],
        Mix::Bursty => &[(Pattern::Compute, 2), (Pattern::Bursty, 2)],
    }
}

/// A sleeper works this long, then sleeps [`SLEEPER_SLEEP_MS`].
pub const SLEEPER_WORK_US: u64 = 300;
pub const SLEEPER_SLEEP_MS: u64 = 4;
/// A latency-sensitive task sleeps this long between wake-ups.
pub const LATENCY_SLEEP_MS: u64 = 2;
/// The time slices `sched_slice` exploration picks from (`trace_set explore`): whole ticks
/// (the scheduler ends a slice on the 1 kHz tick) from 1 ms to 16 ms.
pub const EXPLORE_SLICES_US: [u64; 5] = [1000, 2000, 4000, 8000, 16_000];
/// A bursty task wakes this many times, 1 ms apart, then sleeps [`BURST_GAP_MS`].
pub const BURST_WAKEUPS: u64 = 4;
pub const BURST_GAP_MS: u64 = 12;

/// What one task did.
#[derive(Clone, Debug, Default)]
pub struct TaskReport {
    pub class: u64,
    pub cpu_switches: u64,
    pub iterations: u64,
    /// Wake-up latencies in microseconds (deadline to running again).
    pub latencies_us: Vec<u32>,
}

/// `p` (0..=100) percentile of sorted `values`, nearest rank.
pub fn percentile(sorted: &[u32], p: u32) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (u64::from(p) * sorted.len() as u64).div_ceil(100).max(1) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

/// The `workload_run` report.
pub fn report(
    ms: u64,
    mix: Mix,
    worker_cores: usize,
    tasks: &[TaskReport],
    switches: u64,
    slice_policy: Option<u32>,
) -> WorkloadReport {
    let mut classes = BTreeMap::new();
    for (class_id, name) in class::NAMES.iter().enumerate() {
        let of_class: Vec<&TaskReport> = tasks.iter().filter(|t| t.class == class_id as u64).collect();
        let iterations: u64 = of_class.iter().map(|t| t.iterations).sum();
        let mut latencies: Vec<u32> = of_class.iter().flat_map(|t| t.latencies_us.iter().copied()).collect();
        latencies.sort_unstable();
        let measured = !latencies.is_empty();
        let entry = ClassReport {
            tasks: of_class.len() as u64,
            iterations,
            per_second: iterations * 1000 / ms.max(1),
            wakeups: measured.then_some(latencies.len() as u64),
            latency_us: measured.then(|| Latencies {
                p50: percentile(&latencies, 50),
                p90: percentile(&latencies, 90),
                p99: percentile(&latencies, 99),
                max: latencies.last().copied().unwrap_or(0),
            }),
        };
        classes.insert((*name).to_string(), entry);
    }
    WorkloadReport {
        ms,
        mix,
        worker_cores: worker_cores as u64,
        sched_slice: slice_policy,
        context_switches: switches,
        classes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<u32> = (1..=100).collect();
        assert_eq!(percentile(&v, 50), 50);
        assert_eq!(percentile(&v, 99), 99);
        assert_eq!(percentile(&v, 100), 100);
        assert_eq!(percentile(&[7], 99), 7);
        assert_eq!(percentile(&[], 50), 0);
        assert_eq!(percentile(&[1, 2, 3], 0), 1);
    }

    #[test]
    fn report_groups_by_class() {
        let tasks = [
            TaskReport { class: class::CPU_BOUND, iterations: 10, ..Default::default() },
            TaskReport { class: class::CPU_BOUND, iterations: 30, ..Default::default() },
            TaskReport {
                class: class::LATENCY,
                iterations: 3,
                latencies_us: vec![500, 100, 900],
                ..Default::default()
            },
        ];
        let r = report(100, Mix::Mixed, 3, &tasks, 42, Some(5));
        assert_eq!(r.classes["cpu_bound"].iterations, 40);
        assert_eq!(r.classes["cpu_bound"].per_second, 400);
        let latency = r.classes["latency"].latency_us.as_ref().unwrap();
        assert_eq!((latency.p50, latency.max), (500, 900));
        assert_eq!(r.classes["sleeper"].tasks, 0);
        assert_eq!(r.classes["sleeper"].latency_us, None);
        assert_eq!(r.sched_slice, Some(5));
        assert_eq!(r.context_switches, 42);
        assert_eq!(r.mix, Mix::Mixed);
    }

    #[test]
    fn mixes_by_name() {
        for name in Mix::NAMES {
            assert_eq!(Mix::by_name(name).unwrap().name(), name);
        }
        assert_eq!(Mix::by_name("nope"), None);
        assert!(tasks(Mix::Bursty).iter().any(|(p, _)| p.class() == class::LATENCY));
    }
}
