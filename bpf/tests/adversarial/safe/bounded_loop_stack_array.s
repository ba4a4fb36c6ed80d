# type: timer
# class: bounded-loop
# why: a loop of 8 writes i*i into a stack array at r10 - 64 + 8i (offset known each iteration), then reads element 3
# ctx: cpu=0,period_ms=10,now_ns=0,runs=0
# r0: 0x9
mov %r6, 0
loop:
mov %r3, %r6
mul %r3, %r6
mov %r2, %r6
lsh %r2, 3
add %r2, %r10
stxdw [%r2-64], %r3
add %r6, 1
jlt %r6, 8, loop
ldxdw %r0, [%r10-40]
exit
