# type: tool
# class: packet-wrap
# why: jle data + 0xfffffffd00000000, data_end jumps to the read: the sum wraps (to 0 in the interpreter) so the "in range" branch is taken for any input and data[0x1000] is read
ldxdw %r2, [%r1+0]
ldxdw %r3, [%r1+8]
lddw %r5, 0xfffffffd00000000
mov %r4, %r2
add %r4, %r5
jle %r4, %r3, inrange
mov %r0, 0
exit
inrange:
ldxb %r0, [%r2+0x1000]
exit
