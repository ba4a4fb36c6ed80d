//! Decoding of ESR_EL1 for readable fault reports.
//!
//! # Resources
//! - Arm ARM D17.2.37 "ESR_EL1, Exception Syndrome Register (EL1)", exception class table.

/// Exception class (ESR_EL1.EC, bits 31:26).
pub const fn exception_class(esr: u64) -> u8 {
    ((esr >> 26) & 0x3f) as u8
}

/// Human name of an exception class.
pub const fn class_name(ec: u8) -> &'static str {
    match ec {
        0x00 => "unknown reason (undefined instruction)",
        0x01 => "trapped WFI/WFE",
        0x07 => "trapped FP/SIMD access",
        0x0e => "illegal execution state",
        0x15 => "SVC",
        0x16 => "HVC",
        0x17 => "SMC",
        0x18 => "trapped MSR/MRS/system instruction",
        0x20 => "instruction abort from a lower EL",
        0x21 => "instruction abort, same EL",
        0x22 => "PC alignment fault",
        0x24 => "data abort from a lower EL",
        0x25 => "data abort, same EL",
        0x26 => "SP alignment fault",
        0x2c => "floating-point exception",
        0x2f => "SError",
        0x30 | 0x31 => "breakpoint",
        0x32 | 0x33 => "software step",
        0x34 | 0x35 => "watchpoint",
        0x3c => "BRK instruction",
        _ => "reserved or unhandled class",
    }
}

/// For instruction and data aborts: what the fault status code (ISS.DFSC/IFSC) says.
pub const fn abort_status(esr: u64) -> &'static str {
    match esr & 0x3f {
        0x00..=0x03 => "address size fault",
        0x04..=0x07 => "translation fault (address not mapped)",
        0x08..=0x0b => "access flag fault",
        0x0c..=0x0f => "permission fault",
        0x10 => "synchronous external abort",
        0x21 => "alignment fault",
        0x30 => "TLB conflict abort",
        _ => "other fault status",
    }
}

/// True for instruction and data aborts, whose FAR holds the faulting address.
pub const fn is_abort(ec: u8) -> bool {
    matches!(ec, 0x20 | 0x21 | 0x24 | 0x25)
}

/// For data aborts: whether the access was a write (ISS.WnR).
pub const fn is_write(esr: u64) -> bool {
    esr & (1 << 6) != 0
}

/// Names of the 16 vector-table entries, in table order.
pub const VECTOR_NAMES: [&str; 16] = [
    "sync (EL1, SP0)",
    "IRQ (EL1, SP0)",
    "FIQ (EL1, SP0)",
    "SError (EL1, SP0)",
    "sync (EL1)",
    "IRQ (EL1)",
    "FIQ (EL1)",
    "SError (EL1)",
    "sync (EL0, AArch64)",
    "IRQ (EL0, AArch64)",
    "FIQ (EL0, AArch64)",
    "SError (EL0, AArch64)",
    "sync (EL0, AArch32)",
    "IRQ (EL0, AArch32)",
    "FIQ (EL0, AArch32)",
    "SError (EL0, AArch32)",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_a_translation_fault_read() {
        // Data abort, same EL, IL=1, DFSC=0b000101 (level 1 translation fault), read.
        let esr = 0x9600_0005;
        assert_eq!(exception_class(esr), 0x25);
        assert_eq!(class_name(0x25), "data abort, same EL");
        assert!(is_abort(0x25));
        assert_eq!(abort_status(esr), "translation fault (address not mapped)");
        assert!(!is_write(esr));
        assert!(is_write(0x9600_0045));
    }

    #[test]
    fn undefined_instruction_and_brk() {
        assert_eq!(class_name(exception_class(0x0200_0000)), "unknown reason (undefined instruction)");
        assert_eq!(class_name(exception_class(0xf200_0000)), "BRK instruction");
    }
}
