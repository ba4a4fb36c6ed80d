# type: decision
#map array key=4 value=8 max=4
# finding: fault: a state holding the value of one map_lookup_elem is pruned against a state
# finding: holding another lookup's value of the same map (ids are ignored for non-NULL
# finding: values), so `p - first` is trusted as 0 on the pruned path too; there it is 24
# finding: and `r10 + 24 - 8` reads past the frame. (ptrgen, seed 3, program 131631, minimized)
    mov %r6, %r1
    stdw [%r10-8], 0
    stw [%r10-4], 0
    mov %r2, %r10
    add %r2, -4
    lddw %r1, map:0
    call 1
    jeq %r0, 0, out
    mov %r7, %r0
    stw [%r10-4], 3
    mov %r2, %r10
    add %r2, -4
    lddw %r1, map:0
    call 1
    jeq %r0, 0, out
    mov %r8, %r0
    ldxdw %r1, [%r6+16]
    jgt %r1, 5, second
    mov %r9, %r7
    ja join
second:
    mov %r9, %r8
join:
    mov %r2, %r9
    sub %r2, %r7
    mov %r3, %r10
    add %r3, %r2
    ldxdw %r0, [%r3-8]
    exit
out:
    mov %r0, 0
    exit
