// A clang-14 test program: a legacy map, a bounded loop, a noinline sub-function and an atomic.
typedef unsigned int u32;
typedef unsigned long long u64;
struct bpf_map_def { u32 type; u32 key_size; u32 value_size; u32 max_entries; u32 map_flags; };
#define SEC(n) __attribute__((section(n), used))
static void *(*bpf_map_lookup_elem)(void *map, const void *key) = (void *)1;

struct bpf_map_def SEC("maps") counts = { .type = 2, .key_size = 4, .value_size = 8, .max_entries = 16 };

static __attribute__((noinline)) u64 square(u64 x) { return x * x; }

SEC("prog") int entry(void *ctx) {
    u64 total = 0;
#pragma clang loop unroll(disable)
    for (u32 i = 0; i < 10; i++) {
        u32 key = i;
        u64 *v = bpf_map_lookup_elem(&counts, &key);
        if (!v)
            return 0;
        __sync_fetch_and_add(v, square(i));
        total += *v;
    }
    return total & 0xffff;
}
char _license[] SEC("license") = "GPL";
