# type: decision
#map array key=4 value=8 max=4
# class: leak-map
# why: r10 is spilled at -16 next to a number at -8; a variable-offset load picks one of the two slots as "data" and stores it into the map
stw [%r10-4], 0
stxdw [%r10-16], %r10
ldxdw %r6, [%r1+16]
and %r6, 8
mov %r2, %r10
add %r2, -4
lddw %r1, map:0
call 1
jeq %r0, 0, out
stdw [%r10-8], 5
mov %r3, %r10
add %r3, %r6
ldxdw %r4, [%r3-16]
stxdw [%r0+0], %r4
out:
mov %r0, 0
exit
