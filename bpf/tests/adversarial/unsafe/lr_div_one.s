# type: conformance
# mem: 00000000
# class: leak-r0
# why: the buffer pointer divided by 1 is the address itself, returned in r0
mov %r0, %r1
div %r0, 1
exit
