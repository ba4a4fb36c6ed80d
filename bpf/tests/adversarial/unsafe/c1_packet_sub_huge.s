# type: tool
# class: null-after-arith
# why: data - 0x300000000 (sub of an lddw constant) is 0 at run time; the jeq-0 branch returns r10
ldxdw %r2, [%r1+0]
lddw %r3, 0x300000000
sub %r2, %r3
jeq %r2, 0, leak
mov %r0, 0
exit
leak:
mov %r0, %r10
exit
