//! Kingly's wire protocol, shared by the kernel's message port and the host client.
//!
//! Four layers, each in its own module, each usable alone:
//!
//! 1. [`frame`]: one frame is `COBS(header ‖ postcard payload ‖ CRC-32C) ‖ 0x00`, at most
//!    1 KiB on the wire. The header names a [`Channel`] (control, log, data) and carries
//!    seq/ack and [`Flags`].
//! 2. [`accumulator`]: bytes from the UART (frames, console text, noise) in, checked frames
//!    out; resynchronises on `0x00`, never allocates, counts what it threw away.
//! 3. [`message`]: postcard-encoded messages shaped like MCP requests, results and
//!    notifications, so the JSON-RPC bridge on the host is a mechanical translation.
//! 4. [`session`]: the sans-IO [`Endpoint`]: go-back-N reliability with a window, chunking
//!    of payloads up to 64 KiB with progress, session reset on Hello, logs best effort.
//!
//! Above them, [`contract`]: every kernel tool's arguments and result as types, which the
//! kernel decodes and the host's JSON bridge converts. Beside them, [`bootargs`] (the options
//! area the host patches into a kernel image), [`chainload`] (the serial chainloader's upload) and [`line_rate`] (the rate
//! the SD card asks the loader for) use the frames without the session.
//!
//! Design rules: no clocks and no I/O inside (time comes in as `now_ms`); bounded memory
//! everywhere; any byte sequence from the line is a valid input that never panics;
//! simple and clear algorithms over fast and clever.
#![cfg_attr(not(any(test, feature = "json")), no_std)]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

pub mod accumulator;
pub mod bootargs;
pub mod chainload;
pub mod contract;
mod error;
pub mod frame;
pub mod line_rate;
pub mod message;
pub mod session;
pub mod trace;

pub use accumulator::{FrameAccumulator, RxStats};
pub use error::ProtoError;
pub use frame::{
    crc32c, decode_frame, encode_frame, Channel, Flags, Frame, Header, MAX_ENCODED_FRAME_BYTES,
    MAX_FRAME_PAYLOAD_BYTES, PROTOCOL_VERSION,
};
pub use message::{
    error_code, CallTool, CallToolResult, Capabilities, Content, LogLevel, Message, PeerInfo, RequestId,
    ResourceContents, ResourceDescriptor, ToolArgs, ToolDescriptor, MESSAGE_VERSION,
};
pub use session::{Config, Endpoint, Event, LinkStats, MessageToken, SessionStats, MAX_PAYLOAD_BYTES};
