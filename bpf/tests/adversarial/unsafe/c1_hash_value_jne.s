# type: decision
#map hash key=4 value=8 max=8
# class: null-after-arith
# why: a null-checked hash value plus a huge constant may be 0; the fall-through of jne r6, 0 is live and leaks r10
stw [%r10-4], 1
stdw [%r10-16], 0
mov %r2, %r10
add %r2, -4
mov %r3, %r10
add %r3, -16
mov %r4, 0
lddw %r1, map:0
call 2
mov %r2, %r10
add %r2, -4
lddw %r1, map:0
call 1
jeq %r0, 0, out
mov %r6, %r0
lddw %r3, 0xffffff0000000000
add %r6, %r3
jne %r6, 0, out
mov %r0, %r10
exit
out:
mov %r0, 100
exit
