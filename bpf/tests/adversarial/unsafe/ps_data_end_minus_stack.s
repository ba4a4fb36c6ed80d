# type: tool
# class: ptr-sub-objects
# why: data_end - (r10 - 8) subtracts a stack pointer from a packet-end pointer
ldxdw %r3, [%r1+8]
mov %r4, %r10
add %r4, -8
sub %r3, %r4
mov %r0, %r3
exit
