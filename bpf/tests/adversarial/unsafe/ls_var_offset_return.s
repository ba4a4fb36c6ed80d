# type: conformance
# mem: 08
# class: leak-stack
# why: a spilled r10 and a number share a variable-offset load; for buffer byte 8 the load returns the spilled address as data
stxdw [%r10-16], %r10
stdw [%r10-8], 7
ldxb %r3, [%r1+0]
and %r3, 8
mov %r2, %r10
sub %r2, %r3
ldxdw %r0, [%r2-8]
exit
