# type: decision
#map hash key=4 value=8 max=8
# class: null-checked
# why: key 7 is inserted with map_update_elem (key and value from initialised stack), looked up, null-checked and read
# ctx: class=0
# r0: 0x1234
stw [%r10-4], 7
stdw [%r10-16], 0x1234
mov %r2, %r10
add %r2, -4
mov %r3, %r10
add %r3, -16
mov %r4, 0
lddw %r1, map:0
call 2
mov %r2, %r10
add %r2, -4
lddw %r1, map:0
call 1
jeq %r0, 0, out
ldxdw %r0, [%r0+0]
exit
out:
mov %r0, 0
exit
