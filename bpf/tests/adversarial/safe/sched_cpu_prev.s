# type: decision
# hook: sched_cpu
# class: scalar-only
# why: returns prev_cpu + waker_cpu (fields 2 and 3 of the sched_cpu hook)
# ctx: class=1,task=4,prev_cpu=3,waker_cpu=2
# r0: 0x5
ldxdw %r0, [%r1+32]
ldxdw %r2, [%r1+40]
add %r0, %r2
exit
