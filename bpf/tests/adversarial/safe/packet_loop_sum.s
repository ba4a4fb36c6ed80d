# type: tool
# class: bounded-loop
# why: at most 8 iterations, each re-checking data + i + 1 <= data_end before reading data[i]
# input: 0102030405
# r0: 0xf
ldxdw %r2, [%r1+0]
ldxdw %r3, [%r1+8]
mov %r0, 0
mov %r6, 0
loop:
mov %r4, %r2
add %r4, %r6
mov %r5, %r4
add %r5, 1
jgt %r5, %r3, done
ldxb %r7, [%r4+0]
add %r0, %r7
add %r6, 1
jlt %r6, 8, loop
done:
exit
