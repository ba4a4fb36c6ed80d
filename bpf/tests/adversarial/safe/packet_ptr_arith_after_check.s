# type: tool
# class: packet-bounded
# why: after data + 6 <= data_end is proven, p = data + 2 is read 4 bytes wide (bytes 2..5)
# input: 00001122334455
# r0: 0x44332211
ldxdw %r2, [%r1+0]
ldxdw %r3, [%r1+8]
mov %r4, %r2
add %r4, 6
mov %r0, 0
jgt %r4, %r3, out
add %r2, 2
ldxw %r0, [%r2+0]
out:
exit
