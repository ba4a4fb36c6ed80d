# type: timer
#map array key=4 value=8 max=2
#map hash key=4 value=8 max=2
# class: ptr-sub-objects
# why: an array value minus a hash value (different maps, no join involved) is returned
stw [%r10-4], 0
stdw [%r10-16], 0
mov %r2, %r10
add %r2, -4
mov %r3, %r10
add %r3, -16
mov %r4, 0
lddw %r1, map:1
call 2
mov %r2, %r10
add %r2, -4
lddw %r1, map:0
call 1
jeq %r0, 0, out
mov %r6, %r0
mov %r2, %r10
add %r2, -4
lddw %r1, map:1
call 1
jeq %r0, 0, out
sub %r6, %r0
mov %r0, %r6
exit
out:
mov %r0, 0
exit
