# type: decision
# class: precision-ldxs
# why: stw [r10-8], -1 read back with ldxsw is exactly -1 (all ones), so jeq r3, -1 is always taken and the branch that would return r10 is dead
# ctx: class=0
# r0: 0xffffffffffffffff
stw [%r10-8], -1
ldxsw %r3, [%r10-8]
jeq %r3, -1, good
mov %r0, %r10
exit
good:
mov %r0, %r3
exit
