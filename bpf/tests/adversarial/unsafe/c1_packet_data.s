# type: tool
# class: null-after-arith
# why: packet data plus -(its address) is 0; the jeq-0 branch that is "never taken" for a packet pointer returns r10
ldxdw %r2, [%r1+0]
lddw %r3, -0x300000000
add %r2, %r3
jeq %r2, 0, leak
mov %r0, 0
exit
leak:
mov %r0, %r10
exit
