//! The port's view of the kernel ([`Services`]): what `kernel_info` and `uart_stats` report,
//! the agent runtime's tools, and admission of each call by the `mcp_admit` policy.

use super::{agents, clock, heap, sched, smp, state, uart};
use crate::agents::tools as agent_tools;
use crate::arch::aarch64::cpu::{self, Aarch64Cpu};
use crate::cpu::CpuOps;
use crate::dcache::CacheStats;
use crate::port::ToolOutcome;
use crate::port::{KernelInfo, Services, UartCounters};
use alloc::string::String;
use alloc::vec::Vec;
use core::sync::atomic::Ordering;
use kingly_bpf::hooks;
use kingly_drivers::generic_timer::GenericTimer;
use kingly_proto::{ToolArgs, ToolDescriptor};

/// Git revision the kernel was built from (set by build.rs).
pub const BUILD_HASH: &str = env!("KINGLY_BUILD_HASH");

/// The services the port calls on this machine.
pub struct KernelServices;

impl Services for KernelServices {
    fn kernel_info(&self) -> KernelInfo {
        KernelInfo {
            board: state::board().name,
            cpus: smp::online(),
            el: cpu::current_el(),
            mmu: crate::arch::aarch64::mmu::is_enabled(),
            memory_bytes: state::ram_bytes(),
            heap_bytes: heap::size_bytes() as u64,
            heap_used_bytes: heap::used_bytes() as u64,
            uptime_ms: clock::uptime_ms(),
            version: env!("CARGO_PKG_VERSION"),
            build_hash: BUILD_HASH,
            signing: agents::runtime().trust().describe(),
        }
    }

    fn uart_counters(&self) -> UartCounters {
        let s = &uart::STATS;
        let r = |c: &core::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
        UartCounters {
            rx_bytes: r(&s.rx_bytes),
            overruns: r(&s.overruns),
            framing_errors: r(&s.framing_errors),
            parity_errors: r(&s.parity_errors),
            breaks: r(&s.breaks),
            ring_drops: r(&s.ring_drops),
            rx_holds: r(&s.rx_holds),
        }
    }

    fn cache_stats(&self) -> CacheStats {
        state::cache().stats()
    }

    fn extra_tools(&self) -> Vec<ToolDescriptor> {
        agent_tools::descriptors(agents::runtime())
    }

    fn call_extra(&mut self, name: &str, args: &ToolArgs, _client: u32) -> Option<ToolOutcome> {
        let mut platform = agents::KernelPlatform::here();
        let mut workload = sched::run;
        let mut cx = agent_tools::CallContext {
            cpu: Aarch64Cpu::cpu_id(),
            now_ticks: clock::now_ticks(),
            now_ms: clock::uptime_ms(),
            cpus: smp::online(),
            platform: &mut platform,
            workload: &mut workload,
        };
        agent_tools::call(agents::runtime(), name, args, &mut cx)
    }

    fn admit(&mut self, tool: &str, client: u32, arg_bytes: usize) -> Result<(), String> {
        let fields = [hooks::tool_name_hash(tool), u64::from(client), arg_bytes as u64, 0];
        let (rt, cpu) = (agents::runtime(), Aarch64Cpu::cpu_id());
        let decision =
            rt.decide(cpu, &hooks::MCP_ADMIT, fields, clock::now_ticks(), &mut agents::KernelPlatform::here());
        if rt.trace.on(hooks::MCP_ADMIT.id) {
            // Outcome: [admitted, 0, 0, 0]; the request's size is field 2.
            let outcome = [u32::from(decision.value() == hooks::admit::ALLOW), 0, 0, 0];
            rt.trace_decision(cpu, &hooks::MCP_ADMIT, fields, &decision, false, outcome, GenericTimer.uptime_ns());
        }
        match decision.value() {
            hooks::admit::ALLOW => Ok(()),
            hooks::admit::RATE_LIMITED => Err(alloc::format!("rate limited: too many calls from client {client}")),
            _ => Err(alloc::format!("the policy denies {tool} to client {client}")),
        }
    }
}
