# type: timer
#map array key=4 value=8 max=4
# class: partial-spill
# why: the low half of a spilled map value is overwritten with 0x1000 by stw; the fill is read through at a corrupted address
stw [%r10-4], 0
mov %r2, %r10
add %r2, -4
lddw %r1, map:0
call 1
jeq %r0, 0, out
stxdw [%r10-16], %r0
stw [%r10-16], 0x1000
ldxdw %r4, [%r10-16]
ldxdw %r0, [%r4+0]
exit
out:
mov %r0, 0
exit
