# type: tool
# class: partial-spill
# why: the upper 4 bytes of a spilled context pointer are zeroed with stw; the fill returns its low half
stxdw [%r10-16], %r1
stw [%r10-12], 0
ldxdw %r0, [%r10-16]
exit
