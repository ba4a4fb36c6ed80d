// A `timer` agent: counts its runs per core and records the largest gap between two runs
// (timer jitter), in an array map: [0] runs, [1] last run ns, [2] largest gap ns.
#include "kingly.h"

struct bpf_map_def SEC("maps") stats = {
    .type = BPF_MAP_TYPE_ARRAY, .key_size = 4, .value_size = 8, .max_entries = 3};

static u64 *slot(u32 key) {
    return bpf_map_lookup_elem(&stats, &key);
}

SEC("timer") u64 timer_stats(struct timer_ctx *ctx) {
    u64 *runs = slot(0);
    u64 *last = slot(1);
    u64 *gap = slot(2);
    if (!runs || !last || !gap)
        return 0;
    *runs += 1;
    if (*last && ctx->now_ns - *last > *gap)
        *gap = ctx->now_ns - *last;
    *last = ctx->now_ns;
    return 0;
}
char _license[] SEC("license") = "GPL";
