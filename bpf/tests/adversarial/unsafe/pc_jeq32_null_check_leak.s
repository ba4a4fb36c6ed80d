# type: decision
#map array key=4 value=8 max=4
# class: ptr-const-compare
# why: jeq32 r0, 0 is not a null check: the key-0 value's address has a zero low half in the interpreter, so the "null" branch exits with the real map pointer in r0
stw [%r10-4], 0
mov %r2, %r10
add %r2, -4
lddw %r1, map:0
call 1
jeq32 %r0, 0, isnull
ldxdw %r0, [%r0+0]
exit
isnull:
exit
