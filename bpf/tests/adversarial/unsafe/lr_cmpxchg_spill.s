# type: timer
# class: leak-r0
# why: lock cmpxchg on the slot holding a spilled r10 loads the old value (the address) into r0, which is returned
stxdw [%r10-8], %r10
mov %r0, 0
mov %r3, 0
lock cmpxchg [%r10-8], %r3
exit
