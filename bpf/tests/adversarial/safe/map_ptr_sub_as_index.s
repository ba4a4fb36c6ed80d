# type: decision
#map array key=4 value=8 max=4
# class: same-object-sub
# why: d = (p + 6) - p is the constant 6, so p + d is a valid byte of the same 8-byte value
# ctx: class=0
# r0: 0x7
stw [%r10-4], 3
mov %r2, %r10
add %r2, -4
lddw %r1, map:0
call 1
jeq %r0, 0, out
lddw %r4, 0x0807060504030201
stxdw [%r0+0], %r4
mov %r3, %r0
add %r3, 6
sub %r3, %r0
add %r0, %r3
ldxb %r0, [%r0+0]
exit
out:
mov %r0, 0
exit
