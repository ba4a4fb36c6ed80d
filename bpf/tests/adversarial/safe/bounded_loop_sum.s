# type: generic
# class: bounded-loop
# why: a counter from 0 to 9 with a constant bound; sums 0..9
# r0: 0x2d
mov %r0, 0
mov %r1, 0
loop:
add %r0, %r1
add %r1, 1
jlt %r1, 10, loop
exit
