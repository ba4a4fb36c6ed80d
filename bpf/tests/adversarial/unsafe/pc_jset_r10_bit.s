# type: decision
# class: ptr-const-compare
# why: jset r10, 0x1000 tests bit 12 of the stack address and returns it
mov %r0, 0
jset %r10, 0x1000, one
exit
one:
mov %r0, 1
exit
