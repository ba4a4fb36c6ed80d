# type: timer
#map array key=4 value=8 max=4
# class: pruning-identity
# why: r9 is the key-3 or the key-0 value of one map; merged, r9 - r6 is trusted as 0, but on one path it is 24, and (24 << 32) + 1 becomes the count of a loop on a hot path
ldxdw %r8, [%r1+16]
stw [%r10-4], 0
mov %r2, %r10
add %r2, -4
lddw %r1, map:0
call 1
jeq %r0, 0, out
mov %r6, %r0
stw [%r10-4], 3
mov %r2, %r10
add %r2, -4
lddw %r1, map:0
call 1
jeq %r0, 0, out
mov %r9, %r0
jlt %r8, 3, join
mov %r9, %r6
join:
sub %r9, %r6
lsh %r9, 32
add %r9, 1
mov %r0, 0
loop:
add %r0, 1
sub %r9, 1
jne %r9, 0, loop
exit
out:
mov %r0, 0
exit
