//! Byte links the message port runs over besides the PL011 (which `serve` drives itself,
//! because it shares the line with the text console): on QEMU `virt`, the virtio console.
//! Each link gets its own [`Port`], so its own session.

use super::virtio_port;
use crate::port::{Port, Services};

/// A byte pipe to a host.
pub trait Link {
    /// Takes up to `out.len()` received bytes; returns how many.
    fn read(&mut self, out: &mut [u8]) -> usize;
    /// True when a frame written now goes out rather than being refused.
    fn can_write(&mut self) -> bool;
    /// Writes one encoded frame (only after `can_write`).
    fn write(&mut self, frame: &[u8]);
}

/// The virtio console: writes never block; a full transmit queue holds frames back.
pub struct VirtioConsole;

impl Link for VirtioConsole {
    fn read(&mut self, out: &mut [u8]) -> usize {
        virtio_port::read(out)
    }
    fn can_write(&mut self) -> bool {
        virtio_port::can_write()
    }
    fn write(&mut self, frame: &[u8]) {
        // `can_write` said yes and only this core writes, so this is not refused.
        let _ = virtio_port::write(frame);
    }
}

/// A message port served over one link.
pub struct PortLink<L> {
    pub port: Port,
    pub link: L,
}

impl<L: Link> PortLink<L> {
    pub fn new(link: L) -> Self {
        Self { port: Port::new(), link }
    }

    /// Feeds the port what the link received; returns how many bytes of `buffer` hold them.
    pub fn receive(&mut self, buffer: &mut [u8], now_ms: u64) -> usize {
        let count = self.link.read(buffer);
        if count > 0 {
            self.port.handle_bytes(&buffer[..count], now_ms);
        }
        count
    }

    /// Writes out the frames the port has queued, as far as the link takes them.
    pub fn transmit(&mut self, now_ms: u64) {
        while self.link.can_write() {
            match self.port.poll_transmit(now_ms) {
                Some(frame) => self.link.write(frame),
                None => break,
            }
        }
    }

    /// One round for a link without a text console: receive, answer, transmit. Returns the
    /// bytes received.
    pub fn run(&mut self, services: &mut impl Services, buffer: &mut [u8], now_ms: u64) -> usize {
        let count = self.receive(buffer, now_ms);
        self.port.serve(services);
        self.transmit(now_ms);
        count
    }
}
