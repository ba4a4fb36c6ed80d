# type: conformance
# mem: 0000000000000000
# class: leak-ctx
# why: stxb stores the low byte of r10 into the buffer; stxh the next two: partial pointer stores
stxb [%r1+0], %r10
mov %r3, %r10
rsh %r3, 8
stxh [%r1+1], %r3
mov %r0, 0
exit
