# type: decision
#map array key=4 value=8 max=4
# class: pruning-identity
# why: r9 is the key-0 value on one path and the key-3 value on the other; merged, r9 - r6 is trusted as 0, but it is 24 on the second path and r6 + 2*24 writes past the map
ldxdw %r8, [%r1+16]
stw [%r10-4], 0
mov %r2, %r10
add %r2, -4
lddw %r1, map:0
call 1
jeq %r0, 0, out
mov %r6, %r0
stw [%r10-8], 3
mov %r2, %r10
add %r2, -8
lddw %r1, map:0
call 1
jeq %r0, 0, out
mov %r7, %r0
mov %r9, %r6
jeq %r8, 0, join
mov %r9, %r7
join:
mov %r1, %r9
sub %r1, %r6
mov %r2, %r6
add %r2, %r1
add %r2, %r1
stdw [%r2+0], 0x41
out:
mov %r0, 100
exit
