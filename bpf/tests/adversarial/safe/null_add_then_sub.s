# type: timer
#map array key=4 value=16 max=1
# class: null-checked
# why: after the null check the pointer moves +12 then -8 (net +4), all small constant offsets inside the value
# ctx: cpu=0,period_ms=10,now_ns=5,runs=1
# r0: 0x55
stw [%r10-4], 0
mov %r2, %r10
add %r2, -4
lddw %r1, map:0
call 1
jeq %r0, 0, out
add %r0, 12
sub %r0, 8
stw [%r0+0], 0x55
ldxw %r0, [%r0+0]
exit
out:
mov %r0, 0
exit
