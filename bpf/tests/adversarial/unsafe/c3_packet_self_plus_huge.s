# type: tool
# class: address-compare
# why: data + 2^63 compared (signed) with data: the outcome is the top bit of the packet address
ldxdw %r2, [%r1+0]
mov %r3, %r2
lddw %r4, 0x8000000000000000
add %r3, %r4
mov %r0, 0
jsgt %r3, %r2, high
exit
high:
mov %r0, 1
exit
