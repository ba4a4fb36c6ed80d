# type: decision
#map array key=4 value=8 max=4
# class: pruning-identity
# why: a callee returns whichever of two map values (key 0, key 3) its third argument picks; the caller trusts r0 - r6 as 0 and writes at r6 + 2*(r0 - r6), past the map
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
mov %r1, %r0
mov %r2, %r6
mov %r3, %r8
call local pick
sub %r0, %r6
mov %r2, %r6
add %r2, %r0
add %r2, %r0
stdw [%r2+0], 0x44
out:
mov %r0, 100
exit
pick:
mov %r0, %r1
jeq %r3, 0, done
mov %r0, %r2
done:
exit
