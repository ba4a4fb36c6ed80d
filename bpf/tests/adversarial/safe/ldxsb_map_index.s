# type: decision
#map array key=4 value=16 max=4
# class: precision-ldxs
# why: a one-byte constant 3 stored at r10 - 16 and read back with ldxsb indexes a 16-byte value; only the folded constant keeps the offset non-negative
# ctx: class=0
# r0: 0x4
stw [%r10-4], 0
stb [%r10-16], 3
mov %r2, %r10
add %r2, -4
lddw %r1, map:0
call 1
jeq %r0, 0, out
lddw %r4, 0x0807060504030201
stxdw [%r0+0], %r4
ldxsb %r3, [%r10-16]
add %r0, %r3
ldxb %r0, [%r0+0]
exit
out:
mov %r0, 0
exit
