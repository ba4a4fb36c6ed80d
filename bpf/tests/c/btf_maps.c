// A clang-14 test program with libbpf-style BTF-defined maps (`SEC(".maps")`, needs -g for .BTF)
// beside a legacy `struct bpf_map_def` in SEC("maps"): a hash map declared with __type(key/value),
// an array declared with __uint(key_size/value_size), and the legacy array.
typedef unsigned int u32;
typedef unsigned long long u64;
#define SEC(n) __attribute__((section(n), used))
// libbpf's bpf_helpers.h spellings: a number as the element count of an array type, a type as
// the target of a pointer, so both survive in BTF.
#define __uint(name, val) int (*name)[val]
#define __type(name, val) typeof(val) *name
struct bpf_map_def { u32 type; u32 key_size; u32 value_size; u32 max_entries; u32 map_flags; };
static void *(*bpf_map_lookup_elem)(void *map, const void *key) = (void *)1;
static long (*bpf_map_update_elem)(void *map, const void *key, const void *value, u64 flags) = (void *)2;

struct pair { u64 sum; u64 count; };
typedef const struct pair pair_t;

// Hash: u32 -> struct pair (16 bytes, reached through a const typedef).
struct {
    __uint(type, 1);
    __uint(max_entries, 8);
    __type(key, u32);
    __type(value, pair_t);
} sums SEC(".maps");

// Array: 4-byte keys, 8-byte values, sizes given as numbers; map_flags 0 and pinning 0 accepted.
struct {
    __uint(type, 2);
    __uint(key_size, 4);
    __uint(value_size, 8);
    __uint(max_entries, 4);
    __uint(map_flags, 0);
    __uint(pinning, 0);
} last SEC(".maps");

// Legacy: an array of 2 u64 counters.
struct bpf_map_def SEC("maps") calls = { .type = 2, .key_size = 4, .value_size = 8, .max_entries = 2 };

struct ctx { u32 key; u32 sample; };

// Adds the sample to sums[key], records it in last[key % 4], counts the call in calls[0];
// returns the running sum.
SEC("prog") int record(struct ctx *ctx) {
    u32 key = ctx->key;
    u32 slot = key % 4;
    u32 zero = 0;
    u64 *n = bpf_map_lookup_elem(&calls, &zero);
    if (n)
        *n += 1;
    u64 *l = bpf_map_lookup_elem(&last, &slot);
    if (l)
        *l = ctx->sample;
    struct pair *p = bpf_map_lookup_elem(&sums, &key);
    if (!p) {
        struct pair fresh = { ctx->sample, 1 };
        bpf_map_update_elem(&sums, &key, &fresh, 0);
        return ctx->sample;
    }
    p->sum += ctx->sample;
    p->count += 1;
    return p->sum;
}
char _license[] SEC("license") = "GPL";
