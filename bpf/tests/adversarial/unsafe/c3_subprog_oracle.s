# type: decision
# class: address-compare
# why: a callee answers "is the caller's r10 above this guess?" for a guess from the context: a bisection oracle for the stack address
ldxdw %r2, [%r1+24]
mov %r1, %r10
call local above
exit
above:
mov %r0, 0
jle %r1, %r2, no
mov %r0, 1
no:
exit
