# type: decision
#map array key=4 value=8 max=4
# class: pruning-identity
# why: the chosen map value (key 0 or key 2) is spilled at the join and filled after it; fill - r6 is 0 or 16, trusted as 0, and r6 + 4*(fill - r6) writes past the map
ldxdw %r8, [%r1+32]
stw [%r10-4], 0
mov %r2, %r10
add %r2, -4
lddw %r1, map:0
call 1
jeq %r0, 0, out
mov %r6, %r0
stw [%r10-4], 2
mov %r2, %r10
add %r2, -4
lddw %r1, map:0
call 1
jeq %r0, 0, out
jgt %r8, 10, other
stxdw [%r10-16], %r6
ja join
other:
stxdw [%r10-16], %r0
join:
ldxdw %r3, [%r10-16]
sub %r3, %r6
lsh %r3, 2
mov %r2, %r6
add %r2, %r3
stdw [%r2+0], 0x42
out:
mov %r0, 100
exit
