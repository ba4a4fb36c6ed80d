# type: conformance
# mem: 0000000000000000
# class: leak-ctx
# why: lock cmpxchg with r10 as the new value stores the stack address into the buffer
mov %r0, 0
lock cmpxchg [%r1+0], %r10
mov %r0, 0
exit
