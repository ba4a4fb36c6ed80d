# type: tool
# class: leak-r0
# why: lock xchg with the slot holding a spilled r10 swaps the address into r3, which is returned
stxdw [%r10-8], %r10
mov %r3, 0
lock xchg [%r10-8], %r3
mov %r0, %r3
exit
