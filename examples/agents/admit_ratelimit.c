// mcp_admit rate limiter: at most LIMIT tool calls per client per second; more are answered
// "rate-limited". bpf_detach is never subject to mcp_admit, so the policy can always be removed.
#include "kingly.h"

#define LIMIT 5
#define WINDOW_NS 1000000000ULL

struct window {
    u64 start_ns;
    u64 calls;
};

struct bpf_map_def SEC("maps") windows = {
    .type = BPF_MAP_TYPE_HASH, .key_size = 8, .value_size = sizeof(struct window), .max_entries = 64};

SEC("decision") u64 admit_ratelimit(struct decision_ctx *ctx) {
    u64 client = ctx->field[F_CLIENT];
    u64 now = bpf_ktime_get_ns();
    struct window *w = bpf_map_lookup_elem(&windows, &client);
    if (!w) {
        struct window fresh = {.start_ns = now, .calls = 1};
        bpf_map_update_elem(&windows, &client, &fresh, 0);
        return ADMIT_ALLOW;
    }
    if (now - w->start_ns >= WINDOW_NS) {
        w->start_ns = now;
        w->calls = 1;
        return ADMIT_ALLOW;
    }
    if (w->calls >= LIMIT)
        return ADMIT_RATE_LIMITED;
    w->calls += 1;
    return ADMIT_ALLOW;
}
char _license[] SEC("license") = "GPL";
