# type: decision
#map array key=4 value=8 max=4
# class: ptr-sub-objects
# why: d = ctx - value (different objects) is added twice to the value pointer: p + 2d = 2*ctx - p points nowhere valid
stw [%r10-4], 0
mov %r6, %r1
mov %r2, %r10
add %r2, -4
lddw %r1, map:0
call 1
jeq %r0, 0, out
mov %r3, %r6
sub %r3, %r0
add %r0, %r3
add %r0, %r3
ldxdw %r0, [%r0+0]
exit
out:
mov %r0, 0
exit
