# type: tool
# class: packet-bounded
# why: the check is written data_end < data + 8 (jlt) before an 8-byte read
# input: 1122334455667788
# r0: 0x8877665544332211
ldxdw %r2, [%r1+0]
ldxdw %r3, [%r1+8]
mov %r4, %r2
add %r4, 8
mov %r0, 0
jlt %r3, %r4, out
ldxdw %r0, [%r2+0]
out:
exit
