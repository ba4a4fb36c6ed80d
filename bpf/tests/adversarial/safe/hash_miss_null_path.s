# type: timer
#map hash key=4 value=8 max=4
# class: null-checked
# why: a lookup of a missing key returns NULL; jne r0, 0 sends the non-null case to the read and the NULL case returns a constant
# ctx: cpu=0,period_ms=10,now_ns=0,runs=0
# r0: 0xdead
stw [%r10-4], 3
mov %r2, %r10
add %r2, -4
lddw %r1, map:0
call 1
jne %r0, 0, hit
mov %r0, 0xdead
exit
hit:
ldxdw %r0, [%r0+0]
exit
