# type: timer
# class: alu32-pointer
# why: mov32 r2, r2 on a copy of the context pointer truncates it to a number, which is returned
mov %r2, %r1
mov32 %r2, %r2
mov %r0, %r2
exit
