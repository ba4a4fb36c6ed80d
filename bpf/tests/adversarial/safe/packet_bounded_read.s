# type: tool
# class: packet-bounded
# why: data + 4 <= data_end is proven before a 4-byte read at data
# input: 0102030405060708
# r0: 0x04030201
ldxdw %r2, [%r1+0]
ldxdw %r3, [%r1+8]
mov %r4, %r2
add %r4, 4
mov %r0, 0
jgt %r4, %r3, out
ldxw %r0, [%r2+0]
out:
exit
