# type: timer
# class: spill-fill
# why: the context pointer is spilled across get_prandom_u32 and filled to read period_ms
# ctx: cpu=1,period_ms=250,now_ns=7,runs=3
# r0: 0xfa
stxdw [%r10-8], %r1
call 7
ldxdw %r1, [%r10-8]
ldxw %r0, [%r1+4]
exit
