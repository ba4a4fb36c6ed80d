# type: decision
# class: leak-r0
# why: lock fetch add of 0 on the slot holding a spilled r10 returns the pointer's bits in a register treated as a number
stxdw [%r10-8], %r10
mov %r3, 0
lock fetch add [%r10-8], %r3
mov %r0, %r3
exit
