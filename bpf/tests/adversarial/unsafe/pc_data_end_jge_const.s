# type: tool
# class: ptr-const-compare
# why: data_end compared with 0x1000 (jge) leaks a bit of the packet's address
ldxdw %r3, [%r1+8]
mov %r0, 0
jge %r3, 0x1000, high
exit
high:
mov %r0, 1
exit
