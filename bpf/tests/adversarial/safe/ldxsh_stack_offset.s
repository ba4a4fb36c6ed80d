# type: timer
# class: precision-ldxs
# why: sth [r10-24], -32 then ldxsh gives exactly -32, so r10 + r3 is the known slot r10 - 32
# ctx: cpu=0,period_ms=1,now_ns=0,runs=0
# r0: 0x5
sth [%r10-24], -32
ldxsh %r3, [%r10-24]
mov %r2, %r10
add %r2, %r3
stdw [%r2+0], 5
ldxdw %r0, [%r10-32]
exit
