# type: decision
# class: leak-r0
# why: be64 on a copy of r10 turns the address into a byte-swapped "number" that is returned
mov %r0, %r10
be64 %r0
exit
