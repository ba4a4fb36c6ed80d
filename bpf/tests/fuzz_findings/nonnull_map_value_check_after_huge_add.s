# type: decision
#map array key=4 value=8 max=4
# finding: result-depends-on-layout: the same hole on a map value: after `r0 += K` with K minus
# finding: the production address of entry 1 of map 0 ((0x100 << 32) + 8), `jne r0, 0` is
# finding: decided "always taken", but r0 is 0 at run time and the unverified fall-through
# finding: returns the value's address. (ptrgen, seed 1, program 1900, minimized)
    stw [%r10-4], 1
    mov %r2, %r10
    add %r2, -4
    lddw %r1, map:0
    call 1
    jeq %r0, 0, out
    mov %r7, %r0
    lddw %r3, 0xfffffefffffffff8
    add %r0, %r3
    jne %r0, 0, out
    mov %r0, %r7
    exit
out:
    mov %r0, 0
    exit
