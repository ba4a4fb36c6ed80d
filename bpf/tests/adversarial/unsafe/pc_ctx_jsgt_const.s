# type: decision
# class: ptr-const-compare
# why: the context pointer compared with a non-zero constant (jsgt ctx, 0x7fffffff) leaks a bit of its address
mov %r0, 0
jsgt %r1, 0x7fffffff, big
exit
big:
mov %r0, 1
exit
