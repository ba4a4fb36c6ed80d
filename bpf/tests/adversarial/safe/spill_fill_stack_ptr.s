# type: conformance
# mem: 00
# class: spill-fill
# why: a stack pointer (r10 - 32) is spilled, filled and written through; the fill is the same pointer
# r0: 0x4d
mov %r2, %r10
add %r2, -32
stxdw [%r10-8], %r2
mov %r2, 0
ldxdw %r3, [%r10-8]
stdw [%r3+0], 77
ldxdw %r0, [%r10-32]
exit
