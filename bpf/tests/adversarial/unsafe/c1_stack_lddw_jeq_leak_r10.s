# type: decision
# hook: sched_slice
# class: null-after-arith
# why: r2 = r10 + K with K = -(stack address) from lddw is 0 at run time, so the "never taken" jeq-0 branch runs and returns r10
mov %r2, %r10
lddw %r3, -0x100001000
add %r2, %r3
jeq %r2, 0, leak
mov %r0, 100
exit
leak:
mov %r0, %r10
exit
