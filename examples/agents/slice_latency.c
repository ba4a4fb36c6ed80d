// sched_slice policy favouring latency-sensitive tasks: CPU-bound tasks get short slices so a
// woken latency-sensitive task waits at most a millisecond or two behind them.
#include "kingly.h"

SEC("decision") u64 slice_latency(struct decision_ctx *ctx) {
    switch (ctx->field[F_CLASS]) {
    case CLASS_LATENCY:
        return 500;
    case CLASS_SLEEPER:
        return 2000;
    default:
        return 1000;
    }
}
char _license[] SEC("license") = "GPL";
