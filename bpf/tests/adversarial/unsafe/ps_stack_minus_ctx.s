# type: decision
# class: ptr-sub-objects
# why: r10 - r1 is the distance between the stack and the context, two different objects: a kernel layout leak
mov %r0, %r10
sub %r0, %r1
exit
