# type: tool
# class: packet-wrap
# why: the wrapped check data + 0xfffffffd00000000 <= data_end is made, then data goes through a spill and fill before data[0x2000] is read
ldxdw %r2, [%r1+0]
ldxdw %r3, [%r1+8]
lddw %r5, 0xfffffffd00000000
mov %r4, %r2
add %r4, %r5
jgt %r4, %r3, out
stxdw [%r10-8], %r2
mov %r2, 0
ldxdw %r6, [%r10-8]
ldxh %r0, [%r6+0x2000]
exit
out:
mov %r0, 0
exit
