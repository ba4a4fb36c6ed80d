// Kingly agent definitions for clang (`clang-14 -target bpf -O2 -c file.c`): context layouts,
// helper numbers (Linux's), map definitions. Layouts: bpf/src/hooks.rs.
#ifndef KINGLY_H
#define KINGLY_H
typedef unsigned char u8;
typedef unsigned int u32;
typedef unsigned long long u64;
#define SEC(n) __attribute__((section(n), used))

// `decision` programs (sched_slice, sched_cpu, mcp_admit): four named fields per hook.
struct decision_ctx {
    u32 hook;
    u32 cpu;
    u64 now_ns;
    u64 field[4];
};
// sched_slice / sched_cpu fields
#define F_CLASS 0
#define F_TASK 1
#define F_NICE 2 // sched_slice
#define F_RUNNABLE 3 // sched_slice
#define F_PREV_CPU 2 // sched_cpu
#define F_WAKER_CPU 3 // sched_cpu
// mcp_admit fields
#define F_TOOL 0 // FNV-1a 32 of the tool name
#define F_CLIENT 1
#define F_ARG_BYTES 2

#define CLASS_CPU_BOUND 0
#define CLASS_SLEEPER 1
#define CLASS_LATENCY 2

#define ADMIT_ALLOW 0
#define ADMIT_DENY 1
#define ADMIT_RATE_LIMITED 2

// `tool` programs: the input bytes as a packet.
struct tool_ctx {
    u64 data;
    u64 data_end;
};

// `timer` programs.
struct timer_ctx {
    u32 cpu;
    u32 period_ms;
    u64 now_ns;
    u64 runs;
};

// Maps, libbpf style (BTF-defined; compile with -g so clang writes the .BTF that describes them):
//   struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 64);
//            __type(key, u32); __type(value, u64); } name SEC(".maps");
// __uint(key_size, N) / __uint(value_size, N) may replace __type(key/value, T).
#define __uint(name, val) int (*name)[val]
#define __type(name, val) typeof(val) *name

// Maps, legacy style (no -g needed): struct bpf_map_def SEC("maps") name = { ... };
struct bpf_map_def {
    u32 type;
    u32 key_size;
    u32 value_size;
    u32 max_entries;
    u32 map_flags;
};
#define BPF_MAP_TYPE_HASH 1
#define BPF_MAP_TYPE_ARRAY 2
#define BPF_MAP_TYPE_PERCPU_ARRAY 6

static void *(*bpf_map_lookup_elem)(void *map, const void *key) = (void *)1;
static long (*bpf_map_update_elem)(void *map, const void *key, const void *value, u64 flags) = (void *)2;
static u64 (*bpf_ktime_get_ns)(void) = (void *)5;
static u32 (*bpf_get_smp_processor_id)(void) = (void *)8;
#endif
