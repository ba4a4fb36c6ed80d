# type: timer
# class: ptr-const-compare
# why: r10 compared with a constant held in a register (0x100000800): the branch reveals where the stack is
lddw %r3, 0x100000800
mov %r0, 0
jgt %r10, %r3, above
exit
above:
mov %r0, 1
exit
