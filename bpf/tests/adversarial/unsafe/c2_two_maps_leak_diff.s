# type: decision
#map array key=4 value=8 max=4
#map array key=4 value=8 max=4
# class: pruning-identity
# why: r9 comes from map 0 or map 1 depending on a context field; after the join r9 - r6 is the distance between two kernel objects and is returned
ldxdw %r8, [%r1+24]
stw [%r10-4], 0
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
mov %r7, %r0
mov %r9, %r6
jne %r8, 5, join
mov %r9, %r7
join:
mov %r0, %r9
sub %r0, %r6
exit
out:
mov %r0, 0
exit
