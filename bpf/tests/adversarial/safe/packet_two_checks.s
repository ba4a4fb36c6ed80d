# type: tool
# class: packet-bounded
# why: a 1-byte check then a 4-byte check, each followed only by reads they cover
# input: 0a000000
# r0: 0x14
ldxdw %r2, [%r1+0]
ldxdw %r3, [%r1+8]
mov %r0, 0
mov %r4, %r2
add %r4, 1
jgt %r4, %r3, out
ldxb %r6, [%r2+0]
mov %r4, %r2
add %r4, 4
jgt %r4, %r3, out
ldxw %r0, [%r2+0]
add %r0, %r6
out:
exit
