# type: conformance
# mem: 0000000000000000
# class: leak-ctx
# why: r10 is spilled and the slot is copied to the buffer with two 4-byte loads and stores
stxdw [%r10-8], %r10
ldxw %r3, [%r10-8]
stxw [%r1+0], %r3
ldxw %r3, [%r10-4]
stxw [%r1+4], %r3
mov %r0, 0
exit
