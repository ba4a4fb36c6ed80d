// A clang-14 test object with one program per Kingly type, each typed by its SEC() name:
// `kingly bpf` takes the type (and a decision's hook) from the section (host-tools/src/bpf_cli.rs).
typedef unsigned char u8;
typedef unsigned int u32;
typedef unsigned long long u64;
#define SEC(n) __attribute__((section(n), used))

struct decision_ctx { u32 hook; u32 cpu; u64 now_ns; u64 field[4]; };
struct tool_ctx { u64 data; u64 data_end; };
struct timer_ctx { u32 cpu; u32 period_ms; u64 now_ns; u64 runs; };

// sched_cpu: follow the waker (field 3, waker_cpu).
SEC("decision/sched_cpu") u64 follow_waker(struct decision_ctx *ctx) {
    return ctx->field[3];
}

// tool: the first input byte, or 0xff when there is none.
SEC("tool") u64 first_byte(struct tool_ctx *ctx) {
    u8 *data = (u8 *)(long)ctx->data;
    u8 *end = (u8 *)(long)ctx->data_end;
    if (data + 1 > end)
        return 0xff;
    return *data;
}

// timer: how many times it ran before.
SEC("timer") u64 count_runs(struct timer_ctx *ctx) {
    return ctx->runs;
}
char _license[] SEC("license") = "GPL";
