# type: timer
# class: null-after-arith
# why: K = -(2^32) - 0x1000 built with mov/lsh/add (no lddw) makes r10 + K zero; the jeq-0 branch writes above the frame
mov %r3, -1
lsh %r3, 32
add %r3, -0x1000
mov %r2, %r10
add %r2, %r3
jeq %r2, 0, smash
mov %r0, 0
exit
smash:
stdw [%r10+16], 0
mov %r0, 0
exit
