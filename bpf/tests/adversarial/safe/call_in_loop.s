# type: generic
# class: calls
# why: a 4-iteration loop calls a callee that doubles its argument; sum 0+2+4+6
# r0: 0xc
mov %r6, 0
mov %r7, 0
loop:
mov %r1, %r6
call local dbl
add %r7, %r0
add %r6, 1
jlt %r6, 4, loop
mov %r0, %r7
exit
dbl:
mov %r0, %r1
lsh %r0, 1
exit
