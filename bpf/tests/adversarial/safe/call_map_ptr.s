# type: decision
#map array key=4 value=8 max=4
# class: calls
# why: a null-checked map value is passed to a callee that reads it and returns a number
# ctx: class=0
# r0: 0x2a
stw [%r10-4], 1
mov %r2, %r10
add %r2, -4
lddw %r1, map:0
call 1
jeq %r0, 0, out
stdw [%r0+0], 41
mov %r1, %r0
call local inc
exit
out:
mov %r0, 0
exit
inc:
ldxdw %r0, [%r1+0]
add %r0, 1
exit
