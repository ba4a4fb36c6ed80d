# type: decision
#map array key=4 value=8 max=4
# class: pruning-identity
# why: as c2_same_map_two_keys_oob with the paths swapped (the jump path carries the other lookup), so whichever order paths are explored one of them is pruned against the other
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
mov %r9, %r7
jeq %r8, 0, join
mov %r9, %r6
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
