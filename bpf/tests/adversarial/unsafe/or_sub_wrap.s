# type: timer
# class: offset-range
# why: r10 - 0x7fffffff - 0x7fffffff - 2 is r10 - 2^32; a 32-bit offset wraps to 0 and the store lands 4 GiB below the stack
mov %r2, %r10
sub %r2, 0x7fffffff
sub %r2, 0x7fffffff
sub %r2, 2
stdw [%r2-16], 0
mov %r0, 0
exit
