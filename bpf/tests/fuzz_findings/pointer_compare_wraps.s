# type: decision
# finding: result-depends-on-layout: comparing a pointer with itself plus 2^63 is allowed
# finding: (same object) but its outcome is whether ctx + 2^63 wraps, i.e. the top bit of the
# finding: context's address, which the program returns. Other constants leak other bits.
# finding: (ptrgen, seed 2, program 20391, minimized)
    mov %r2, %r1
    lddw %r3, 0x8000000000000000
    add %r2, %r3
    mov %r0, 0
    jgt %r2, %r1, done
    mov %r0, 1
done:
    exit
