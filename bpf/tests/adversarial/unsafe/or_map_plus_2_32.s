# type: decision
#map array key=4 value=8 max=4
# class: offset-range
# why: a null-checked map value plus 2^32 (lddw) is read at offset 0; the pointer is 4 GiB past the value
stw [%r10-4], 0
mov %r2, %r10
add %r2, -4
lddw %r1, map:0
call 1
jeq %r0, 0, out
lddw %r3, 0x100000000
add %r0, %r3
ldxdw %r0, [%r0+0]
exit
out:
mov %r0, 0
exit
