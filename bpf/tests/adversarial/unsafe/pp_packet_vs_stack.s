# type: tool
# class: ptr-ptr-compare
# why: data compared with r10 (jlt): only packet pointer vs data_end may be compared
ldxdw %r2, [%r1+0]
mov %r0, 0
jlt %r2, %r10, below
exit
below:
mov %r0, 1
exit
