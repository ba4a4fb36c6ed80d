# type: conformance
# mem: 0000000000000000
# class: alu32-pointer
# why: lsh32 by 0 on the buffer pointer, filled from a spill, yields its low 32 bits; they are stored into the buffer
stxdw [%r10-8], %r1
ldxdw %r3, [%r10-8]
lsh32 %r3, 0
stxdw [%r1+0], %r3
mov %r0, 0
exit
