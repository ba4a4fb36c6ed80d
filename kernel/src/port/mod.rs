//! The message port: the kernel's end of the wire protocol (`kingly-proto`), turning requests
//! into tool calls and answers. Portable: the platform feeds it UART bytes and the clock and
//! writes out the frames it returns; host tests drive it with a host-side endpoint.
//!
//! Shapes follow MCP so the host bridge is mechanical: Hello → HelloAck (`initialize`),
//! ListTools, CallTool (tool failures are results with `is_error`; unknown tools are
//! protocol errors), ListResources/ReadResource, Ping, Cancel.

pub mod tools;

use crate::dcache::CacheStats;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use kingly_proto::{
    error_code, CallTool, CallToolResult, Capabilities, Config, Content, Endpoint, Event, LinkStats, LogLevel, Message,
    PeerInfo, ResourceContents, ResourceDescriptor, ToolArgs, ToolDescriptor, MESSAGE_VERSION,
};

/// Facts about the running kernel for `kernel_info`.
#[derive(Debug, Clone, Default)]
pub struct KernelInfo {
    pub board: &'static str,
    pub cpus: usize,
    pub el: u64,
    pub mmu: bool,
    pub memory_bytes: u64,
    pub heap_bytes: u64,
    pub heap_used_bytes: u64,
    pub uptime_ms: u64,
    pub version: &'static str,
    pub build_hash: &'static str,
    /// "enforced" or "development (unsigned loads allowed)".
    pub signing: &'static str,
}

/// UART receive counters kept by the driver side.
#[derive(Debug, Clone, Copy, Default)]
pub struct UartCounters {
    pub rx_bytes: u64,
    pub overruns: u64,
    pub framing_errors: u64,
    pub parity_errors: u64,
    pub breaks: u64,
    pub ring_drops: u64,
    pub rx_holds: u64,
}

/// How an extension tool call ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolOutcome {
    /// The tool ran; its output.
    Done(Vec<Content>),
    /// The tool ran and failed; a one-line reason (an `is_error` result).
    Failed(String),
    /// The arguments did not fit the tool's schema (a protocol error, like MCP's -32602).
    BadArguments(String),
}

/// What the port asks of the rest of the kernel.
pub trait Services {
    fn kernel_info(&self) -> KernelInfo;
    fn uart_counters(&self) -> UartCounters;
    fn cache_stats(&self) -> CacheStats;
    /// Tools beyond the built-ins (the agent runtime's), listed after them.
    fn extra_tools(&self) -> Vec<ToolDescriptor> {
        Vec::new()
    }
    /// Runs an extra tool; `None` when no such tool exists.
    fn call_extra(&mut self, _name: &str, _args: &ToolArgs, _client: u32) -> Option<ToolOutcome> {
        None
    }
    /// May a call of `tool` from `client` with `arg_bytes` of arguments go ahead (the
    /// `mcp_admit` hook)? `Err` says why not.
    fn admit(&mut self, _tool: &str, _client: u32, _arg_bytes: usize) -> Result<(), String> {
        Ok(())
    }
}

/// The port server.
pub struct Port {
    endpoint: Endpoint,
    /// When the last valid frame arrived (console text is ignored around frames).
    last_frame_ms: Option<u64>,
    frames_seen: u64,
    /// Sessions opened by a Hello since boot; doubles as the client id for `mcp_admit`.
    sessions: u32,
}

impl Default for Port {
    fn default() -> Self {
        Self::new()
    }
}

/// How long after a valid frame console text is ignored (it is most likely frame debris).
pub const CONSOLE_QUIET_MS: u64 = 5_000;

/// The link settings of the port (shared with the host client).
pub const LINK_CONFIG: Config = Config::PORT;

impl Port {
    pub fn new() -> Self {
        Self { endpoint: Endpoint::new(LINK_CONFIG), last_frame_ms: None, frames_seen: 0, sessions: 0 }
    }

    /// Feeds bytes received on the line.
    pub fn handle_bytes(&mut self, bytes: &[u8], now_ms: u64) {
        self.endpoint.handle_bytes(bytes, now_ms);
        let frames = self.endpoint.stats().rx.frames;
        if frames != self.frames_seen {
            self.frames_seen = frames;
            self.last_frame_ms = Some(now_ms);
        }
    }

    /// True while a host holds a session or frames arrived recently: the console stays quiet
    /// and log lines go out as log frames.
    pub fn framed(&self, now_ms: u64) -> bool {
        self.endpoint.is_open() || self.last_frame_ms.is_some_and(|t| now_ms < t + CONSOLE_QUIET_MS)
    }

    /// A session with a host is open.
    pub fn in_session(&self) -> bool {
        self.endpoint.is_open()
    }

    /// Link and session counters.
    pub fn stats(&self) -> LinkStats {
        self.endpoint.stats()
    }

    /// Queues a log line on the log channel.
    pub fn log(&mut self, level: LogLevel, text: &str) {
        let _ = self.endpoint.send_log(level, text);
    }

    /// The next frame to write to the line.
    pub fn poll_transmit(&mut self, now_ms: u64) -> Option<&[u8]> {
        self.endpoint.poll_transmit(now_ms)
    }

    /// When to run again even if no byte arrives.
    pub fn poll_timeout(&self) -> Option<u64> {
        self.endpoint.poll_timeout()
    }

    /// Answers every request that has arrived.
    pub fn serve(&mut self, services: &mut impl Services) {
        while let Some(event) = self.endpoint.poll_event() {
            let reply = match event {
                Event::SessionReset => {
                    self.sessions = self.sessions.wrapping_add(1);
                    None
                }
                Event::Message { message, .. } => self.answer(message, services),
                Event::BadMessage { error, .. } => {
                    Some(Message::Error { id: None, code: error_code::INVALID_REQUEST, message: error.to_string() })
                }
                _ => None,
            };
            if let Some(reply) = reply {
                // A full queue means the host stopped reading; it will time out and retry.
                let _ = self.endpoint.send(&reply);
            }
        }
    }

    fn answer(&mut self, message: Message, services: &mut impl Services) -> Option<Message> {
        Some(match message {
            Message::Hello(_) => Message::HelloAck(PeerInfo {
                protocol_version: MESSAGE_VERSION,
                capabilities: Capabilities::TOOLS.with(Capabilities::RESOURCES).with(Capabilities::LOGGING),
                name: "kingly".to_string(),
                version: services.kernel_info().version.to_string(),
                build_hash: services.kernel_info().build_hash.to_string(),
                max_message_bytes: self.endpoint.config().max_message_bytes as u32,
            }),
            Message::Ping { id } => Message::Pong { id },
            Message::ListTools { id } => {
                let mut list = tools::builtin();
                list.extend(services.extra_tools());
                Message::ListToolsResult { id, tools: list }
            }
            Message::CallTool(call) => self.call(call, services),
            Message::ListResources { id } => Message::ListResourcesResult { id, resources: resources() },
            Message::ReadResource { id, uri } => match read_resource(&uri, services, &self.stats(), self.sessions) {
                Some(bytes) => Message::ReadResourceResult {
                    id,
                    contents: alloc::vec![ResourceContents { uri, content: Content::Reply(bytes) }],
                },
                None => Message::Error {
                    id: Some(id),
                    code: error_code::RESOURCE_NOT_FOUND,
                    message: alloc::format!("no resource {uri}; see resources/list"),
                },
            },
            // Calls finish before the next request is read: nothing to cancel.
            Message::Cancel { .. } => return None,
            Message::HelloAck(_)
            | Message::ListToolsResult { .. }
            | Message::CallToolResult(_)
            | Message::ListResourcesResult { .. }
            | Message::ReadResourceResult { .. }
            | Message::Progress { .. }
            | Message::Log { .. }
            | Message::Pong { .. }
            | Message::Error { .. } => return None,
        })
    }

    fn call(&mut self, call: CallTool, services: &mut impl Services) -> Message {
        let id = call.id;
        let client = self.sessions;
        let arg_bytes = call.args.len();
        // `bpf_detach` is never refused, so that a broken admission policy can be removed.
        let admitted = if call.name == "bpf_detach" { Ok(()) } else { services.admit(&call.name, client, arg_bytes) };
        if let Err(reason) = admitted {
            return result(id, alloc::vec![Content::Text(alloc::format!("denied by mcp_admit: {reason}"))], true);
        }
        let outcome = match tools::call_builtin(&call.name, &call.args, services, &self.stats(), self.sessions) {
            Some(outcome) => outcome,
            None => match services.call_extra(&call.name, &call.args, client) {
                Some(outcome) => outcome,
                None => {
                    return Message::Error {
                        id: Some(id),
                        code: error_code::INVALID_PARAMS,
                        message: alloc::format!("unknown tool '{}'; see tools/list", call.name),
                    }
                }
            },
        };
        match outcome {
            ToolOutcome::Done(content) => result(id, content, false),
            ToolOutcome::Failed(reason) => result(id, alloc::vec![Content::Text(reason)], true),
            ToolOutcome::BadArguments(reason) => {
                Message::Error { id: Some(id), code: error_code::INVALID_PARAMS, message: reason }
            }
        }
    }
}

fn result(id: kingly_proto::RequestId, content: Vec<Content>, is_error: bool) -> Message {
    Message::CallToolResult(CallToolResult { id, content, is_error })
}

/// The resources every kernel offers (`kingly_proto::contract::RESOURCES`); each holds the
/// result of the tool of the same facts.
pub fn resources() -> Vec<ResourceDescriptor> {
    kingly_proto::contract::RESOURCES
        .iter()
        .map(|(uri, name, description, _)| ResourceDescriptor {
            uri: uri.to_string(),
            name: name.to_string(),
            description: description.to_string(),
            mime_type: "application/json".to_string(),
        })
        .collect()
}

fn read_resource(uri: &str, services: &impl Services, link: &LinkStats, session: u32) -> Option<Vec<u8>> {
    use kingly_proto::contract::encode;
    match uri {
        "kingly://kernel/info" => Some(encode(&tools::kernel_info(&services.kernel_info()))),
        "kingly://uart/stats" => Some(encode(&tools::uart_stats(&services.uart_counters(), link, session))),
        "kingly://cache/stats" => Some(encode(&tools::cache_stats(&services.cache_stats()))),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
