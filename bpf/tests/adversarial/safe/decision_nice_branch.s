# type: decision
# hook: sched_slice
# class: scalar-only
# why: reads the nice field and picks a slice; no pointer leaves its region
# ctx: class=0,task=9,nice=15,runnable=2
# r0: 0x1f4
ldxdw %r2, [%r1+32]
mov %r0, 5000
jle %r2, 10, done
mov %r0, 500
done:
exit
