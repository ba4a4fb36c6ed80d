# type: tool
# class: ptr-const-compare
# why: the packet pointer compared with 0x7fffffff reveals whether the packet lies above 2 GiB
ldxdw %r2, [%r1+0]
mov %r0, 0
jsgt %r2, 0x7fffffff, high
exit
high:
mov %r0, 1
exit
