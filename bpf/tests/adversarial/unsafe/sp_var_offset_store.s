# type: conformance
# mem: 01
# class: partial-spill
# why: a variable-offset byte store may hit byte 1 of a spilled r10 - 32; the fill is written through at a corrupted address
mov %r2, %r10
add %r2, -32
stxdw [%r10-16], %r2
stdw [%r10-8], 0
ldxb %r3, [%r1+0]
and %r3, 7
mov %r4, %r10
add %r4, %r3
stb [%r4-16], 0x7f
ldxdw %r5, [%r10-16]
stdw [%r5+0], 0
mov %r0, 0
exit
