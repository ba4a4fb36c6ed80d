// A clang-14 test program for a packet context (a `tool`-style input of any length):
// bounds checks against data_end, a bounded loop over the bytes, a header field read.
typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long long u64;
#define SEC(n) __attribute__((section(n), used))

struct ctx { u64 data; u64 data_end; };

SEC("tool") int checksum(struct ctx *ctx) {
    u8 *data = (u8 *)(long)ctx->data;
    u8 *end = (u8 *)(long)ctx->data_end;
    if (data + 2 > end)
        return -1;
    u16 count = *(u16 *)data;
    u32 sum = 0;
#pragma clang loop unroll(disable)
    for (u32 i = 0; i < 64; i++) {
        if (i >= count)
            break;
        u8 *p = data + 2 + i;
        if (p + 1 > end)
            break;
        sum = sum * 31 + *p;
    }
    return sum & 0x7fffffff;
}
char _license[] SEC("license") = "GPL";
