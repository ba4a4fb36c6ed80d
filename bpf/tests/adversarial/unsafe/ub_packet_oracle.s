# type: tool
# class: unbounded-scalar
# why: x is 8 attacker bytes from the packet; r10 + x > r10 is false exactly when the sum wraps, an oracle for the stack address
ldxdw %r2, [%r1+0]
ldxdw %r3, [%r1+8]
mov %r4, %r2
add %r4, 8
mov %r0, 0
jgt %r4, %r3, out
ldxdw %r5, [%r2+0]
mov %r6, %r10
add %r6, %r5
jgt %r6, %r10, out
mov %r0, 1
out:
exit
