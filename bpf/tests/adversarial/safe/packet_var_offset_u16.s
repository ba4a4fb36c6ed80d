# type: tool
# class: precision-packet-var
# why: p = data + (data[0] & 0x3f) with p + 2 <= data_end checked (written jle, taken to the read) before a 2-byte load at p
# input: 0500112233445566
# r0: 0x5544
ldxdw %r2, [%r1+0]
ldxdw %r3, [%r1+8]
mov %r4, %r2
add %r4, 1
mov %r0, 0
jgt %r4, %r3, out
ldxb %r5, [%r2+0]
and %r5, 0x3f
add %r2, %r5
mov %r7, %r2
add %r7, 2
jle %r7, %r3, read
out:
exit
read:
ldxh %r0, [%r2+0]
exit
