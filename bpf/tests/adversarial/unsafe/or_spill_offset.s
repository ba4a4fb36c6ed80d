# type: decision
# class: offset-range
# why: r10 + 2^33 is spilled, filled and written through at -8: the pointer offset is far beyond ±2^29
mov %r3, 2
lsh %r3, 32
mov %r2, %r10
add %r2, %r3
stxdw [%r10-8], %r2
ldxdw %r4, [%r10-8]
stdw [%r4-8], 0
mov %r0, 0
exit
