# type: tool
# finding: fault: a packet pointer with a variable part (data + r1, r1 in [21, 255]) is read
# finding: at a negative instruction offset ([r0-2]) although no data_end check covers r1: the
# finding: per-variable range test accepts `fixed + off + size <= var_range` with fixed + off +
# finding: size = 0 and var_range = 0 for a variable part never compared. Only data + 10 was
# finding: proven, so the read lands up to 245 bytes past a 10-byte packet. (ptrgen, seed 12,
# finding: program 1462549 of a 10^7-program run at 56c338c, whose 3 findings were all this
# finding: class; minimized by hand)
    ldxdw %r7, [%r1+0]
    ldxdw %r2, [%r1+8]
    mov %r5, %r7
    add %r5, 10
    jlt %r2, %r5, out
    ldxb %r1, [%r7+9]
    jlt %r1, 21, out
    mov %r0, %r7
    add %r0, %r1
    ldxh %r0, [%r0-2]
    exit
out:
    mov %r0, 0
    exit
