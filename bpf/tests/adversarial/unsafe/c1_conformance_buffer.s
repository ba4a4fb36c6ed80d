# type: conformance
# mem: 0000000000000000
# class: null-after-arith
# why: the buffer pointer plus -(its address) is 0, so the fall-through of jne r3, 0 runs and returns r10
mov %r3, %r1
lddw %r4, -0x200000000
add %r3, %r4
jne %r3, 0, ok
mov %r0, %r10
exit
ok:
mov %r0, 0
exit
