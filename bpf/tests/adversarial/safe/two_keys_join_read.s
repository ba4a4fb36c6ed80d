# type: decision
#map array key=4 value=8 max=4
# class: join
# why: two lookups under different keys meet at a join; only a plain load goes through the merged pointer, which is safe whichever value it is
# ctx: class=1
# r0: 0x7
ldxdw %r8, [%r1+16]
stw [%r10-4], 1
mov %r2, %r10
add %r2, -4
lddw %r1, map:0
call 1
jeq %r0, 0, out
mov %r6, %r0
stdw [%r6+0], 5
stw [%r10-4], 2
mov %r2, %r10
add %r2, -4
lddw %r1, map:0
call 1
jeq %r0, 0, out
mov %r7, %r0
stdw [%r7+0], 7
mov %r9, %r6
jeq %r8, 0, join
mov %r9, %r7
join:
ldxdw %r0, [%r9+0]
exit
out:
mov %r0, 0
exit
