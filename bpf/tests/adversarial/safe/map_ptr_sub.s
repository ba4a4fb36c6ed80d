# type: decision
#map array key=4 value=8 max=4
# class: same-object-sub
# why: q = p + 6 and p point into the same value with known offsets; q - p is the constant 6
# ctx: class=0
# r0: 0x6
stw [%r10-4], 0
mov %r2, %r10
add %r2, -4
lddw %r1, map:0
call 1
jeq %r0, 0, out
mov %r3, %r0
add %r3, 6
sub %r3, %r0
mov %r0, %r3
exit
out:
mov %r0, 0
exit
