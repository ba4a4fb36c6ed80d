# type: decision
# class: leak-r0
# why: a callee returns the caller's r10 it was given in r1, and main exits with it in r0
mov %r1, %r10
call local id
exit
id:
mov %r0, %r1
exit
