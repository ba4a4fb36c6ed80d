# type: generic
# class: precision-ldxs
# why: stb [r10-8], 0x80 read with ldxsb is exactly -128; adding 128 gives 0, used as an offset from r10 - 8
# r0: 0x11
stb [%r10-8], 0x80
ldxsb %r3, [%r10-8]
add %r3, 128
mov %r2, %r10
add %r2, -16
add %r2, %r3
stdw [%r2+0], 17
ldxdw %r0, [%r10-16]
exit
