# type: decision
# class: null-after-arith
# why: a 32-bit compare of r10 - 4096 with 0 looks only at the low half, which is 0 at run time; the taken branch returns r10
mov %r2, %r10
add %r2, -4096
jeq32 %r2, 0, leak
mov %r0, 3
exit
leak:
mov %r0, %r10
exit
