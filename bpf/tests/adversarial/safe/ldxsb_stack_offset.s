# type: conformance
# mem: 00
# class: precision-ldxs
# why: stb [r10-8], -8 then ldxsb gives exactly -8; r10 - 16 + (-8) = r10 - 24 is a known stack slot (an unfolded -128..127 would not be)
# r0: 0x63
stb [%r10-8], -8
ldxsb %r3, [%r10-8]
mov %r2, %r10
add %r2, -16
add %r2, %r3
stdw [%r2+0], 99
ldxdw %r0, [%r10-24]
exit
