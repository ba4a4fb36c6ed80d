// sched_slice policy with its slices in a map, so they can be retuned while it runs
// (`map_write` key = class, value = µs; 0 keeps the built-in default), and a per-CPU count of
// the decisions made per class. Both maps are libbpf-style BTF maps: compile with -g.
//   clang-14 -target bpf -O2 -g -c slice_tunable.c -o slice_tunable.o
#include "kingly.h"

#define CLASSES 3

// slice_us[class]: the slice for that class in µs, 0 = default.
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, CLASSES);
    __type(key, u32);
    __type(value, u64);
} slice_us SEC(".maps");

// decisions[class]: how many slices this core decided for that class.
struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, CLASSES);
    __uint(key_size, 4);
    __uint(value_size, 8);
} decisions SEC(".maps");

static u64 default_slice_us(u32 class) {
    switch (class) {
    case CLASS_LATENCY:
        return 500;
    case CLASS_SLEEPER:
        return 2000;
    default:
        return 1000;
    }
}

SEC("sched_slice") u64 slice_tunable(struct decision_ctx *ctx) {
    u32 class = ctx->field[F_CLASS] < CLASSES ? ctx->field[F_CLASS] : CLASS_CPU_BOUND;
    u64 *count = bpf_map_lookup_elem(&decisions, &class);
    if (count)
        *count += 1;
    u64 *tuned = bpf_map_lookup_elem(&slice_us, &class);
    if (tuned && *tuned)
        return *tuned;
    return default_slice_us(class);
}
char _license[] SEC("license") = "GPL";
