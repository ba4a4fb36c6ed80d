// EL1 exception vectors. Every entry saves the full context (x0-x30, ELR, SPSR, ESR, FAR,
// q0-q31, FPCR, FPSR) into a TrapFrame on the current stack and calls
// kingly_exception(frame, kind) -> frame. The returned frame is restored, so a scheduler can
// switch tasks by returning another task's frame.

.equ FRAME_GPRS,   0
.equ FRAME_ELR,    248
.equ FRAME_SPSR,   256
.equ FRAME_ESR,    264
.equ FRAME_FAR,    272
.equ FRAME_Q,      288
.equ FRAME_FPCR,   800
.equ FRAME_FPSR,   808
.equ FRAME_SIZE,   816

.macro VECTOR kind
.balign 0x80
    sub     sp, sp, #FRAME_SIZE
    stp     x0, x1, [sp, #16 * 0]
    mov     x0, #\kind
    b       save_and_dispatch
.endm

.section .text.vectors, "ax"
.balign 0x800
.global kingly_vectors
kingly_vectors:
    VECTOR 0
    VECTOR 1
    VECTOR 2
    VECTOR 3
    VECTOR 4
    VECTOR 5
    VECTOR 6
    VECTOR 7
    VECTOR 8
    VECTOR 9
    VECTOR 10
    VECTOR 11
    VECTOR 12
    VECTOR 13
    VECTOR 14
    VECTOR 15

save_and_dispatch:
    stp     x2, x3, [sp, #16 * 1]
    stp     x4, x5, [sp, #16 * 2]
    stp     x6, x7, [sp, #16 * 3]
    stp     x8, x9, [sp, #16 * 4]
    stp     x10, x11, [sp, #16 * 5]
    stp     x12, x13, [sp, #16 * 6]
    stp     x14, x15, [sp, #16 * 7]
    stp     x16, x17, [sp, #16 * 8]
    stp     x18, x19, [sp, #16 * 9]
    stp     x20, x21, [sp, #16 * 10]
    stp     x22, x23, [sp, #16 * 11]
    stp     x24, x25, [sp, #16 * 12]
    stp     x26, x27, [sp, #16 * 13]
    stp     x28, x29, [sp, #16 * 14]
    str     x30, [sp, #8 * 30]
    mrs     x1, elr_el1
    mrs     x2, spsr_el1
    stp     x1, x2, [sp, #FRAME_ELR]
    mrs     x1, esr_el1
    mrs     x2, far_el1
    stp     x1, x2, [sp, #FRAME_ESR]
    add     x1, sp, #FRAME_Q
    stp     q0, q1, [x1, #32 * 0]
    stp     q2, q3, [x1, #32 * 1]
    stp     q4, q5, [x1, #32 * 2]
    stp     q6, q7, [x1, #32 * 3]
    stp     q8, q9, [x1, #32 * 4]
    stp     q10, q11, [x1, #32 * 5]
    stp     q12, q13, [x1, #32 * 6]
    stp     q14, q15, [x1, #32 * 7]
    stp     q16, q17, [x1, #32 * 8]
    stp     q18, q19, [x1, #32 * 9]
    stp     q20, q21, [x1, #32 * 10]
    stp     q22, q23, [x1, #32 * 11]
    stp     q24, q25, [x1, #32 * 12]
    stp     q26, q27, [x1, #32 * 13]
    stp     q28, q29, [x1, #32 * 14]
    stp     q30, q31, [x1, #32 * 15]
    mrs     x2, fpcr
    mrs     x3, fpsr
    add     x1, sp, #FRAME_FPCR
    stp     x2, x3, [x1]
    mov     x1, x0                       // kind
    mov     x0, sp                       // frame
    bl      kingly_exception
    mov     sp, x0                       // the frame to resume (maybe another task's)

    add     x1, sp, #FRAME_FPCR
    ldp     x2, x3, [x1]
    msr     fpcr, x2
    msr     fpsr, x3
    add     x1, sp, #FRAME_Q
    ldp     q0, q1, [x1, #32 * 0]
    ldp     q2, q3, [x1, #32 * 1]
    ldp     q4, q5, [x1, #32 * 2]
    ldp     q6, q7, [x1, #32 * 3]
    ldp     q8, q9, [x1, #32 * 4]
    ldp     q10, q11, [x1, #32 * 5]
    ldp     q12, q13, [x1, #32 * 6]
    ldp     q14, q15, [x1, #32 * 7]
    ldp     q16, q17, [x1, #32 * 8]
    ldp     q18, q19, [x1, #32 * 9]
    ldp     q20, q21, [x1, #32 * 10]
    ldp     q22, q23, [x1, #32 * 11]
    ldp     q24, q25, [x1, #32 * 12]
    ldp     q26, q27, [x1, #32 * 13]
    ldp     q28, q29, [x1, #32 * 14]
    ldp     q30, q31, [x1, #32 * 15]
    ldp     x1, x2, [sp, #FRAME_ELR]
    msr     elr_el1, x1
    msr     spsr_el1, x2
    ldp     x0, x1, [sp, #16 * 0]
    ldp     x2, x3, [sp, #16 * 1]
    ldp     x4, x5, [sp, #16 * 2]
    ldp     x6, x7, [sp, #16 * 3]
    ldp     x8, x9, [sp, #16 * 4]
    ldp     x10, x11, [sp, #16 * 5]
    ldp     x12, x13, [sp, #16 * 6]
    ldp     x14, x15, [sp, #16 * 7]
    ldp     x16, x17, [sp, #16 * 8]
    ldp     x18, x19, [sp, #16 * 9]
    ldp     x20, x21, [sp, #16 * 10]
    ldp     x22, x23, [sp, #16 * 11]
    ldp     x24, x25, [sp, #16 * 12]
    ldp     x26, x27, [sp, #16 * 13]
    ldp     x28, x29, [sp, #16 * 14]
    ldr     x30, [sp, #8 * 30]
    add     sp, sp, #FRAME_SIZE
    eret
