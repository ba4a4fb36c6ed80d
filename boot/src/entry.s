// Kingly ARM64 entry: every core of every supported board arrives here.
//
// Three entry states are handled (see DESIGN.md, "Boot facts"):
//   1. Raw image (QEMU raspi4b, real Pi 4 firmware): core 0 at EL2 with x0 = DTB or 0;
//      secondaries wait on the spin table and are sent to _secondary_start later.
//   2. ELF image (QEMU raspi4b): all four cores at EL3 at once, no DTB. Secondaries park
//      here until core 0 releases them through `kingly_secondary_release`.
//   3. QEMU virt / Pi 5: core 0 at EL1 or EL2; secondaries arrive at _secondary_start via PSCI.
// Every core ends at EL1h with its own stack, FP/SIMD enabled and interrupts masked.

.equ MPIDR_MT_BIT,        (1 << 24)
.equ CPACR_FPEN_FULL,     (3 << 20)
.equ SPSR_EL1H_DAIF,      0x3c5          // M = EL1h, D A I F masked
.equ HCR_RW,              (1 << 31)      // EL1 is AArch64
.equ SCR_EL3_VALUE,       0x5b1          // NS | RES1(5:4) | SMD | HCE | RW
.equ CPTR_EL2_VALUE,      0x33ff         // RES1 bits, TFP = 0: no FP trap
.equ SCTLR_EL1_RESET,     0x30d00800     // RES1 bits, MMU and caches off
.equ CPUECTLR_SMPEN,      (1 << 6)

.section .text._start, "ax"
.global _start
_start:
    mov     x19, x0                      // DTB pointer (core 0, raw image) or 0
    bl      core_index                   // x0 = core index
    cbz     x0, 1f
    // A secondary core that entered at _start (ELF path): park until released.
    bl      prepare_core                 // stack + EL3 GIC setup, still at the entry EL
0:  wfe
    adrp    x1, kingly_secondary_release
    ldr     x1, [x1, :lo12:kingly_secondary_release]
    cbz     x1, 0b
    b       _secondary_start
1:  mrs     x20, CurrentEL
    lsr     x20, x20, #2                 // x20 = entry exception level
    bl      prepare_core
    bl      enter_el1
    // Zero .bss exactly once, on core 0, before any Rust code reads a static.
    adrp    x1, __bss_start
    add     x1, x1, :lo12:__bss_start
    adrp    x2, __bss_end
    add     x2, x2, :lo12:__bss_end
2:  cmp     x1, x2
    b.hs    3f
    stp     xzr, xzr, [x1], #16
    b       2b
3:  mov     x0, x19
    mov     x1, x20
    bl      kingly_main                  // (dtb, entry_el) -> !
    b       halt

// Entry for secondary cores: spin table, PSCI CPU_ON, or released from the park loop.
.global _secondary_start
_secondary_start:
    bl      core_index
    mov     x19, x0
    bl      prepare_core
    bl      enter_el1
    mov     x0, x19
    bl      kingly_secondary_main        // (core) -> !
    b       halt

// x0 = this core's index: MPIDR Aff0, or Aff1 when MPIDR.MT is set (Cortex-A76 on the Pi 5:
// Aff0 = 0, Aff1 = core). kingly_kernel::cpu::core_index mirrors this; the board tables' PSCI
// targets are checked against it and against the real device trees' /cpus reg values.
// Cores beyond the stacks we have stop here.
core_index:
    mrs     x0, mpidr_el1
    tst     x0, #MPIDR_MT_BIT
    b.eq    1f
    lsr     x0, x0, #8
1:  and     x0, x0, #0xff
    cmp     x0, #{MAX_CPUS}
    b.hs    halt
    ret

// Gives this core its stack (at the current EL) and, at EL3, lets Rust route the GIC to
// the non-secure world as a Pi firmware armstub would. Clobbers x0-x18 and x21, keeps lr.
prepare_core:
    mov     x21, lr
    bl      core_index
    bl      set_stack
    mrs     x1, CurrentEL
    cmp     x1, #(3 << 2)
    b.ne    1f
    mrs     x1, S3_1_C15_C2_1            // CPUECTLR_EL1: join the coherency domain
    orr     x1, x1, #CPUECTLR_SMPEN
    msr     S3_1_C15_C2_1, x1
    bl      core_index
    bl      kingly_el3_init              // (core): Rust, MMU off, no statics written
1:  mov     lr, x21
    ret

// sp = top of this core's stack. x0 = core index. Clobbers x1, x2.
set_stack:
    adrp    x1, __stacks_start
    add     x1, x1, :lo12:__stacks_start
    add     x2, x0, #1
    mov     x0, #{STACK_SIZE}
    madd    x1, x2, x0, x1
    mov     sp, x1
    ret

// Drops from EL3 or EL2 to EL1h; at EL1 only sets up. Returns at EL1 with a fresh stack
// and FP/SIMD enabled. Clobbers x0-x2 and x22, keeps lr.
enter_el1:
    mov     x22, lr
    mrs     x0, CurrentEL
    cmp     x0, #(3 << 2)
    b.eq    from_el3
    cmp     x0, #(2 << 2)
    b.eq    from_el2
    b       at_el1
from_el3:
    mov     x0, #SCR_EL3_VALUE
    msr     scr_el3, x0
    msr     cptr_el3, xzr                // no FP/SIMD trap to EL3
    mov     x0, #SPSR_EL1H_DAIF
    msr     spsr_el3, x0
    adr     x0, at_el1
    msr     elr_el3, x0
    bl      el2_controls
    mov     lr, x22
    eret
from_el2:
    mov     x0, #SPSR_EL1H_DAIF
    msr     spsr_el2, x0
    adr     x0, at_el1
    msr     elr_el2, x0
    bl      el2_controls
    mov     lr, x22
    eret
at_el1:
    ldr     x0, =SCTLR_EL1_RESET
    msr     sctlr_el1, x0
    mov     x0, #CPACR_FPEN_FULL         // FP/SIMD on before any Rust code runs
    msr     cpacr_el1, x0
    isb
    mov     x22, lr
    bl      core_index
    bl      set_stack
    mov     lr, x22
    ret

// EL2 controls for an AArch64 EL1 without a hypervisor: no traps, timers usable from EL1.
el2_controls:
    mov     x0, #HCR_RW
    msr     hcr_el2, x0
    mrs     x0, cnthctl_el2
    orr     x0, x0, #3                   // EL1PCTEN | EL1PCEN
    msr     cnthctl_el2, x0
    msr     cntvoff_el2, xzr
    mov     x0, #CPTR_EL2_VALUE
    msr     cptr_el2, x0
    msr     hstr_el2, xzr
    ldr     x0, =SCTLR_EL1_RESET
    msr     sctlr_el1, x0
    ret

.global halt
halt:
    wfe
    b       halt

// Set non-zero (and cleaned to the point of coherency) by core 0 to release parked cores.
.section .data.kingly_secondary_release, "aw"
.balign 64
.global kingly_secondary_release
kingly_secondary_release:
    .quad 0
