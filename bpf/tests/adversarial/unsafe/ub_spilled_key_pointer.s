# type: timer
#map hash key=8 value=8 max=4
# class: unbounded-scalar
# why: r10 - 8 plus the unbounded runs field is spilled and filled, then used as the key of map_delete_elem, which reads 8 bytes there
stdw [%r10-8], 0
ldxdw %r3, [%r1+16]
mov %r2, %r10
add %r2, -8
add %r2, %r3
stxdw [%r10-16], %r2
ldxdw %r2, [%r10-16]
lddw %r1, map:0
call 3
mov %r0, 0
exit
