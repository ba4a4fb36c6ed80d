# type: tool
# class: address-compare
# why: after a join r2 is r10 - 8 or r10 + 2^63; comparing it with r10 reveals the top bit of the stack address on the second path
call 7
mov %r2, %r10
jset %r0, 1, big
add %r2, -8
ja join
big:
lddw %r3, 0x8000000000000000
add %r2, %r3
join:
mov %r0, 0
jsge %r2, %r10, ge
exit
ge:
mov %r0, 1
exit
