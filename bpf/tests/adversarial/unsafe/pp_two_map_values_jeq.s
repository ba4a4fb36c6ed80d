# type: decision
#map array key=4 value=8 max=4
#map array key=4 value=8 max=4
# class: ptr-ptr-compare
# why: values from two different maps compared with jgt: the result tells which map the allocator placed higher
stw [%r10-4], 0
mov %r2, %r10
add %r2, -4
lddw %r1, map:0
call 1
jeq %r0, 0, out
mov %r6, %r0
mov %r2, %r10
add %r2, -4
lddw %r1, map:1
call 1
jeq %r0, 0, out
mov %r7, %r0
mov %r0, 1
jgt %r6, %r7, out
mov %r0, 2
exit
out:
mov %r0, 0
exit
