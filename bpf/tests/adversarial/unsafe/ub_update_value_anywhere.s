# type: decision
#map array key=4 value=8 max=4
# class: unbounded-scalar
# why: the value pointer given to map_update_elem is r10 - 16 minus an unbounded field: 8 bytes from anywhere are copied into the map (a read primitive)
stw [%r10-4], 0
stdw [%r10-16], 0
ldxdw %r6, [%r1+32]
mov %r3, %r10
add %r3, -16
sub %r3, %r6
mov %r2, %r10
add %r2, -4
mov %r4, 0
lddw %r1, map:0
call 2
mov %r0, 0
exit
