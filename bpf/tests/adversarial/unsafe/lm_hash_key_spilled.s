# type: tool
#map hash key=8 value=8 max=4
# class: leak-map
# why: a hash map key is taken from the slot holding the spilled context pointer; the key (an address) is stored in the map for user space to list
stxdw [%r10-8], %r1
stdw [%r10-16], 1
mov %r2, %r10
add %r2, -8
mov %r3, %r10
add %r3, -16
mov %r4, 0
lddw %r1, map:0
call 2
mov %r0, 0
exit
