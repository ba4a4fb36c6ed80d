# type: decision
#map array key=4 value=8 max=4
# class: leak-map
# why: map_update_elem copies its value from the stack slot holding a spilled r10, writing the address into the map
stw [%r10-4], 0
stxdw [%r10-16], %r10
mov %r2, %r10
add %r2, -4
mov %r3, %r10
add %r3, -16
mov %r4, 0
lddw %r1, map:0
call 2
mov %r0, 0
exit
