# type: decision
#map array key=4 value=8 max=1
# class: address-compare
# why: a 64-step loop tests r10 - candidate > r10 (true exactly when the subtraction wraps) for each bit from 63 down, rebuilding r10 bit by bit in a map value, which is returned
stw [%r10-4], 0
mov %r2, %r10
add %r2, -4
lddw %r1, map:0
call 1
jeq %r0, 0, out
mov %r6, %r0
stdw [%r6+0], 0
mov %r7, 63
loop:
ldxdw %r8, [%r6+0]
mov %r5, 1
lsh %r5, %r7
or %r5, %r8
mov %r2, %r10
sub %r2, %r5
jgt %r2, %r10, skip
stxdw [%r6+0], %r5
skip:
sub %r7, 1
jsge %r7, 0, loop
ldxdw %r0, [%r6+0]
exit
out:
mov %r0, 0
exit
