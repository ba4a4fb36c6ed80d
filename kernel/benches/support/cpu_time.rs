//! Thread CPU time for the benches: the build machine is shared and oversubscribed.

use std::time::Duration;

/// CPU time of the calling thread: the build machine is shared and oversubscribed, and wall
/// time would count the time this thread spends descheduled.
pub fn thread_cpu_time() -> Duration {
    let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `clock_gettime` writes the `timespec` it is given; the clock id is valid on Linux.
    let status = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    assert_eq!(status, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

/// Times `iters` calls of `op` in thread CPU time.
#[inline(always)]
pub fn cpu_timed(iters: u64, mut op: impl FnMut()) -> Duration {
    let start = thread_cpu_time();
    for _ in 0..iters {
        op();
    }
    thread_cpu_time() - start
}
