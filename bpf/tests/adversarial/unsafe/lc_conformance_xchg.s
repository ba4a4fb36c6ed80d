# type: conformance
# mem: 0000000000000000
# class: leak-ctx
# why: lock xchg writes r10 into the (writable) conformance buffer, which the caller reads back
mov %r3, %r10
lock xchg [%r1+0], %r3
mov %r0, 0
exit
