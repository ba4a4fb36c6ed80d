# type: generic
# class: offset-range
# why: main passes r10 + 2^32 to a callee that writes at [r1-8]; the offset is beyond ±2^29 and the store misses the stack by 4 GiB
lddw %r1, 0x100000000
add %r1, %r10
call local poke
mov %r0, 0
exit
poke:
stdw [%r1-8], 1
mov %r0, 0
exit
