//! The in-kernel test suites, run by `kingly boot --test NAME`: one registry ([`SUITES`]) and
//! one way to count and print results ([`Tally`]). Built only with the `suites` feature
//! (`kingly boot --test` and the integration tests turn it on), so production images and SD
//! cards carry neither the suites nor the bpf_conformance corpus.
//!
//! Every suite prints one line per case and ends with `<suite>: N passed, M failed`; the
//! kernel then exits with the status [`run`] returns (0 only if nothing failed, 2 for a name
//! it does not know).

mod decide_bench;
mod hotswap;
mod jit;
mod smoke;
mod verify_bench;

use crate::kprintln;
use core::fmt::Display;

/// A suite `kingly boot --test` can name, and what runs it (returns the exit status).
struct Suite {
    name: &'static str,
    run: fn() -> u32,
}

/// Every suite. The host checks names against [`crate::bootargs::TEST_SUITES`] before it
/// builds anything; `smoke::registry_matches_the_host_list` keeps the two lists equal.
const SUITES: &[Suite] = &[
    Suite { name: "smoke", run: smoke::run },
    Suite { name: "fault", run: smoke::deliberate_fault },
    Suite { name: "panic", run: smoke::deliberate_panic },
    Suite { name: "dcache-torture", run: smoke::dcache_torture },
    Suite { name: "hotswap-torture", run: hotswap::run },
    Suite { name: "decide-bench", run: decide_bench::run },
    // Both hot-path benches in one boot, for the regression guard (`tests/tests/hotpath.rs`).
    Suite { name: "hotpath-bench", run: || decide_bench::run() | jit::bench_suite() },
    Suite { name: "verify-bench", run: verify_bench::run },
    Suite { name: "bpf-jit-conformance", run: jit::conformance_suite },
    Suite { name: "bpf-jit-diff", run: jit::differential_suite },
    Suite { name: "bpf-jit-bench", run: jit::bench_suite },
];

/// Runs suite `name`; returns the exit status.
pub fn run(name: &str) -> u32 {
    match SUITES.iter().find(|suite| suite.name == name) {
        Some(suite) => (suite.run)(),
        None => {
            kprintln!("error: no test suite named '{name}'; suites: {}", crate::bootargs::TEST_SUITES.join(", "));
            2
        }
    }
}

/// A named check: `Ok`, or why it failed.
type Case<E> = (&'static str, fn() -> Result<(), E>);

/// One suite's results: prints a line per case as it goes and the summary at the end.
struct Tally {
    suite: &'static str,
    passed: u32,
    failed: u32,
}

impl Tally {
    fn new(suite: &'static str) -> Self {
        Self { suite, passed: 0, failed: 0 }
    }

    /// Records a case: `test <suite>::<name> ... ok` or `... FAILED: <why>`.
    fn case<E: Display>(&mut self, name: &str, result: Result<(), E>) {
        match &result {
            Ok(()) => kprintln!("test {}::{name} ... ok", self.suite),
            Err(why) => kprintln!("test {}::{name} ... FAILED: {why}", self.suite),
        }
        self.count(result.is_ok());
    }

    /// Runs each case in order and records it.
    fn cases<E: Display>(&mut self, cases: &[Case<E>]) {
        for (name, case) in cases {
            self.case(name, case());
        }
    }

    /// Records a measurement: `bench <name>: <figures>` or `bench <name>: FAILED: <why>`.
    fn bench(&mut self, name: &str, result: Result<impl Display, impl Display>) {
        match &result {
            Ok(figures) => kprintln!("bench {name}: {figures}"),
            Err(why) => kprintln!("bench {name}: FAILED: {why}"),
        }
        self.count(result.is_ok());
    }

    /// Records an outcome whose line the suite printed itself.
    fn count(&mut self, passed: bool) {
        if passed {
            self.passed += 1;
        } else {
            self.failed += 1;
        }
    }

    /// Records a failure that stops the suite before its cases (a missing counter, an empty
    /// corpus): `error: <why>`.
    fn refuse(&mut self, why: impl Display) {
        kprintln!("error: {why}");
        self.failed += 1;
    }

    /// Prints `<suite>: N passed, M failed`; returns the exit status (1 if anything failed).
    fn finish(self) -> u32 {
        kprintln!("{}: {} passed, {} failed", self.suite, self.passed, self.failed);
        u32::from(self.failed > 0)
    }
}
