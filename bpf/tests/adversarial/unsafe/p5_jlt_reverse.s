# type: tool
# class: packet-wrap
# why: the check is written data_end < data + 2^63 (jlt); the addition wraps for kernel addresses, so the in-range branch proves nothing and reads data[0x4000]
ldxdw %r2, [%r1+0]
ldxdw %r3, [%r1+8]
lddw %r5, 0x8000000000000000
mov %r4, %r2
add %r4, %r5
jlt %r3, %r4, out
ldxw %r0, [%r2+0x4000]
exit
out:
mov %r0, 0
exit
