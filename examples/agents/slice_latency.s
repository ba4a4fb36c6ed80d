# sched_slice policy favouring latency-sensitive tasks (the assembly twin of slice_latency.c):
# latency 500 us, sleepers 2000 us, CPU-bound 1000 us.
ldxdw %r2, [%r1+16]
mov %r0, 500
jeq %r2, 2, done
mov %r0, 2000
jeq %r2, 1, done
mov %r0, 1000
done:
exit
