# type: tool
# finding: fault: `if data + K > data_end` with K = 2^63 - 1 proves 2^63 - 1 packet bytes on
# finding: the fall-through (Linux caps proven ranges at 0xffff). When data + K wraps (data
# finding: >= 2^63 + 1) the check passes and the read lands 30000 bytes into a short packet.
# finding: (ptrgen, seed 3, program 144439, minimized)
    ldxdw %r2, [%r1+0]
    ldxdw %r3, [%r1+8]
    lddw %r4, 0x7fffffffffffffff
    add %r4, %r2
    jgt %r4, %r3, out
    ldxb %r0, [%r2+30000]
    exit
out:
    mov %r0, 0
    exit
