# type: decision
#map array key=4 value=8 max=4
# class: leak-map
# why: lock xchg stores r10 into a map value, where user space can read it
stw [%r10-4], 0
mov %r2, %r10
add %r2, -4
lddw %r1, map:0
call 1
jeq %r0, 0, out
mov %r3, %r10
lock xchg [%r0+0], %r3
out:
mov %r0, 0
exit
