# type: decision
# class: leak-stack
# why: main spills r10 and passes a pointer to the slot; the callee reads it with ldxw (half a pointer) and returns it
stxdw [%r10-8], %r10
mov %r1, %r10
add %r1, -8
call local rd
exit
rd:
ldxw %r0, [%r1+0]
exit
