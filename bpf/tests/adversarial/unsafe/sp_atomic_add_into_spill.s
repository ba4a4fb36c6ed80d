# type: decision
#map array key=4 value=8 max=4
# class: partial-spill
# why: lock add of 0x1000 into the slot holding a spilled map value moves the pointer 4 KiB past the value; the fill is then written through
stw [%r10-4], 0
mov %r2, %r10
add %r2, -4
lddw %r1, map:0
call 1
jeq %r0, 0, out
stxdw [%r10-16], %r0
mov %r3, 0x1000
lock add [%r10-16], %r3
ldxdw %r4, [%r10-16]
stdw [%r4+0], 0x45
out:
mov %r0, 0
exit
