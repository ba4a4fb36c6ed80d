# type: timer
#map array key=4 value=8 max=1
# class: null-checked
# why: atomic adds of a number into a null-checked map value, then a read
# ctx: cpu=0,period_ms=10,now_ns=0,runs=0
# r0: 0x2
stw [%r10-4], 0
mov %r2, %r10
add %r2, -4
lddw %r1, map:0
call 1
jeq %r0, 0, out
mov %r3, 1
lock add [%r0+0], %r3
lock add [%r0+0], %r3
ldxdw %r0, [%r0+0]
exit
out:
mov %r0, 0
exit
