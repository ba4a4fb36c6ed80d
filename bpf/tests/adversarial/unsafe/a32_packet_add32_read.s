# type: tool
# class: alu32-pointer
# why: add32 on a packet pointer after a 4-byte range check: the result is a truncated address, yet it is read through as if still data
ldxdw %r2, [%r1+0]
ldxdw %r3, [%r1+8]
mov %r4, %r2
add %r4, 4
mov %r0, 0
jgt %r4, %r3, out
add32 %r2, 0
ldxw %r0, [%r2+0]
out:
exit
