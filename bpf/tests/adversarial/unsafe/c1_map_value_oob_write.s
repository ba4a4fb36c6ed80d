# type: decision
#map array key=4 value=8 max=4
# class: null-after-arith
# why: a null-checked map value plus K = -(its address) is 0, so the "dead" branch runs and writes 4 KiB past the 8-byte value
stw [%r10-4], 0
mov %r2, %r10
add %r2, -4
lddw %r1, map:0
call 1
jeq %r0, 0, out
mov %r6, %r0
lddw %r3, -0x10000000000
add %r6, %r3
jeq %r6, 0, smash
out:
mov %r0, 100
exit
smash:
stdw [%r0+0x1000], 0x41
mov %r0, 100
exit
