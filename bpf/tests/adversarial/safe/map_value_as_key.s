# type: decision
#map array key=4 value=4 max=4
#map array key=4 value=8 max=4
# class: null-checked
# why: a null-checked 4-byte value of map 0 (holding 2) is the key pointer of a lookup in map 1
# ctx: class=0
# r0: 0x77
stw [%r10-4], 0
mov %r2, %r10
add %r2, -4
lddw %r1, map:0
call 1
jeq %r0, 0, out
stw [%r0+0], 2
mov %r2, %r0
lddw %r1, map:1
call 1
jeq %r0, 0, out
stdw [%r0+0], 0x77
mov %r6, %r0
stw [%r10-8], 2
mov %r2, %r10
add %r2, -8
lddw %r1, map:1
call 1
jeq %r0, 0, out
ldxdw %r0, [%r0+0]
exit
out:
mov %r0, 0
exit
