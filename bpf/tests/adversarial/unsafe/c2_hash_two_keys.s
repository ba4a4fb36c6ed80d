# type: decision
#map hash key=4 value=8 max=8
# class: pruning-identity
# why: two hash values (keys 1 and 2) sit at unrelated slots; which one r9 holds depends on a context field, and r6 + 2*(r9 - r6) lands outside every value
ldxdw %r8, [%r1+16]
stw [%r10-4], 1
stdw [%r10-16], 0
mov %r2, %r10
add %r2, -4
mov %r3, %r10
add %r3, -16
mov %r4, 0
lddw %r1, map:0
call 2
stw [%r10-4], 2
mov %r2, %r10
add %r2, -4
mov %r3, %r10
add %r3, -16
mov %r4, 0
lddw %r1, map:0
call 2
stw [%r10-4], 1
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
mov %r9, %r0
jeq %r8, 0, join
mov %r9, %r6
join:
mov %r1, %r9
sub %r1, %r6
add %r9, %r1
stdw [%r9+0], 0x43
out:
mov %r0, 100
exit
