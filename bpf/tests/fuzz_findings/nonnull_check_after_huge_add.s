# type: decision
# finding: fault: `jeq ptr, 0` on a non-NULL pointer is decided "never taken" even after
# finding: `ptr += K` with a huge K from lddw, so the taken branch is never verified. With K
# finding: minus the context's production address (2 << 32) it is taken at run time and reads
# finding: 4000 bytes past the 48-byte context. (ptrgen, seed 1, program 63, minimized)
    mov %r6, %r1
    mov %r2, %r6
    lddw %r3, 0xfffffffe00000000
    add %r2, %r3
    jeq %r2, 0, unexplored
    mov %r0, 0
    exit
unexplored:
    ldxdw %r0, [%r6+4000]
    exit
