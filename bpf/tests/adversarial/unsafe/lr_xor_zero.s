# type: generic
# class: leak-r0
# why: the context pointer xor 0 is the address itself, returned in r0
mov %r0, %r1
xor %r0, 0
exit
