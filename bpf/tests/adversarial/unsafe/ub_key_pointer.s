# type: decision
#map array key=4 value=8 max=4
# class: unbounded-scalar
# why: the key pointer is r10 - 4 plus an unbounded context field, so map_lookup_elem reads its key from anywhere in memory
stw [%r10-4], 0
ldxdw %r3, [%r1+24]
mov %r2, %r10
add %r2, -4
add %r2, %r3
lddw %r1, map:0
call 1
mov %r0, 0
exit
