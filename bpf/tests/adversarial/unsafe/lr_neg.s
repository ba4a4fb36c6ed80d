# type: decision
# class: leak-r0
# why: neg on a copy of r10 gives -address, returned in r0
mov %r0, %r10
neg %r0
exit
