# type: generic
# mem: 00000000000000000807060504030201
# class: scalar-only
# why: reads the second 8-byte word of a read-only 16-byte context
# r0: 0x0102030405060708
ldxdw %r0, [%r1+8]
exit
