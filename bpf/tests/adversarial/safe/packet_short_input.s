# type: tool
# class: packet-bounded
# why: the same bounded read with a 1-byte input takes the out path
# input: 01
# r0: 0xffff
ldxdw %r2, [%r1+0]
ldxdw %r3, [%r1+8]
mov %r4, %r2
add %r4, 4
mov %r0, 0xffff
jgt %r4, %r3, out
ldxw %r0, [%r2+0]
out:
exit
