# type: decision
#map array key=4 value=8 max=4
# class: alu32-pointer
# why: sub32 on a null-checked map value truncates the pointer; the low half of the map address is returned
stw [%r10-4], 0
mov %r2, %r10
add %r2, -4
lddw %r1, map:0
call 1
jeq %r0, 0, out
sub32 %r0, 0
exit
out:
mov %r0, 0
exit
