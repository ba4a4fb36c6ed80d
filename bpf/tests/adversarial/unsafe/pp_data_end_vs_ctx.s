# type: tool
# class: ptr-ptr-compare
# why: data_end compared with the context pointer (jge) reveals the layout of two different objects
ldxdw %r3, [%r1+8]
mov %r0, 0
jge %r3, %r1, ge
exit
ge:
mov %r0, 1
exit
