# type: decision
#map hash key=4 value=8 max=4
# class: ptr-const-compare
# why: a maybe-null hash value compared with 1 (not 0): the taken branch of jne r0, 1 still includes NULL, and it is dereferenced there
stw [%r10-4], 9
mov %r2, %r10
add %r2, -4
lddw %r1, map:0
call 1
jne %r0, 1, use
mov %r0, 0
exit
use:
ldxdw %r0, [%r0+0]
exit
