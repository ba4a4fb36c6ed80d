# type: decision
# class: null-after-arith
# why: the fall-through of jne r2, 0 (r2 = r10 + K, K = -stack address) is reached at run time and spins forever; a verifier that folds the non-null compare never looks at the loop
mov %r0, 0
mov %r2, %r10
lddw %r4, -0x100001000
add %r2, %r4
jne %r2, 0, ok
spin:
add %r0, 1
ja spin
ok:
mov %r0, 100
exit
