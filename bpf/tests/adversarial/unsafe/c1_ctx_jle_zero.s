# type: decision
# class: null-after-arith
# why: jle ptr, 0 is the same test as jeq ptr, 0; the context pointer plus -(its address) is 0, so the branch that returns r10 runs
mov %r2, %r1
lddw %r3, -0x200000000
add %r2, %r3
jle %r2, 0, leak
mov %r0, 1
exit
leak:
mov %r0, %r10
exit
