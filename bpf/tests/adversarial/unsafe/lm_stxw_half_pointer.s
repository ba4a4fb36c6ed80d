# type: decision
#map array key=4 value=8 max=4
# class: leak-map
# why: stxw stores the low half of r10 into a map value
stw [%r10-4], 0
mov %r2, %r10
add %r2, -4
lddw %r1, map:0
call 1
jeq %r0, 0, out
stxw [%r0+0], %r10
out:
mov %r0, 0
exit
