//! Host torture test: 4 reader CPUs + 2 CPU-less writers hammer RCU and the decision cache
//! (`kingly_kernel::dcache::torture`, the same code the kernel runs on its cores).
//!
//! CI: `cargo test -p kingly-kernel --test torture` (10^7 lookups, 10^5 swaps).
//! Long run: `DCACHE_TORTURE_LOOKUPS=100000000 DCACHE_TORTURE_SWAPS=1000000 cargo test ...`.

use kingly_kernel::cpu::host::HostCpu;
use kingly_kernel::dcache::torture::Torture;
use kingly_kernel::rcu::Rcu;
use std::sync::Arc;

fn env_count(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|text| text.replace('_', "").parse().ok()).unwrap_or(default)
}

fn run(rcu: &'static Rcu<HostCpu>, readers: usize, writers: usize, lookups: u64, swaps: u64) {
    let torture =
        Arc::new(Torture::<HostCpu>::with_threads(rcu, readers, writers, lookups.div_ceil(readers as u64), swaps));
    let mut threads = Vec::new();
    for cpu in 0..readers {
        let torture = torture.clone();
        threads.push(std::thread::spawn(move || {
            HostCpu::set_current(cpu);
            torture.run_reader(cpu);
        }));
    }
    for writer in 0..writers {
        let torture = torture.clone();
        threads.push(std::thread::spawn(move || torture.run_writer(writer)));
    }
    for thread in threads {
        thread.join().expect("torture thread panicked");
    }
    let report = torture.report();
    println!("{report}");
    println!("{report:?}");
    assert!(report.lookups >= lookups, "{report:?}");
    assert!(report.swaps >= swaps, "{report:?}");
    assert_eq!(report.violations(), 0, "{report:?}");
}

#[test]
fn torture_4_readers_2_writers() {
    // The CI variant: 10^7 lookups and 10^5 swaps (a few seconds even unoptimized); a token
    // run under Miri, which checks the same code for undefined behaviour.
    let (default_lookups, default_swaps) = if cfg!(miri) { (2_000, 100) } else { (10_000_000, 100_000) };
    let lookups = env_count("DCACHE_TORTURE_LOOKUPS", default_lookups);
    let swaps = env_count("DCACHE_TORTURE_SWAPS", default_swaps);
    // A domain per test: the tests run in parallel and each uses CPUs 0..4.
    static RCU: Rcu<HostCpu> = Rcu::new();
    run(&RCU, 4, 2, lookups, swaps);
}

#[test]
fn torture_kernel_layout_on_threads() {
    // The kernel's layout: every participant is a CPU; CPUs 0 and 1 also write.
    let (lookups, swaps) = if cfg!(miri) { (500, 50) } else { (100_000, 2_000) };
    static RCU: Rcu<HostCpu> = Rcu::new();
    let torture = Arc::new(Torture::<HostCpu>::new(&RCU, 4, lookups, swaps));
    let threads: Vec<_> = (0..4)
        .map(|cpu| {
            let torture = torture.clone();
            std::thread::spawn(move || {
                HostCpu::set_current(cpu);
                torture.run_on_this_cpu();
            })
        })
        .collect();
    torture.wait();
    for thread in threads {
        thread.join().unwrap();
    }
    let report = torture.report();
    println!("{report}");
    assert_eq!(report.violations(), 0, "{report:?}");
    assert_eq!(
        report.to_string(),
        format!("dcache torture: cpus=4 lookups={} swaps={} violations=0", report.lookups, report.swaps)
    );
}
