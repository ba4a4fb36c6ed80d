# type: generic
# class: partial-spill
# why: main spills r10 - 32 and passes the slot's address to a callee that overwrites byte 2 of it; main then writes through the fill
mov %r2, %r10
add %r2, -32
stxdw [%r10-8], %r2
mov %r1, %r10
add %r1, -8
call local poke
ldxdw %r3, [%r10-8]
stdw [%r3+0], 0
mov %r0, 0
exit
poke:
stb [%r1+2], 0x40
mov %r0, 0
exit
