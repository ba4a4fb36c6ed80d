# type: decision
# class: calls
# why: main passes a pointer to its own initialised stack slot to a callee that writes 42 through it
# ctx: class=0
# r0: 0x2a
stdw [%r10-8], 0
mov %r1, %r10
add %r1, -8
call local put
ldxdw %r0, [%r10-8]
exit
put:
stdw [%r1+0], 42
mov %r0, 0
exit
