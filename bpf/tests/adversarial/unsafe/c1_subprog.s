# type: decision
# class: null-after-arith
# why: a bpf-to-bpf callee adds K = -(caller's stack address) to the caller's r10 and tests it against 0; the taken branch returns the caller's r10 to main, which exits with it
mov %r1, %r10
call local f
exit
f:
mov %r2, %r1
lddw %r3, -0x100001000
add %r2, %r3
jne %r2, 0, normal
mov %r0, %r1
exit
normal:
mov %r0, 100
exit
