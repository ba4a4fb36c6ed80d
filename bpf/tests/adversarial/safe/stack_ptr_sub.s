# type: conformance
# mem: 0000000000000000
# class: same-object-sub
# why: two stack pointers with known offsets (-8 and -24) are subtracted: the result is the constant 16
# r0: 0x10
mov %r2, %r10
add %r2, -8
mov %r3, %r10
add %r3, -24
mov %r0, %r2
sub %r0, %r3
exit
