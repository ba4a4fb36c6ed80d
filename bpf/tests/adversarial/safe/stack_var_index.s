# type: conformance
# mem: 0d
# class: scalar-only
# why: four initialised stack slots are indexed by buffer[0] & 0x18 (0, 8, 16 or 24): every candidate is in the frame and written
# r0: 0x2
stdw [%r10-32], 1
stdw [%r10-24], 2
stdw [%r10-16], 3
stdw [%r10-8], 4
ldxb %r3, [%r1+0]
and %r3, 0x18
mov %r2, %r10
add %r2, %r3
ldxdw %r0, [%r2-32]
exit
