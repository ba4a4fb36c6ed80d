//! Core 0's main loop after the ready line: the message port and, while no host speaks the
//! framed protocol, the text console. Everything the UART receives goes to the port's frame
//! accumulator; text that is not part of a frame also goes to the console. On QEMU `virt` a
//! second port runs over the virtio console (see [`super::link`]).

use super::link::{self, PortLink};
use super::{agents, boot, heap, irq, log, smp, uart, virtio_port};
use crate::agents::tools as agent_tools;
use crate::arch::aarch64::cpu::{self, Aarch64Cpu};
use crate::console::{self, Command, LineAssembler};
use crate::cpu::{CpuOps, MAX_CPUS};
use crate::dcache::{CacheConfig, CacheStats, DecisionCache};
use crate::kprintln;
use crate::port::ToolOutcome;
use crate::port::{KernelInfo, Port, Services, UartCounters};
use crate::rcu::Rcu;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;
use core::sync::atomic::{AtomicBool, Ordering};
use kingly_bpf::hooks;
use kingly_drivers::generic_timer::GenericTimer;
use kingly_proto::LogLevel;
use kingly_proto::{ToolArgs, ToolDescriptor};

/// The kernel's RCU domain: the tick and idle loops report quiescent states to it.
pub static RCU: Rcu<Aarch64Cpu> = Rcu::new();
static CACHE: spin::Once<DecisionCache<'static, Aarch64Cpu>> = spin::Once::new();

/// The kernel's decision cache.
pub fn cache() -> &'static DecisionCache<'static, Aarch64Cpu> {
    CACHE.call_once(|| DecisionCache::new(&RCU, CacheConfig { max_entries: 4096 }))
}

/// While set, log lines go to the port as log frames instead of raw text on the UART.
static FRAMED: AtomicBool = AtomicBool::new(false);
/// Longest log line kept whole; longer ones are cut.
const LOG_LINE_BYTES: usize = 240;
static LOG_QUEUE: spin::Mutex<heapless::Deque<heapless::String<LOG_LINE_BYTES>, 64>> =
    spin::Mutex::new(heapless::Deque::new());

/// Routes a log line to the port when a host speaks the framed protocol. Returns false when
/// the caller should print it as text instead.
pub fn queue_log(args: core::fmt::Arguments<'_>) -> bool {
    if !FRAMED.load(Ordering::Acquire) {
        return false;
    }
    let mut line = heapless::String::<LOG_LINE_BYTES>::new();
    let _ = line.write_fmt(args);
    let irq = Aarch64Cpu::irq_save();
    {
        let mut queue = LOG_QUEUE.lock();
        if queue.is_full() {
            queue.pop_front();
        }
        let _ = queue.push_back(line);
    }
    Aarch64Cpu::irq_restore(irq);
    true
}

/// Git revision the kernel was built from (set by build.rs).
pub const BUILD_HASH: &str = env!("KINGLY_BUILD_HASH");

struct KernelServices;

impl Services for KernelServices {
    fn kernel_info(&self) -> KernelInfo {
        KernelInfo {
            board: boot::board().name,
            cpus: smp::online(),
            el: cpu::current_el(),
            mmu: crate::arch::aarch64::mmu::is_enabled(),
            memory_bytes: boot::ram_bytes(),
            heap_bytes: heap::size_bytes() as u64,
            heap_used_bytes: heap::used_bytes() as u64,
            uptime_ms: uptime_ms(),
            version: env!("CARGO_PKG_VERSION"),
            build_hash: BUILD_HASH,
            signing: super::agents::runtime().trust().describe(),
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
        cache().stats()
    }

    fn extra_tools(&self) -> Vec<ToolDescriptor> {
        agent_tools::descriptors(agents::runtime())
    }

    fn call_extra(&mut self, name: &str, args: &ToolArgs, _client: u32) -> Option<ToolOutcome> {
        let mut platform = agents::KernelPlatform::here();
        let mut workload = super::sched::run;
        let mut cx = agent_tools::CallContext {
            cpu: Aarch64Cpu::cpu_id(),
            now_ticks: agents::now_ticks(),
            now_ms: uptime_ms(),
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
            rt.decide(cpu, &hooks::MCP_ADMIT, fields, agents::now_ticks(), &mut agents::KernelPlatform::here());
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

fn uptime_ms() -> u64 {
    GenericTimer.uptime_ns() / 1_000_000
}

/// Serves the port and the console forever.
pub fn run() -> ! {
    let mut port = Port::new();
    let mut virtio = virtio_port::present().then(|| PortLink::new(link::VirtioConsole));
    let mut services = KernelServices;
    let mut assembler = LineAssembler::new();
    let mut limiter = ErrorLimiter { window_start_ms: 0, sent_in_window: 0, suppressed: 0 };
    let mut buffer = [0u8; 256];
    let core = Aarch64Cpu::cpu_id();
    loop {
        let now = uptime_ms();
        let count = uart::read(&mut buffer);
        if count > 0 {
            port.handle_bytes(&buffer[..count], now);
            if !port.framed(now) {
                for byte in &buffer[..count] {
                    let step = assembler.push(*byte);
                    // Echo before the answer, so a person at a terminal sees the line typed.
                    log::write_bytes(step.echo.bytes());
                    if let Some(line) = step.line {
                        run_command(console::parse(&line), &assembler, &mut limiter);
                    }
                }
            }
        }
        port.serve(&mut services);
        FRAMED.store(port.framed(now), Ordering::Release);
        loop {
            let irq = Aarch64Cpu::irq_save();
            let line = LOG_QUEUE.lock().pop_front();
            Aarch64Cpu::irq_restore(irq);
            match line {
                Some(line) => port.log(LogLevel::Info, &line),
                None => break,
            }
        }
        while let Some(frame) = port.poll_transmit(now) {
            log::write_bytes(frame);
        }
        let virtio_count = virtio.as_mut().map_or(0, |v| v.run(&mut services, &mut buffer, now));
        RCU.quiescent_state(core);
        if count == 0 && virtio_count == 0 {
            cpu::wait_for_interrupt();
        }
    }
}

/// Error replies allowed per second; garbage on the line must not flood the output.
const ERROR_REPLIES_PER_SECOND: u32 = 20;

/// Limits error replies to [`ERROR_REPLIES_PER_SECOND`], counting the ones held back.
struct ErrorLimiter {
    window_start_ms: u64,
    sent_in_window: u32,
    suppressed: u64,
}

impl ErrorLimiter {
    fn allow(&mut self) -> bool {
        let now_ms = uptime_ms();
        if now_ms >= self.window_start_ms + 1000 {
            self.window_start_ms = now_ms;
            self.sent_in_window = 0;
        }
        if self.sent_in_window < ERROR_REPLIES_PER_SECOND {
            self.sent_in_window += 1;
            true
        } else {
            self.suppressed += 1;
            false
        }
    }
}

fn run_command(command: Command<'_>, assembler: &LineAssembler, limiter: &mut ErrorLimiter) {
    match command {
        Command::Help => kprintln!("{}", console::HELP),
        Command::Ping => kprintln!("pong"),
        Command::Echo(text) => kprintln!("{text}"),
        Command::Ticks => {
            let t: [u64; MAX_CPUS] = core::array::from_fn(|i| irq::TICKS[i].load(Ordering::Relaxed));
            kprintln!("ticks: 0={} 1={} 2={} 3={}", t[0], t[1], t[2], t[3]);
        }
        Command::Uart => {
            let c = KernelServices.uart_counters();
            kprintln!(
                "uart: rx_bytes={} overruns={} framing_errors={} parity_errors={} breaks={} ring_drops={} rx_holds={} non_text={} overlong_lines={} suppressed_errors={}",
                c.rx_bytes, c.overruns, c.framing_errors, c.parity_errors, c.breaks, c.ring_drops, c.rx_holds,
                assembler.non_text_bytes, assembler.overlong_lines, limiter.suppressed
            );
        }
        Command::Reboot => boot::reboot(),
        Command::Info => kprintln!(
            "info: board={} cpus={} uptime_ms={} heap={} heap_used={}",
            boot::board().name,
            smp::online(),
            uptime_ms(),
            heap::size_bytes(),
            heap::used_bytes()
        ),
        Command::Unknown(word) if limiter.allow() => {
            let shown = &word[..word.len().min(32)];
            kprintln!("error: unknown command '{shown}' (try help)")
        }
        Command::Unknown(_) => {}
    }
}
