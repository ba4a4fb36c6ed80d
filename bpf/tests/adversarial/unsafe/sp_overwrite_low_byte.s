# type: decision
# class: partial-spill
# why: a spilled r10 gets its low byte overwritten with stb; the fill returns the other seven address bytes
stxdw [%r10-8], %r10
stb [%r10-8], 0
ldxdw %r0, [%r10-8]
exit
