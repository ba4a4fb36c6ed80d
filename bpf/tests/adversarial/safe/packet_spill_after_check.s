# type: tool
# class: spill-fill
# why: data is spilled and filled after a 2-byte range check; the fill keeps the proven range
# input: abcd
# r0: 0xcdab
ldxdw %r2, [%r1+0]
ldxdw %r3, [%r1+8]
mov %r4, %r2
add %r4, 2
mov %r0, 0
jgt %r4, %r3, out
stxdw [%r10-8], %r2
mov %r2, 0
ldxdw %r5, [%r10-8]
ldxh %r0, [%r5+0]
out:
exit
