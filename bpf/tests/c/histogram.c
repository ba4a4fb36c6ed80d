// A clang-14 test program in the style real extensions are written: a hash map of structs,
// bounds-checked indexing with a computed index, a loop with an early exit, context reads.
typedef unsigned char u8;
typedef unsigned int u32;
typedef unsigned long long u64;
struct bpf_map_def { u32 type; u32 key_size; u32 value_size; u32 max_entries; u32 map_flags; };
#define SEC(n) __attribute__((section(n), used))
static void *(*bpf_map_lookup_elem)(void *map, const void *key) = (void *)1;
static long (*bpf_map_update_elem)(void *map, const void *key, const void *value, u64 flags) = (void *)2;
static u64 (*bpf_ktime_get_ns)(void) = (void *)5;

struct hist { u64 buckets[16]; u64 total; };
struct ctx { u32 key; u32 n; u8 samples[32]; };

struct bpf_map_def SEC("maps") hists = { .type = 1, .key_size = 4, .value_size = sizeof(struct hist), .max_entries = 8 };

SEC("prog") int record(struct ctx *ctx) {
    u32 key = ctx->key;
    struct hist *h = bpf_map_lookup_elem(&hists, &key);
    if (!h) {
        struct hist zero = {};
        bpf_map_update_elem(&hists, &key, &zero, 0);
        h = bpf_map_lookup_elem(&hists, &key);
        if (!h)
            return 0;
    }
    u32 n = ctx->n;
    if (n > 32)
        n = 32;
    for (u32 i = 0; i < n; i++) {
        u8 s = ctx->samples[i];
        if (s == 0xff)
            break;
        u32 bucket = s >> 4;
        h->buckets[bucket] += 1;
        h->total += s;
    }
    return h->total & 0x7fffffff;
}
char _license[] SEC("license") = "GPL";
