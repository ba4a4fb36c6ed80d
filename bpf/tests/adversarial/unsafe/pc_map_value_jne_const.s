# type: decision
#map array key=4 value=8 max=4
# class: ptr-const-compare
# why: a null-checked map value compared with 8 (jne) leaks whether the value sits at address 8: pointer vs non-zero constant
stw [%r10-4], 0
mov %r2, %r10
add %r2, -4
lddw %r1, map:0
call 1
jeq %r0, 0, out
mov %r6, %r0
mov %r0, 1
jne %r6, 8, out
mov %r0, 2
out:
exit
