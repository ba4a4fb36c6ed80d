# type: decision
# class: partial-spill
# why: a spilled pointer (r10 - 64) has byte 1 replaced by a context field; if the fill still counts as that pointer, the store goes anywhere
mov %r2, %r10
add %r2, -64
stxdw [%r10-8], %r2
ldxdw %r3, [%r1+16]
stxb [%r10-7], %r3
ldxdw %r4, [%r10-8]
stdw [%r4+0], 0
mov %r0, 0
exit
