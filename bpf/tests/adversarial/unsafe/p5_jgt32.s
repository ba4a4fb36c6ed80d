# type: tool
# class: packet-wrap
# why: a 32-bit compare of data + 16 with data_end looks at low halves only, which wrap independently of the packet length; 16 bytes are read without a 64-bit proof
ldxdw %r2, [%r1+0]
ldxdw %r3, [%r1+8]
mov %r4, %r2
add %r4, 16
jgt32 %r4, %r3, out
ldxdw %r0, [%r2+8]
exit
out:
mov %r0, 0
exit
