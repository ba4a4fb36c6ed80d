# type: tool
# class: packet-wrap
# why: p = data + (random << 16) may be up to 2^48 past data, which wraps on kernel addresses; p + 1 <= data_end then proves nothing and *p reads anywhere
ldxdw %r6, [%r1+0]
ldxdw %r7, [%r1+8]
call 7
lsh %r0, 16
mov %r4, %r6
add %r4, %r0
mov %r5, %r4
add %r5, 1
jgt %r5, %r7, out
ldxb %r0, [%r4+0]
exit
out:
mov %r0, 0
exit
