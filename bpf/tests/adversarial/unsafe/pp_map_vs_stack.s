# type: decision
#map array key=4 value=8 max=4
# class: ptr-ptr-compare
# why: a map value compared (jslt) with r10: the order of the map and the stack leaks
stw [%r10-4], 0
mov %r2, %r10
add %r2, -4
lddw %r1, map:0
call 1
jeq %r0, 0, out
mov %r6, %r0
mov %r0, 1
jslt %r6, %r10, out
mov %r0, 2
out:
exit
