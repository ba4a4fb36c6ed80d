# type: tool
# class: packet-wrap
# why: data_end - 2^63 wraps for interpreter addresses; data <= data_end - 2^63 is then true for any input and is read as a 2^63-byte range before data[0x5000] is read
ldxdw %r2, [%r1+0]
ldxdw %r3, [%r1+8]
lddw %r5, 0x8000000000000000
mov %r4, %r3
sub %r4, %r5
jgt %r2, %r4, out
ldxb %r0, [%r2+0x5000]
exit
out:
mov %r0, 0
exit
