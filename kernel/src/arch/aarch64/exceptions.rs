//! Exception entry: the vector table, the saved context, and dispatch to the kernel.

use aarch64_cpu::registers::VBAR_EL1;
use tock_registers::interfaces::Writeable;

core::arch::global_asm!(include_str!("vectors.s"));

/// Everything an exception entry saves; layout shared with `vectors.s`.
#[repr(C)]
#[derive(Debug)]
pub struct TrapFrame {
    pub x: [u64; 31],
    pub elr: u64,
    pub spsr: u64,
    pub esr: u64,
    pub far: u64,
    pub _pad: u64,
    pub q: [u128; 32],
    pub fpcr: u64,
    pub fpsr: u64,
}

const _: () = assert!(core::mem::size_of::<TrapFrame>() == 816);
const _: () = assert!(core::mem::offset_of!(TrapFrame, q) == 288);
const _: () = assert!(core::mem::offset_of!(TrapFrame, fpcr) == 800);

/// What handles an exception: the saved context and the vector index (0..16) in, the context to
/// resume out (another task's, after a context switch).
pub type Handler = for<'a> fn(&'a mut TrapFrame, usize) -> &'a mut TrapFrame;

/// The kernel's handler, given by the platform layer at its first [`install`]: `arch` calls
/// up through this, never by naming the platform.
static HANDLER: spin::Once<Handler> = spin::Once::new();

/// Installs the vector table on the calling core; exceptions go to `handler` (the first
/// core's choice holds for every core).
pub fn install(handler: Handler) {
    HANDLER.call_once(|| handler);
    extern "C" {
        static kingly_vectors: u8;
    }
    let base = core::ptr::addr_of!(kingly_vectors) as u64;
    VBAR_EL1.set(base);
    aarch64_cpu::asm::barrier::isb(aarch64_cpu::asm::barrier::SY);
}

/// Called by `vectors.s` with the saved context and the vector index (0..16).
#[no_mangle]
extern "C" fn kingly_exception(frame: &mut TrapFrame, kind: u64) -> &mut TrapFrame {
    match HANDLER.get() {
        Some(handler) => handler(frame, kind as usize),
        // Unreachable: `install` sets the handler before it points VBAR_EL1 at the vectors.
        None => loop {
            core::hint::spin_loop();
        },
    }
}
