# type: decision
# class: null-after-arith
# why: one path adds K = -(stack address) to r10, the other -8; after the join jeq r2, 0 is live on the first path and returns r10
ldxdw %r6, [%r1+16]
mov %r2, %r10
jeq %r6, 1, big
add %r2, -8
ja join
big:
lddw %r3, -0x100001000
add %r2, %r3
join:
jeq %r2, 0, leak
mov %r0, 100
exit
leak:
mov %r0, %r10
exit
