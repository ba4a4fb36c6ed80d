# type: conformance
# mem: 00
# class: offset-range
# why: three adds move r10 by exactly 2^32; an offset kept in 32 bits wraps to 0 and the store lands 4 GiB above the stack
mov %r2, %r10
add %r2, 0x7fffffff
add %r2, 0x7fffffff
add %r2, 2
stdw [%r2-8], 0
mov %r0, 0
exit
