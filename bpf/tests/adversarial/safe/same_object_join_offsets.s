# type: decision
#map array key=4 value=8 max=4
# class: join
# why: the same value pointer reaches a join at offset 0 or 4; a 4-byte load is inside the 8-byte value either way
# ctx: class=2
# r0: 0xaabbccdd
ldxdw %r8, [%r1+16]
stw [%r10-4], 0
mov %r2, %r10
add %r2, -4
lddw %r1, map:0
call 1
jeq %r0, 0, out
lddw %r3, 0xaabbccdd11223344
stxdw [%r0+0], %r3
mov %r9, %r0
jlt %r8, 2, join
add %r9, 4
join:
ldxw %r0, [%r9+0]
exit
out:
mov %r0, 0
exit
