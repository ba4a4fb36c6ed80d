# type: decision
#map array key=4 value=8 max=4
# class: offset-range
# why: four adds of 2^30 move a map value pointer by exactly 2^32; each step past ±2^29 must be refused, or a 32-bit offset wraps to 0 and the read lands 4 GiB away
stw [%r10-4], 0
mov %r2, %r10
add %r2, -4
lddw %r1, map:0
call 1
jeq %r0, 0, out
add %r0, 0x40000000
add %r0, 0x40000000
add %r0, 0x40000000
add %r0, 0x40000000
ldxdw %r0, [%r0+0]
exit
out:
mov %r0, 0
exit
