# type: decision
# class: leak-stack
# why: a spilled r10 is read back one byte at a time (bytes 1 and 2), leaking address bits
stxdw [%r10-8], %r10
ldxb %r0, [%r10-7]
ldxb %r3, [%r10-6]
lsh %r3, 8
or %r0, %r3
exit
