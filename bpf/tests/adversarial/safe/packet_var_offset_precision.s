# type: tool
# class: precision-packet-var
# why: p = data + (data[0] & 7), then p + 1 <= data_end is checked before *(u8 *)p: the Linux idiom for a bounded variable packet offset
# input: 0210203040
# r0: 0x20
ldxdw %r2, [%r1+0]
ldxdw %r3, [%r1+8]
mov %r4, %r2
add %r4, 1
mov %r0, 0
jgt %r4, %r3, out
ldxb %r5, [%r2+0]
and %r5, 7
mov %r6, %r2
add %r6, %r5
mov %r7, %r6
add %r7, 1
jgt %r7, %r3, out
ldxb %r0, [%r6+0]
out:
exit
