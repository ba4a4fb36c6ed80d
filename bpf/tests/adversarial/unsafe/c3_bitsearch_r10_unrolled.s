# type: tool
#map array key=4 value=8 max=1
# class: address-compare
# why: 64 unrolled steps compare r10 with r10 + (-candidate) (jlt: r10 < r2 exactly when the addition wraps), rebuilding r10 bit by bit in a map value that is returned
stw [%r10-4], 0
mov %r2, %r10
add %r2, -4
lddw %r1, map:0
call 1
jeq %r0, 0, out
mov %r6, %r0
stdw [%r6+0], 0
# bit 63
ldxdw %r5, [%r6+0]
lddw %r4, 0x8000000000000000
or %r5, %r4
mov %r3, %r5
neg %r3
mov %r2, %r10
add %r2, %r3
jlt %r10, %r2, skip63
stxdw [%r6+0], %r5
skip63:
# bit 62
ldxdw %r5, [%r6+0]
lddw %r4, 0x4000000000000000
or %r5, %r4
mov %r3, %r5
neg %r3
mov %r2, %r10
add %r2, %r3
jlt %r10, %r2, skip62
stxdw [%r6+0], %r5
skip62:
# bit 61
ldxdw %r5, [%r6+0]
lddw %r4, 0x2000000000000000
or %r5, %r4
mov %r3, %r5
neg %r3
mov %r2, %r10
add %r2, %r3
jlt %r10, %r2, skip61
stxdw [%r6+0], %r5
skip61:
# bit 60
ldxdw %r5, [%r6+0]
lddw %r4, 0x1000000000000000
or %r5, %r4
mov %r3, %r5
neg %r3
mov %r2, %r10
add %r2, %r3
jlt %r10, %r2, skip60
stxdw [%r6+0], %r5
skip60:
# bit 59
ldxdw %r5, [%r6+0]
lddw %r4, 0x800000000000000
or %r5, %r4
mov %r3, %r5
neg %r3
mov %r2, %r10
add %r2, %r3
jlt %r10, %r2, skip59
stxdw [%r6+0], %r5
skip59:
# bit 58
ldxdw %r5, [%r6+0]
lddw %r4, 0x400000000000000
or %r5, %r4
mov %r3, %r5
neg %r3
mov %r2, %r10
add %r2, %r3
jlt %r10, %r2, skip58
stxdw [%r6+0], %r5
skip58:
# bit 57
ldxdw %r5, [%r6+0]
lddw %r4, 0x200000000000000
or %r5, %r4
mov %r3, %r5
neg %r3
mov %r2, %r10
add %r2, %r3
jlt %r10, %r2, skip57
stxdw [%r6+0], %r5
skip57:
# bit 56
ldxdw %r5, [%r6+0]
lddw %r4, 0x100000000000000
or %r5, %r4
mov %r3, %r5
neg %r3
mov %r2, %r10
add %r2, %r3
jlt %r10, %r2, skip56
stxdw [%r6+0], %r5
skip56:
# bit 55
ldxdw %r5, [%r6+0]
lddw %r4, 0x80000000000000
or %r5, %r4
mov %r3, %r5
neg %r3
mov %r2, %r10
add %r2, %r3
jlt %r10, %r2, skip55
stxdw [%r6+0], %r5
skip55:
# bit 54
ldxdw %r5, [%r6+0]
lddw %r4, 0x40000000000000
or %r5, %r4
mov %r3, %r5
neg %r3
mov %r2, %r10
add %r2, %r3
jlt %r10, %r2, skip54
stxdw [%r6+0], %r5
skip54:
# bit 53
ldxdw %r5, [%r6+0]
lddw %r4, 0x20000000000000
or %r5, %r4
mov %r3, %r5
neg %r3
mov %r2, %r10
add %r2, %r3
jlt %r10, %r2, skip53
stxdw [%r6+0], %r5
skip53:
# bit 52
ldxdw %r5, [%r6+0]
lddw %r4, 0x10000000000000
or %r5, %r4
mov %r3, %r5
neg %r3
mov %r2, %r10
add %r2, %r3
jlt %r10, %r2, skip52
stxdw [%r6+0], %r5
skip52:
# bit 51
ldxdw %r5, [%r6+0]
lddw %r4, 0x8000000000000
or %r5, %r4
mov %r3, %r5
neg %r3
mov %r2, %r10
add %r2, %r3
jlt %r10, %r2, skip51
stxdw [%r6+0], %r5
skip51:
# bit 50
ldxdw %r5, [%r6+0]
lddw %r4, 0x4000000000000
or %r5, %r4
mov %r3, %r5
neg %r3
mov %r2, %r10
add %r2, %r3
jlt %r10, %r2, skip50
stxdw [%r6+0], %r5
skip50:
# bit 49
ldxdw %r5, [%r6+0]
lddw %r4, 0x2000000000000
or %r5, %r4
mov %r3, %r5
neg %r3
mov %r2, %r10
add %r2, %r3
jlt %r10, %r2, skip49
stxdw [%r6+0], %r5
skip49:
# bit 48
ldxdw %r5, [%r6+0]
lddw %r4, 0x1000000000000
or %r5, %r4
mov %r3, %r5
neg %r3
mov %r2, %r10
add %r2, %r3
jlt %r10, %r2, skip48
stxdw [%r6+0], %r5
skip48:
# bit 47
ldxdw %r5, [%r6+0]
lddw %r4, 0x800000000000
or %r5, %r4
mov %r3, %r5
neg %r3
mov %r2, %r10
add %r2, %r3
jlt %r10, %r2, skip47
stxdw [%r6+0], %r5
skip47:
# bit 46
ldxdw %r5, [%r6+0]
lddw %r4, 0x400000000000
or %r5, %r4
mov %r3, %r5
neg %r3
mov %r2, %r10
add %r2, %r3
jlt %r10, %r2, skip46
stxdw [%r6+0], %r5
skip46:
# bit 45
ldxdw %r5, [%r6+0]
lddw %r4, 0x200000000000
or %r5, %r4
mov %r3, %r5
neg %r3
mov %r2, %r10
add %r2, %r3
jlt %r10, %r2, skip45
stxdw [%r6+0], %r5
skip45:
# bit 44
ldxdw %r5, [%r6+0]
lddw %r4, 0x100000000000
or %r5, %r4
mov %r3, %r5
neg %r3
mov %r2, %r10
add %r2, %r3
jlt %r10, %r2, skip44
stxdw [%r6+0], %r5
skip44:
# bit 43
ldxdw %r5, [%r6+0]
lddw %r4, 0x80000000000
or %r5, %r4
mov %r3, %r5
neg %r3
mov %r2, %r10
add %r2, %r3
jlt %r10, %r2, skip43
stxdw [%r6+0], %r5
skip43:
# bit 42
ldxdw %r5, [%r6+0]
lddw %r4, 0x40000000000
or %r5, %r4
mov %r3, %r5
neg %r3
mov %r2, %r10
add %r2, %r3
jlt %r10, %r2, skip42
stxdw [%r6+0], %r5
skip42:
# bit 41
ldxdw %r5, [%r6+0]
lddw %r4, 0x20000000000
or %r5, %r4
mov %r3, %r5
neg %r3
mov %r2, %r10
add %r2, %r3
jlt %r10, %r2, skip41
stxdw [%r6+0], %r5
skip41:
# bit 40
ldxdw %r5, [%r6+0]
lddw %r4, 0x10000000000
or %r5, %r4
mov %r3, %r5
neg %r3
mov %r2, %r10
add %r2, %r3
jlt %r10, %r2, skip40
stxdw [%r6+0], %r5
skip40:
# bit 39
ldxdw %r5, [%r6+0]
lddw %r4, 0x8000000000
or %r5, %r4
mov %r3, %r5
neg %r3
mov %r2, %r10
add %r2, %r3
jlt %r10, %r2, skip39
stxdw [%r6+0], %r5
skip39:
# bit 38
ldxdw %r5, [%r6+0]
lddw %r4, 0x4000000000
or %r5, %r4
mov %r3, %r5
neg %r3
mov %r2, %r10
add %r2, %r3
jlt %r10, %r2, skip38
stxdw [%r6+0], %r5
skip38:
# bit 37
ldxdw %r5, [%r6+0]
lddw %r4, 0x2000000000
or %r5, %r4
mov %r3, %r5
neg %r3
mov %r2, %r10
add %r2, %r3
jlt %r10, %r2, skip37
stxdw [%r6+0], %r5
skip37:
# bit 36
ldxdw %r5, [%r6+0]
lddw %r4, 0x1000000000
or %r5, %r4
mov %r3, %r5
neg %r3
mov %r2, %r10
add %r2, %r3
jlt %r10, %r2, skip36
stxdw [%r6+0], %r5
skip36:
# bit 35
ldxdw %r5, [%r6+0]
lddw %r4, 0x800000000
or %r5, %r4
mov %r3, %r5
neg %r3
mov %r2, %r10
add %r2, %r3
jlt %r10, %r2, skip35
stxdw [%r6+0], %r5
skip35:
# bit 34
ldxdw %r5, [%r6+0]
lddw %r4, 0x400000000
or %r5, %r4
mov %r3, %r5
neg %r3
mov %r2, %r10
add %r2, %r3
jlt %r10, %r2, skip34
stxdw [%r6+0], %r5
skip34:
# bit 33
ldxdw %r5, [%r6+0]
lddw %r4, 0x200000000
or %r5, %r4
mov %r3, %r5
neg %r3
mov %r2, %r10
add %r2, %r3
jlt %r10, %r2, skip33
stxdw [%r6+0], %r5
skip33:
# bit 32
ldxdw %r5, [%r6+0]
lddw %r4, 0x100000000
or %r5, %r4
mov %r3, %r5
neg %r3
mov %r2, %r10
add %r2, %r3
jlt %r10, %r2, skip32
stxdw [%r6+0], %r5
skip32:
# bit 31
ldxdw %r5, [%r6+0]
lddw %r4, 0x80000000
or %r5, %r4
mov %r3, %r5
neg %r3
mov %r2, %r10
add %r2, %r3
jlt %r10, %r2, skip31
stxdw [%r6+0], %r5
skip31:
# bit 30
ldxdw %r5, [%r6+0]
lddw %r4, 0x40000000
or %r5, %r4
mov %r3, %r5
neg %r3
mov %r2, %r10
add %r2, %r3
jlt %r10, %r2, skip30
stxdw [%r6+0], %r5
skip30:
# bit 29
ldxdw %r5, [%r6+0]
lddw %r4, 0x20000000
or %r5, %r4
mov %r3, %r5
neg %r3
mov %r2, %r10
add %r2, %r3
jlt %r10, %r2, skip29
stxdw [%r6+0], %r5
skip29:
# bit 28
ldxdw %r5, [%r6+0]
lddw %r4, 0x10000000
or %r5, %r4
mov %r3, %r5
neg %r3
mov %r2, %r10
add %r2, %r3
jlt %r10, %r2, skip28
stxdw [%r6+0], %r5
skip28:
# bit 27
ldxdw %r5, [%r6+0]
lddw %r4, 0x8000000
or %r5, %r4
mov %r3, %r5
neg %r3
mov %r2, %r10
add %r2, %r3
jlt %r10, %r2, skip27
stxdw [%r6+0], %r5
skip27:
# bit 26
ldxdw %r5, [%r6+0]
lddw %r4, 0x4000000
or %r5, %r4
mov %r3, %r5
neg %r3
mov %r2, %r10
add %r2, %r3
jlt %r10, %r2, skip26
stxdw [%r6+0], %r5
skip26:
# bit 25
ldxdw %r5, [%r6+0]
lddw %r4, 0x2000000
or %r5, %r4
mov %r3, %r5
neg %r3
mov %r2, %r10
add %r2, %r3
jlt %r10, %r2, skip25
stxdw [%r6+0], %r5
skip25:
# bit 24
ldxdw %r5, [%r6+0]
lddw %r4, 0x1000000
or %r5, %r4
mov %r3, %r5
neg %r3
mov %r2, %r10
add %r2, %r3
jlt %r10, %r2, skip24
stxdw [%r6+0], %r5
skip24:
# bit 23
ldxdw %r5, [%r6+0]
lddw %r4, 0x800000
or %r5, %r4
mov %r3, %r5
neg %r3
mov %r2, %r10
add %r2, %r3
jlt %r10, %r2, skip23
stxdw [%r6+0], %r5
skip23:
# bit 22
ldxdw %r5, [%r6+0]
lddw %r4, 0x400000
or %r5, %r4
mov %r3, %r5
neg %r3
mov %r2, %r10
add %r2, %r3
jlt %r10, %r2, skip22
stxdw [%r6+0], %r5
skip22:
# bit 21
ldxdw %r5, [%r6+0]
lddw %r4, 0x200000
or %r5, %r4
mov %r3, %r5
neg %r3
mov %r2, %r10
add %r2, %r3
jlt %r10, %r2, skip21
stxdw [%r6+0], %r5
skip21:
# bit 20
ldxdw %r5, [%r6+0]
lddw %r4, 0x100000
or %r5, %r4
mov %r3, %r5
neg %r3
mov %r2, %r10
add %r2, %r3
jlt %r10, %r2, skip20
stxdw [%r6+0], %r5
skip20:
# bit 19
ldxdw %r5, [%r6+0]
lddw %r4, 0x80000
or %r5, %r4
mov %r3, %r5
neg %r3
mov %r2, %r10
add %r2, %r3
jlt %r10, %r2, skip19
stxdw [%r6+0], %r5
skip19:
# bit 18
ldxdw %r5, [%r6+0]
lddw %r4, 0x40000
or %r5, %r4
mov %r3, %r5
neg %r3
mov %r2, %r10
add %r2, %r3
jlt %r10, %r2, skip18
stxdw [%r6+0], %r5
skip18:
# bit 17
ldxdw %r5, [%r6+0]
lddw %r4, 0x20000
or %r5, %r4
mov %r3, %r5
neg %r3
mov %r2, %r10
add %r2, %r3
jlt %r10, %r2, skip17
stxdw [%r6+0], %r5
skip17:
# bit 16
ldxdw %r5, [%r6+0]
lddw %r4, 0x10000
or %r5, %r4
mov %r3, %r5
neg %r3
mov %r2, %r10
add %r2, %r3
jlt %r10, %r2, skip16
stxdw [%r6+0], %r5
skip16:
# bit 15
ldxdw %r5, [%r6+0]
lddw %r4, 0x8000
or %r5, %r4
mov %r3, %r5
neg %r3
mov %r2, %r10
add %r2, %r3
jlt %r10, %r2, skip15
stxdw [%r6+0], %r5
skip15:
# bit 14
ldxdw %r5, [%r6+0]
lddw %r4, 0x4000
or %r5, %r4
mov %r3, %r5
neg %r3
mov %r2, %r10
add %r2, %r3
jlt %r10, %r2, skip14
stxdw [%r6+0], %r5
skip14:
# bit 13
ldxdw %r5, [%r6+0]
lddw %r4, 0x2000
or %r5, %r4
mov %r3, %r5
neg %r3
mov %r2, %r10
add %r2, %r3
jlt %r10, %r2, skip13
stxdw [%r6+0], %r5
skip13:
# bit 12
ldxdw %r5, [%r6+0]
lddw %r4, 0x1000
or %r5, %r4
mov %r3, %r5
neg %r3
mov %r2, %r10
add %r2, %r3
jlt %r10, %r2, skip12
stxdw [%r6+0], %r5
skip12:
# bit 11
ldxdw %r5, [%r6+0]
lddw %r4, 0x800
or %r5, %r4
mov %r3, %r5
neg %r3
mov %r2, %r10
add %r2, %r3
jlt %r10, %r2, skip11
stxdw [%r6+0], %r5
skip11:
# bit 10
ldxdw %r5, [%r6+0]
lddw %r4, 0x400
or %r5, %r4
mov %r3, %r5
neg %r3
mov %r2, %r10
add %r2, %r3
jlt %r10, %r2, skip10
stxdw [%r6+0], %r5
skip10:
# bit 9
ldxdw %r5, [%r6+0]
lddw %r4, 0x200
or %r5, %r4
mov %r3, %r5
neg %r3
mov %r2, %r10
add %r2, %r3
jlt %r10, %r2, skip9
stxdw [%r6+0], %r5
skip9:
# bit 8
ldxdw %r5, [%r6+0]
lddw %r4, 0x100
or %r5, %r4
mov %r3, %r5
neg %r3
mov %r2, %r10
add %r2, %r3
jlt %r10, %r2, skip8
stxdw [%r6+0], %r5
skip8:
# bit 7
ldxdw %r5, [%r6+0]
lddw %r4, 0x80
or %r5, %r4
mov %r3, %r5
neg %r3
mov %r2, %r10
add %r2, %r3
jlt %r10, %r2, skip7
stxdw [%r6+0], %r5
skip7:
# bit 6
ldxdw %r5, [%r6+0]
lddw %r4, 0x40
or %r5, %r4
mov %r3, %r5
neg %r3
mov %r2, %r10
add %r2, %r3
jlt %r10, %r2, skip6
stxdw [%r6+0], %r5
skip6:
# bit 5
ldxdw %r5, [%r6+0]
lddw %r4, 0x20
or %r5, %r4
mov %r3, %r5
neg %r3
mov %r2, %r10
add %r2, %r3
jlt %r10, %r2, skip5
stxdw [%r6+0], %r5
skip5:
# bit 4
ldxdw %r5, [%r6+0]
lddw %r4, 0x10
or %r5, %r4
mov %r3, %r5
neg %r3
mov %r2, %r10
add %r2, %r3
jlt %r10, %r2, skip4
stxdw [%r6+0], %r5
skip4:
# bit 3
ldxdw %r5, [%r6+0]
lddw %r4, 0x8
or %r5, %r4
mov %r3, %r5
neg %r3
mov %r2, %r10
add %r2, %r3
jlt %r10, %r2, skip3
stxdw [%r6+0], %r5
skip3:
# bit 2
ldxdw %r5, [%r6+0]
lddw %r4, 0x4
or %r5, %r4
mov %r3, %r5
neg %r3
mov %r2, %r10
add %r2, %r3
jlt %r10, %r2, skip2
stxdw [%r6+0], %r5
skip2:
# bit 1
ldxdw %r5, [%r6+0]
lddw %r4, 0x2
or %r5, %r4
mov %r3, %r5
neg %r3
mov %r2, %r10
add %r2, %r3
jlt %r10, %r2, skip1
stxdw [%r6+0], %r5
skip1:
# bit 0
ldxdw %r5, [%r6+0]
lddw %r4, 0x1
or %r5, %r4
mov %r3, %r5
neg %r3
mov %r2, %r10
add %r2, %r3
jlt %r10, %r2, skip0
stxdw [%r6+0], %r5
skip0:
ldxdw %r0, [%r6+0]
exit
out:
mov %r0, 0
exit
