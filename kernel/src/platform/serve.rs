//! Core 0's main loop after the ready line: the message port and, while no host speaks the
//! framed protocol, the text console. Everything the UART receives goes to the port's frame
//! accumulator; text that is not part of a frame also goes to the console. On QEMU `virt` a
//! second port runs over the virtio console (see [`super::link`]).

use super::console::run_command;
use super::link::{self, PortLink};
use super::ratelimit::ErrorLimiter;
use super::services::KernelServices;
use super::{clock, log, state, uart, virtio_port};
use crate::arch::aarch64::cpu::{self, Aarch64Cpu};
use crate::console::{self, LineAssembler};
use crate::cpu::CpuOps;
use crate::port::Port;
use kingly_proto::LogLevel;

/// Serves the port and the console forever.
pub fn run() -> ! {
    let mut port = Port::new();
    let mut virtio = virtio_port::present().then(|| PortLink::new(link::VirtioConsole));
    let mut services = KernelServices;
    let mut assembler = LineAssembler::new();
    let mut limiter = ErrorLimiter::default();
    let mut buffer = [0u8; 256];
    let core = Aarch64Cpu::cpu_id();
    loop {
        let now = clock::uptime_ms();
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
        log::set_framed(port.framed(now));
        while let Some(line) = log::pop_queued() {
            port.log(LogLevel::Info, &line);
        }
        while let Some(frame) = port.poll_transmit(now) {
            log::write_bytes(frame);
        }
        let virtio_count = virtio.as_mut().map_or(0, |v| v.run(&mut services, &mut buffer, now));
        state::RCU.quiescent_state(core);
        if count == 0 && virtio_count == 0 {
            cpu::wait_for_interrupt();
        }
    }
}
