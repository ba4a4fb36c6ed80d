# type: timer
# class: leak-stack
# why: a sign-extending 4-byte load of the upper half of a spilled context pointer returns address bits
stxdw [%r10-8], %r1
ldxsw %r0, [%r10-4]
exit
