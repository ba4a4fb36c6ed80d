# type: tool
# class: packet-wrap
# why: off = (random << 31) + 0x10000 ranges up to ~2^63 and wraps on kernel addresses; a range proof from it (minimum 64 KiB, above Linux's 0xffff cap) lets data[0x7fff] be read from a 4 KiB input
ldxdw %r6, [%r1+0]
ldxdw %r7, [%r1+8]
call 7
lsh %r0, 31
add %r0, 0x10000
mov %r4, %r6
add %r4, %r0
jgt %r4, %r7, out
ldxb %r0, [%r6+0x7fff]
exit
out:
mov %r0, 0
exit
