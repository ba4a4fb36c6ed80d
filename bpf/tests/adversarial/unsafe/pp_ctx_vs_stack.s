# type: decision
# class: ptr-ptr-compare
# why: jgt ctx, r10 compares two unrelated pointers and returns which is higher
mov %r0, 0
jgt %r1, %r10, above
exit
above:
mov %r0, 1
exit
