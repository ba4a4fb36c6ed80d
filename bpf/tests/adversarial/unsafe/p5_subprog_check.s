# type: tool
# class: packet-wrap
# why: a callee receives data and data_end, checks data + 0xfffffffd00000000 <= data_end (a wrapping sum) and reads data[0x3000]
ldxdw %r2, [%r1+8]
ldxdw %r1, [%r1+0]
call local peek
exit
peek:
lddw %r5, 0xfffffffd00000000
mov %r4, %r1
add %r4, %r5
mov %r0, 0
jgt %r4, %r2, done
ldxb %r0, [%r1+0x3000]
done:
exit
