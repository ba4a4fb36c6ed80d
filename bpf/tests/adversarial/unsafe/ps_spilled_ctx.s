# type: conformance
# mem: 0011223344556677
# class: ptr-sub-objects
# why: the buffer pointer is spilled and filled, then subtracted from r10: stack minus buffer leaks their distance
stxdw [%r10-8], %r1
ldxdw %r3, [%r10-8]
mov %r0, %r10
sub %r0, %r3
exit
