# type: timer
#map array key=4 value=8 max=4
# class: leak-map
# why: lock cmpxchg with r10 as the new value writes the stack address into a (zeroed) map value
stw [%r10-4], 0
mov %r2, %r10
add %r2, -4
lddw %r1, map:0
call 1
jeq %r0, 0, out
mov %r6, %r0
mov %r0, 0
lock cmpxchg [%r6+0], %r10
out:
mov %r0, 0
exit
