# type: tool
#map array key=4 value=16 max=4
# class: pruning-identity
# why: a random bit picks the key-0 or key-1 value; after the join p - r6 (0 or 16) is trusted as 0 and read 8 bytes at r6 + 8*(p - r6), beyond the map
call 7
mov %r8, %r0
stw [%r10-4], 0
mov %r2, %r10
add %r2, -4
lddw %r1, map:0
call 1
jeq %r0, 0, out
mov %r6, %r0
stw [%r10-4], 1
mov %r2, %r10
add %r2, -4
lddw %r1, map:0
call 1
jeq %r0, 0, out
mov %r7, %r0
and %r8, 1
mov %r9, %r7
jeq %r8, 1, join
mov %r9, %r6
join:
mov %r3, %r9
sub %r3, %r6
lsh %r3, 3
mov %r2, %r6
add %r2, %r3
ldxdw %r0, [%r2+0]
exit
out:
mov %r0, 0
exit
