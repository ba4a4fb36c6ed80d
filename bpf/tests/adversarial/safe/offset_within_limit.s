# type: decision
#map array key=4 value=8 max=4
# class: null-checked
# why: a map value pointer moves +2^28 and back (within ±2^29) before an in-bounds read
# ctx: class=0
# r0: 0x5
stw [%r10-4], 0
mov %r2, %r10
add %r2, -4
lddw %r1, map:0
call 1
jeq %r0, 0, out
stdw [%r0+0], 5
add %r0, 0x10000000
sub %r0, 0x10000000
ldxdw %r0, [%r0+0]
exit
out:
mov %r0, 0
exit
