# type: decision
# class: offset-range
# why: the context pointer plus 2^40 (built with lsh) is read at offset 16; far beyond the ±2^29 pointer offset limit and outside the context
mov %r3, 1
lsh %r3, 40
add %r1, %r3
ldxdw %r0, [%r1+16]
exit
