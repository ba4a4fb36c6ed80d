# type: decision
# hook: sched_slice
#map array key=4 value=16 max=4
# class: null-checked
# why: jne r0, 0 guards the value; the index nice & 7 is bounded to 0..7 inside a 16-byte value
# ctx: class=1,task=2,nice=13,runnable=1
# r0: 0x6
ldxdw %r7, [%r1+32]
stw [%r10-4], 1
mov %r2, %r10
add %r2, -4
lddw %r1, map:0
call 1
jne %r0, 0, found
mov %r0, 0
exit
found:
lddw %r3, 0x0807060504030201
stxdw [%r0+0], %r3
and %r7, 7
add %r0, %r7
ldxb %r0, [%r0+0]
exit
