# type: decision
#map array key=4 value=16 max=4
# class: null-checked
# why: the lookup is null-checked before any arithmetic; the value pointer then moves by +4 inside its 16 bytes
# ctx: class=0
# r0: 0x11223344
stw [%r10-4], 0
mov %r2, %r10
add %r2, -4
lddw %r1, map:0
call 1
jeq %r0, 0, out
mov %r6, %r0
lddw %r3, 0x1122334455667788
stxdw [%r6+0], %r3
add %r6, 4
ldxw %r0, [%r6+0]
exit
out:
mov %r0, 0
exit
