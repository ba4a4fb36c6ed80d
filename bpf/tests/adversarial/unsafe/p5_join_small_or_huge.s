# type: tool
# class: packet-wrap
# why: the offset is 8 on one path and 0xfffffffd00000000 on the other; after the join data + off <= data_end proves nothing on the second (wrapping) path, yet 8 bytes are read
ldxdw %r6, [%r1+0]
ldxdw %r7, [%r1+8]
call 7
mov %r5, 8
jset %r0, 1, join
lddw %r5, 0xfffffffd00000000
join:
mov %r4, %r6
add %r4, %r5
jgt %r4, %r7, out
ldxdw %r0, [%r6+0]
exit
out:
mov %r0, 0
exit
