# type: decision
# class: alu32-pointer
# why: add32 on a copy of r10 keeps the low 32 bits of the address as a number, which is returned
mov %r2, %r10
add32 %r2, 0
mov %r0, %r2
exit
