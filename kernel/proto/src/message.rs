//! MCP-shaped messages carried in frame payloads (postcard-encoded).
//!
//! Each variant maps one-to-one onto a Model Context Protocol method or notification
//! ([`Message::mcp_method`]), so the host bridge only translates JSON to these types.
//! Postcard encodes an enum by variant index: **append new variants and fields at the end
//! only**, and bump [`crate::PROTOCOL_VERSION`] for anything else.
//!
//! # Resources
//! - MCP specification, revision 2025-11-25: `initialize`, `tools/*`, `resources/*`,
//!   `notifications/progress`, `notifications/cancelled`, `notifications/message`, `ping`.
//! - JSON-RPC 2.0 §5.1 for the error codes in [`error_code`].

use alloc::string::String;
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

use crate::ProtoError;

/// Version of the messages and the [`crate::contract`] types, announced in Hello and HelloAck
/// ([`PeerInfo::protocol_version`]). 2: typed tool arguments and results replaced JSON text.
pub const MESSAGE_VERSION: u16 = 2;

/// Request identifier, chosen by the requester, echoed by the response.
pub type RequestId = u32;

/// Feature bits a peer announces in Hello / HelloAck.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Capabilities(pub u32);

impl Capabilities {
    /// Serves `ListTools` / `CallTool`.
    pub const TOOLS: Self = Self(1 << 0);
    /// Serves `ListResources` / `ReadResource`.
    pub const RESOURCES: Self = Self(1 << 1);
    /// Sends `Log` on the log channel.
    pub const LOGGING: Self = Self(1 << 2);
    /// Sends `Progress` for long calls.
    pub const PROGRESS: Self = Self(1 << 3);
    /// Honours `Cancel`.
    pub const CANCEL: Self = Self(1 << 4);

    /// Whether every bit of `other` is set.
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// Union of two sets.
    #[must_use]
    pub const fn with(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }
}

/// Who a peer is; the body of Hello (≈ MCP `initialize`) and HelloAck (its result).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerInfo {
    /// Message-level protocol version the peer speaks ([`MESSAGE_VERSION`]).
    pub protocol_version: u16,
    /// What the peer offers.
    pub capabilities: Capabilities,
    /// Program name (MCP `clientInfo.name` / `serverInfo.name`).
    pub name: String,
    /// Program version.
    pub version: String,
    /// Build identifier, e.g. the git commit.
    pub build_hash: String,
    /// Largest message the peer accepts, in bytes.
    pub max_message_bytes: u32,
}

/// One entry of a `ListTools` result (MCP `Tool`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolDescriptor {
    /// Unique tool name, e.g. `kernel_info`.
    pub name: String,
    /// What the tool does, for the model that picks it. Arguments and results are the types of
    /// [`crate::contract`]; the host derives the JSON schemas from them.
    pub description: String,
}

/// Arguments of a tool call: the tool's typed request ([`crate::contract`]), postcard-encoded,
/// and raw bytes beside it (bytecode, a `tool` program's input).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolArgs {
    /// Postcard bytes of the tool's argument type (empty for `tool` programs).
    pub request: Vec<u8>,
    /// The attachment.
    pub attachment: Vec<u8>,
}

impl ToolArgs {
    /// Only an attachment (a `tool` program's input, or a test's payload).
    pub fn bytes(attachment: Vec<u8>) -> Self {
        Self { request: Vec::new(), attachment }
    }

    /// Bytes carried in all.
    pub fn len(&self) -> usize {
        self.request.len() + self.attachment.len()
    }

    /// Whether both parts are empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// `CallTool` request (MCP `tools/call`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallTool {
    /// Request id.
    pub id: RequestId,
    /// Tool name.
    pub name: String,
    /// Arguments.
    pub args: ToolArgs,
}

/// One item of a tool result or resource (MCP content block).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Content {
    /// Human-readable text (MCP `text`).
    Text(String),
    /// JSON text; the bridge also offers it as `structuredContent`.
    Json(String),
    /// Binary data (MCP `blob`, base64 on the JSON side).
    Bytes {
        /// MIME type, e.g. `application/octet-stream`.
        mime_type: String,
        /// The data.
        data: Vec<u8>,
    },
    /// A tool's typed result ([`crate::contract`]), postcard-encoded; what the kernel sends
    /// where a result has structure. The host renders it as [`Content::Json`].
    Reply(Vec<u8>),
}

/// `CallToolResult` (MCP `CallToolResult`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallToolResult {
    /// Id of the request answered.
    pub id: RequestId,
    /// Result items.
    pub content: Vec<Content>,
    /// The tool ran and failed (a tool error, not a protocol error).
    pub is_error: bool,
}

/// One entry of a `ListResources` result (MCP `Resource`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceDescriptor {
    /// URI, e.g. `kingly://uart/stats`.
    pub uri: String,
    /// Short name.
    pub name: String,
    /// What it holds.
    pub description: String,
    /// MIME type of its contents.
    pub mime_type: String,
}

/// Contents of one resource (MCP `ResourceContents`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceContents {
    /// URI read.
    pub uri: String,
    /// Its contents.
    pub content: Content,
}

/// Severity of a log line (MCP `LoggingLevel`, RFC 5424 order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum LogLevel {
    /// `debug`.
    Debug,
    /// `info`.
    Info,
    /// `notice`.
    Notice,
    /// `warning`.
    Warning,
    /// `error`.
    Error,
    /// `critical`.
    Critical,
    /// `alert`.
    Alert,
    /// `emergency`.
    Emergency,
}

impl LogLevel {
    /// The MCP spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Debug => "debug",
            Self::Info => "info",
            Self::Notice => "notice",
            Self::Warning => "warning",
            Self::Error => "error",
            Self::Critical => "critical",
            Self::Alert => "alert",
            Self::Emergency => "emergency",
        }
    }
}

/// JSON-RPC error codes used in [`Message::Error`].
pub mod error_code {
    /// Invalid JSON / undecodable message.
    pub const PARSE_ERROR: i32 = -32700;
    /// Not a valid request.
    pub const INVALID_REQUEST: i32 = -32600;
    /// Unknown method or unknown tool.
    pub const METHOD_NOT_FOUND: i32 = -32601;
    /// Bad arguments.
    pub const INVALID_PARAMS: i32 = -32602;
    /// Internal error.
    pub const INTERNAL_ERROR: i32 = -32603;
    /// MCP: resource not found.
    pub const RESOURCE_NOT_FOUND: i32 = -32002;
}

/// Everything that travels in a frame payload.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Message {
    /// Opens a session (MCP `initialize`); sent by [`crate::Endpoint::connect`].
    Hello(PeerInfo),
    /// Answers Hello (the `initialize` result).
    HelloAck(PeerInfo),
    /// MCP `tools/list`.
    ListTools {
        /// Request id.
        id: RequestId,
    },
    /// Result of `ListTools`.
    ListToolsResult {
        /// Id of the request answered.
        id: RequestId,
        /// The tools.
        tools: Vec<ToolDescriptor>,
    },
    /// MCP `tools/call`.
    CallTool(CallTool),
    /// Result of `CallTool`.
    CallToolResult(CallToolResult),
    /// MCP `resources/list`.
    ListResources {
        /// Request id.
        id: RequestId,
    },
    /// Result of `ListResources`.
    ListResourcesResult {
        /// Id of the request answered.
        id: RequestId,
        /// The resources.
        resources: Vec<ResourceDescriptor>,
    },
    /// MCP `resources/read`.
    ReadResource {
        /// Request id.
        id: RequestId,
        /// URI to read.
        uri: String,
    },
    /// Result of `ReadResource`.
    ReadResourceResult {
        /// Id of the request answered.
        id: RequestId,
        /// What was read.
        contents: Vec<ResourceContents>,
    },
    /// MCP `notifications/progress` for request `id`.
    Progress {
        /// Request the progress belongs to.
        id: RequestId,
        /// Units done.
        done: u64,
        /// Units in all, when known.
        total: Option<u64>,
    },
    /// MCP `notifications/cancelled`.
    Cancel {
        /// Request to cancel.
        id: RequestId,
    },
    /// MCP `notifications/message`; always on the log channel, one frame each.
    Log {
        /// Severity.
        level: LogLevel,
        /// The line.
        text: String,
    },
    /// MCP `ping`.
    Ping {
        /// Request id.
        id: RequestId,
    },
    /// Answer to `Ping`.
    Pong {
        /// Id of the ping answered.
        id: RequestId,
    },
    /// A protocol error (JSON-RPC error response); `id` is absent when the request was unreadable.
    Error {
        /// Id of the request answered, if known.
        id: Option<RequestId>,
        /// A code from [`error_code`].
        code: i32,
        /// One-line explanation.
        message: String,
    },
}

impl Message {
    /// Postcard bytes of this message.
    pub fn encode(&self) -> Result<Vec<u8>, ProtoError> {
        postcard::to_allocvec(self).map_err(|_| ProtoError::Encode)
    }

    /// Decodes exactly one message from `bytes`.
    pub fn decode(bytes: &[u8]) -> Result<Self, ProtoError> {
        let (message, rest) = postcard::take_from_bytes(bytes).map_err(|_| ProtoError::Decode)?;
        if !rest.is_empty() {
            return Err(ProtoError::TrailingBytes);
        }
        Ok(message)
    }

    /// The MCP method (request or notification) this message corresponds to, if any;
    /// results, `Pong` and `Error` are responses and have none.
    pub const fn mcp_method(&self) -> Option<&'static str> {
        match self {
            Self::Hello(_) => Some("initialize"),
            Self::ListTools { .. } => Some("tools/list"),
            Self::CallTool(_) => Some("tools/call"),
            Self::ListResources { .. } => Some("resources/list"),
            Self::ReadResource { .. } => Some("resources/read"),
            Self::Progress { .. } => Some("notifications/progress"),
            Self::Cancel { .. } => Some("notifications/cancelled"),
            Self::Log { .. } => Some("notifications/message"),
            Self::Ping { .. } => Some("ping"),
            Self::HelloAck(_)
            | Self::ListToolsResult { .. }
            | Self::CallToolResult(_)
            | Self::ListResourcesResult { .. }
            | Self::ReadResourceResult { .. }
            | Self::Pong { .. }
            | Self::Error { .. } => None,
        }
    }

    /// The request id a request, response or progress notification carries.
    pub const fn request_id(&self) -> Option<RequestId> {
        match self {
            Self::ListTools { id }
            | Self::ListToolsResult { id, .. }
            | Self::ListResources { id }
            | Self::ListResourcesResult { id, .. }
            | Self::ReadResource { id, .. }
            | Self::ReadResourceResult { id, .. }
            | Self::Progress { id, .. }
            | Self::Cancel { id }
            | Self::Ping { id }
            | Self::Pong { id }
            | Self::CallTool(CallTool { id, .. })
            | Self::CallToolResult(CallToolResult { id, .. }) => Some(*id),
            Self::Error { id, .. } => *id,
            Self::Hello(_) | Self::HelloAck(_) | Self::Log { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use alloc::vec;

    #[test]
    fn call_tool_round_trips_and_rejects_trailing_bytes() {
        let message = Message::CallTool(CallTool {
            id: 7,
            name: "bpf_load".to_string(),
            args: ToolArgs { request: vec![1, 2], attachment: vec![0x95, 0, 0, 0] },
        });
        let mut bytes = message.encode().expect("encodes");
        assert_eq!(Message::decode(&bytes), Ok(message));
        bytes.push(0);
        assert_eq!(Message::decode(&bytes), Err(ProtoError::TrailingBytes));
    }

    #[test]
    fn garbage_and_truncation_are_decode_errors() {
        let bytes = Message::Ping { id: 300 }.encode().expect("encodes");
        assert_eq!(Message::decode(&bytes[..bytes.len() - 1]), Err(ProtoError::Decode));
        assert_eq!(Message::decode(&[0xff, 0xff, 0xff]), Err(ProtoError::Decode));
        // A length prefix far beyond the input must fail, not allocate.
        assert_eq!(Message::decode(&[3, 0xff, 0xff, 0xff, 0xff, 0x0f]), Err(ProtoError::Decode));
    }

    #[test]
    fn bytes_are_carried_without_per_byte_overhead() {
        let message = Message::CallTool(CallTool {
            id: 1,
            name: "bpf_load".to_string(),
            args: ToolArgs { request: vec![], attachment: vec![0xab; 65536] },
        });
        let overhead = message.encode().expect("encodes").len() - 65536;
        assert!(overhead < 16, "overhead {overhead}");
    }

    #[test]
    fn requests_map_to_mcp_methods() {
        assert_eq!(Message::ListTools { id: 1 }.mcp_method(), Some("tools/list"));
        assert_eq!(Message::Cancel { id: 1 }.request_id(), Some(1));
        assert_eq!(Message::Pong { id: 1 }.mcp_method(), None);
    }
}
