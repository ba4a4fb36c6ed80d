// kingly-loader entry: core 0 arrives here where the firmware (or QEMU) put the raw image,
// usually 0x80000, at EL2 with x0 = DTB (or 0). Other cores stay where the firmware parked
// them (the spin table at 0xd8..0xf0 on a Pi 4, PSCI on a Pi 5): the kernel releases them.
//
// The loader copies itself to its link address (linker/loader.ld) so the kernel's load
// window is free, zeroes .bss, takes a stack and calls loader_main(dtb). Only position-
// independent code runs before the jump to the copy: adr, and literals read PC-relative.

.equ MPIDR_MT_BIT,   (1 << 24)
.equ CPACR_FPEN,     (3 << 20)
.equ CPTR_EL2_RES1,  0x33ff          // RES1 bits, TFP = 0: FP/SIMD not trapped
.equ SCTLR_I,        (1 << 12)       // instruction cache on (allowed with the MMU off)

.section .text._start, "ax"
.global _start
_start:
    mov     x19, x0                  // DTB pointer from the firmware
    mrs     x0, mpidr_el1
    tst     x0, #MPIDR_MT_BIT
    b.eq    1f
    lsr     x0, x0, #8               // Cortex-A76 (Pi 5): core number in Aff1
1:  ands    x0, x0, #0xff
    b.ne    park                     // only core 0 loads (QEMU's ELF path starts them all)

    adr     x1, _start               // where we run
    ldr     x2, =__loader_start      // where we are linked
    ldr     x3, =__loader_image_end
    cmp     x1, x2
    b.eq    relocated
2:  ldp     x4, x5, [x1], #16
    stp     x4, x5, [x2], #16
    cmp     x2, x3
    b.lo    2b
    dsb     sy
    ic      iallu                    // the copy is code: drop any stale instructions
    dsb     sy
    isb
    ldr     x0, =relocated
    br      x0

relocated:
    ldr     x1, =__bss_start
    ldr     x2, =__bss_end
3:  cmp     x1, x2
    b.hs    4f
    stp     xzr, xzr, [x1], #16
    b       3b
4:  ldr     x1, =__stack_top
    mov     sp, x1
    // Rust may use FP/SIMD registers (memcpy does): untrap them at the entry level and below.
    mrs     x0, CurrentEL
    cmp     x0, #(3 << 2)
    b.ne    5f
    msr     cptr_el3, xzr
    mrs     x0, sctlr_el3
    orr     x0, x0, #SCTLR_I
    msr     sctlr_el3, x0
    b       6f
5:  cmp     x0, #(2 << 2)
    b.ne    6f
    mov     x0, #CPTR_EL2_RES1
    msr     cptr_el2, x0
    mrs     x0, sctlr_el2
    orr     x0, x0, #SCTLR_I
    msr     sctlr_el2, x0
6:  mov     x0, #CPACR_FPEN
    msr     cpacr_el1, x0
    isb
    mov     x0, x19
    bl      loader_main              // (dtb) -> !
park:
    wfe
    b       park

.ltorg
