# type: tool
# class: packet-wrap
# why: data - 8 <= data_end always holds; read as an unsigned offset of 2^64 - 8 it would "prove" the whole address space, and 8 bytes are read from a possibly empty packet
ldxdw %r2, [%r1+0]
ldxdw %r3, [%r1+8]
mov %r4, %r2
add %r4, -8
jgt %r4, %r3, out
ldxdw %r0, [%r2+0]
exit
out:
mov %r0, 0
exit
