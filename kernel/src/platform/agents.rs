//! The kernel's agent runtime instance: its trust root (the public key built into the image),
//! the helpers' view of the machine, and the glue the message port and the tick call.

use super::{clock, state};
use crate::agents::signing::Trust;
use crate::agents::{Compiled, Jit, Runtime};
use crate::arch::aarch64::cpu::Aarch64Cpu;
use crate::arch::aarch64::jit::JitProgram;
use crate::cpu::CpuOps;
use alloc::boxed::Box;
use kingly_bpf::Platform;
use kingly_bpf::{Env, RunError, VerifiedProgram};
use kingly_drivers::generic_timer::GenericTimer;

/// The Ed25519 public key `kingly boot` built in (64 hex digits; empty when none).
const PUBKEY_HEX: &str = env!("KINGLY_PUBKEY_HEX");

static RUNTIME: spin::Once<Runtime<'static, Aarch64Cpu>> = spin::Once::new();

/// The agent runtime.
pub fn runtime() -> &'static Runtime<'static, Aarch64Cpu> {
    RUNTIME.call_once(|| {
        let trust = Trust::from_build(PUBKEY_HEX, cfg!(feature = "unsigned-dev"));
        Runtime::new(state::cache(), trust, Some(&KernelJit))
    })
}

/// The A64 JIT as the runtime's engine: every program it compiles runs natively; one it cannot
/// compile runs in the interpreter. Compiled code is unmapped when its agent is freed, which is
/// after a grace period once it was attached (the runtime's RCU slot holds it until then).
pub struct KernelJit;

impl Jit for KernelJit {
    fn compile(&self, program: &VerifiedProgram) -> Option<Box<dyn Compiled>> {
        JitProgram::compile(program).ok().map(|code| Box::new(code) as Box<dyn Compiled>)
    }
}

impl Compiled for JitProgram {
    fn run(&self, ctx: &mut [u8], packet: &mut [u8], env: &mut Env<'_>) -> Result<u64, RunError> {
        JitProgram::run(self, ctx, packet, env)
    }
    fn code(&self) -> &kingly_bpf::jit::aarch64::Code {
        JitProgram::code(self)
    }
}

/// Helpers' view of the machine on the calling core: the generic timer's clock, a per-call
/// xorshift generator seeded from the counter, the core id.
pub struct KernelPlatform {
    cpu: u32,
    rng: u64,
}

impl KernelPlatform {
    pub fn here() -> Self {
        let seed = GenericTimer.counter() ^ 0x9e37_79b9_7f4a_7c15;
        KernelPlatform { cpu: Aarch64Cpu::cpu_id() as u32, rng: seed | 1 }
    }
}

impl Platform for KernelPlatform {
    fn ktime_get_ns(&mut self) -> u64 {
        GenericTimer.uptime_ns()
    }
    fn prandom_u32(&mut self) -> u32 {
        kingly_bpf::interp::xorshift_u32(&mut self.rng)
    }
    fn smp_processor_id(&self) -> u32 {
        self.cpu
    }
}

/// Called from every core's tick: runs the timer agents due on this core.
pub fn tick(core: usize) {
    if let Some(runtime) = RUNTIME.get() {
        runtime.run_timers(core, clock::now_ticks(), &mut KernelPlatform::here());
    }
}
