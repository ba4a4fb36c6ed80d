# type: decision
#map array key=4 value=8 max=4
# class: ptr-sub-objects
# why: a map value minus r10 subtracts pointers into different objects and returns the distance
stw [%r10-4], 0
mov %r2, %r10
add %r2, -4
lddw %r1, map:0
call 1
jeq %r0, 0, out
sub %r0, %r10
exit
out:
mov %r0, 0
exit
