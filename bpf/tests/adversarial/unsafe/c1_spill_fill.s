# type: decision
# class: null-after-arith
# why: the stack pointer plus K = -(stack address) goes through a spill and fill before jeq 0; the branch is live and returns r10
mov %r2, %r10
lddw %r3, -0x100001000
add %r2, %r3
stxdw [%r10-8], %r2
mov %r2, 0
ldxdw %r4, [%r10-8]
jeq %r4, 0, leak
mov %r0, 7
exit
leak:
mov %r0, %r10
exit
