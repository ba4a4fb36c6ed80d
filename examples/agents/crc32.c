// A `tool` extension: the CRC-32 (IEEE, as zlib) of its input, up to MAX_LEN bytes.
#include "kingly.h"

#define MAX_LEN 512

SEC("tool") u64 crc32(struct tool_ctx *ctx) {
    u8 *data = (u8 *)(long)ctx->data;
    u8 *end = (u8 *)(long)ctx->data_end;
    u32 crc = 0xffffffff;
#pragma clang loop unroll(disable)
    for (u32 i = 0; i < MAX_LEN; i++) {
        u8 *p = data + i;
        if (p + 1 > end)
            break;
        crc ^= *p;
#pragma clang loop unroll(disable)
        for (int bit = 0; bit < 8; bit++)
            crc = (crc >> 1) ^ (0xedb88320 & -(crc & 1));
    }
    return crc ^ 0xffffffff;
}
char _license[] SEC("license") = "GPL";
