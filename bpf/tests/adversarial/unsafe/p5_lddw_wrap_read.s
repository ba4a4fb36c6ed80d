# type: tool
# class: packet-wrap
# why: data + 0xfffffffd00000000 wraps (to 0 in the interpreter) and passes "<= data_end"; no packet range follows from it, yet data[0x7f00] is read
ldxdw %r2, [%r1+0]
ldxdw %r3, [%r1+8]
lddw %r5, 0xfffffffd00000000
mov %r4, %r2
add %r4, %r5
jgt %r4, %r3, out
ldxdw %r0, [%r2+0x7f00]
exit
out:
mov %r0, 0
exit
