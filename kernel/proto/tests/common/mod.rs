//! A simulated serial line between a host endpoint and an echo server, with fault injection.
#![allow(dead_code)]

use kingly_proto::{CallTool, CallToolResult, Capabilities, Config, Content, Endpoint, Event, Message, PeerInfo};

/// xorshift64*: deterministic, seedable, good enough to place faults.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, bound: u64) -> u64 {
        self.next_u64() % bound.max(1)
    }

    /// True with probability `parts_per_million` / 10^6.
    pub fn chance(&mut self, parts_per_million: u64) -> bool {
        self.below(1_000_000) < parts_per_million
    }
}

/// One direction of the line: flips a bit in, drops or duplicates a byte with the given
/// probability each.
pub struct Line {
    pub fault_ppm: u64,
    pub rng: Rng,
    pub bytes_offered: u64,
    pub faults: u64,
}

impl Line {
    pub fn new(fault_ppm: u64, seed: u64) -> Self {
        Self { fault_ppm, rng: Rng::new(seed), bytes_offered: 0, faults: 0 }
    }

    pub fn carry(&mut self, bytes: &[u8], out: &mut Vec<u8>) {
        self.bytes_offered += bytes.len() as u64;
        for &byte in bytes {
            if !self.rng.chance(self.fault_ppm) {
                out.push(byte);
                continue;
            }
            self.faults += 1;
            match self.rng.below(3) {
                0 => out.push(byte ^ (1 << self.rng.below(8))),
                1 => {}
                _ => out.extend_from_slice(&[byte, byte]),
            }
        }
    }
}

pub fn test_config() -> Config {
    Config { retransmit_timeout_ms: 30, max_retransmit_timeout_ms: 240, max_retransmits: 0, ..Config::SERIAL }
}

pub fn hello(name: &str) -> PeerInfo {
    PeerInfo {
        protocol_version: 1,
        capabilities: Capabilities::TOOLS.with(Capabilities::LOGGING),
        name: name.into(),
        version: "0.1.0".into(),
        build_hash: "0123abc".into(),
        max_message_bytes: 70_000,
    }
}

/// The reply a correct server gives; the tests check every response against it.
pub fn expected_reply(request: &Message) -> Option<Message> {
    Some(match request {
        Message::Hello(_) => Message::HelloAck(hello("kingly-kernel")),
        Message::Ping { id } => Message::Pong { id: *id },
        Message::CallTool(CallTool { id, name, args }) if name == "echo" => {
            let data = [&args.request[..], &args.attachment[..]].concat();
            // A large upload is acknowledged by its size, not echoed back.
            let content = if data.len() > 900 {
                Content::Text(format!("{} bytes", data.len()))
            } else {
                Content::Bytes { mime_type: "application/octet-stream".into(), data }
            };
            Message::CallToolResult(CallToolResult { id: *id, content: vec![content], is_error: false })
        }
        Message::CallTool(CallTool { id, .. }) => Message::Error {
            id: Some(*id),
            code: kingly_proto::error_code::METHOD_NOT_FOUND,
            message: "unknown tool".into(),
        },
        _ => return None,
    })
}

/// Host and kernel endpoints joined by two faulty lines, stepped one millisecond at a time.
pub struct Pair {
    pub host: Endpoint,
    pub kernel: Endpoint,
    pub to_kernel: Line,
    pub to_host: Line,
    pub now_ms: u64,
    /// Events the host saw, in order.
    pub host_events: Vec<Event>,
    /// How many of them are messages.
    pub host_message_count: usize,
    /// Messages the kernel received, in order.
    pub kernel_received: Vec<Message>,
    /// Every other event the kernel saw.
    pub kernel_events: Vec<Event>,
    /// The kernel answers requests (off: it stops draining events, as a busy server would).
    pub kernel_serving: bool,
    /// Bytes each side handed to the line (before faults).
    pub host_wire_bytes: u64,
    pub kernel_wire_bytes: u64,
    buffer: Vec<u8>,
}

impl Pair {
    pub fn new(config: Config, fault_ppm: u64, seed: u64) -> Self {
        Self {
            host: Endpoint::new(config),
            kernel: Endpoint::new(config),
            to_kernel: Line::new(fault_ppm, seed),
            to_host: Line::new(fault_ppm, seed ^ 0x5eed),
            now_ms: 0,
            host_events: Vec::new(),
            host_message_count: 0,
            kernel_received: Vec::new(),
            kernel_events: Vec::new(),
            kernel_serving: true,
            host_wire_bytes: 0,
            kernel_wire_bytes: 0,
            buffer: Vec::new(),
        }
    }

    /// One millisecond: host → kernel, the kernel answers, kernel → host.
    pub fn step(&mut self) {
        self.buffer.clear();
        while let Some(frame) = self.host.poll_transmit(self.now_ms) {
            self.host_wire_bytes += frame.len() as u64;
            self.to_kernel.carry(frame, &mut self.buffer);
        }
        self.kernel.handle_bytes(&self.buffer, self.now_ms);
        while self.kernel_serving {
            let Some(event) = self.kernel.poll_event() else {
                break;
            };
            match event {
                Event::Message { message, .. } => {
                    if let Some(reply) = expected_reply(&message) {
                        self.kernel.send(&reply).expect("kernel queue has room");
                    }
                    self.kernel_received.push(message);
                }
                other => self.kernel_events.push(other),
            }
        }
        self.buffer.clear();
        while let Some(frame) = self.kernel.poll_transmit(self.now_ms) {
            self.kernel_wire_bytes += frame.len() as u64;
            self.to_host.carry(frame, &mut self.buffer);
        }
        self.host.handle_bytes(&self.buffer, self.now_ms);
        while let Some(event) = self.host.poll_event() {
            if matches!(event, Event::Message { .. }) {
                self.host_message_count += 1;
            }
            self.host_events.push(event);
        }
        self.now_ms += 1;
    }

    /// Steps until `done` holds or `limit_ms` passes; returns whether `done` held.
    pub fn run_until(&mut self, limit_ms: u64, mut done: impl FnMut(&Self) -> bool) -> bool {
        let deadline = self.now_ms + limit_ms;
        while self.now_ms < deadline {
            if done(self) {
                return true;
            }
            self.step();
        }
        done(self)
    }

    /// Messages the host received, in order.
    pub fn host_messages(&self) -> Vec<&Message> {
        self.host_events
            .iter()
            .filter_map(|event| match event {
                Event::Message { message, .. } => Some(message),
                _ => None,
            })
            .collect()
    }

    /// Connects the host and waits for HelloAck.
    pub fn connect(&mut self, initial_seq: u16) {
        self.host.connect(hello("kingly-host"), initial_seq).expect("connect queues Hello");
        let connected = self.run_until(60_000, |pair| {
            pair.host_events.iter().any(|event| matches!(event, Event::Message { message: Message::HelloAck(_), .. }))
        });
        assert!(connected, "no HelloAck within 60 s of simulated time");
    }
}
