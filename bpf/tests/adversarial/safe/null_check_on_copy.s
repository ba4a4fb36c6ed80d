# type: decision
#map array key=4 value=16 max=4
# class: null-checked
# why: the null check is made on a copy (r7); arithmetic on the original afterwards stays inside the value
# ctx: class=0
# r0: 0x9
stw [%r10-4], 2
mov %r2, %r10
add %r2, -4
lddw %r1, map:0
call 1
mov %r7, %r0
jeq %r7, 0, out
add %r0, 8
stdw [%r0+0], 9
ldxdw %r0, [%r0+0]
exit
out:
mov %r0, 0
exit
