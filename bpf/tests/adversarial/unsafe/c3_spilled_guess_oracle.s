# type: decision
# class: address-compare
# why: r10 is spilled, filled and compared for equality with a guess taken from a context field: an oracle for the exact stack address
ldxdw %r4, [%r1+24]
stxdw [%r10-8], %r10
ldxdw %r3, [%r10-8]
mov %r0, 0
jne %r3, %r4, out
mov %r0, 1
out:
exit
