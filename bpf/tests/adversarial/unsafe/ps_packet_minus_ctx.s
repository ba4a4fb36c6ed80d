# type: tool
# class: ptr-sub-objects
# why: data - ctx: the packet and the context are different objects; the difference leaks their layout
ldxdw %r2, [%r1+0]
mov %r0, %r2
sub %r0, %r1
exit
