# type: decision
#map array key=4 value=8 max=4
# class: spill-fill
# why: a null-checked map value is spilled across a helper call (which clobbers r0-r5) and filled before use
# ctx: class=0
# r0: 0x3
stw [%r10-4], 0
mov %r2, %r10
add %r2, -4
lddw %r1, map:0
call 1
jeq %r0, 0, out
stxdw [%r10-16], %r0
call 5
ldxdw %r6, [%r10-16]
stdw [%r6+0], 3
ldxdw %r0, [%r6+0]
exit
out:
mov %r0, 0
exit
