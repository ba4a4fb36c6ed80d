# type: decision
# class: address-compare
# why: r10 + 0xffffffff00000000 > r10 holds exactly when r10 < 2^32 (no wrap), so the return value is a bit of the stack address
mov %r2, %r10
lddw %r3, 0xffffffff00000000
add %r2, %r3
mov %r0, 0
jgt %r2, %r10, low
exit
low:
mov %r0, 1
exit
