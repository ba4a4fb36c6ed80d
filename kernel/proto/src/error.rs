//! The one error type of the protocol crate.

use core::fmt;

/// Everything that can go wrong while framing, decoding or running a session.
///
/// `Copy` and allocation-free so the kernel can count, log and return it anywhere.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProtoError {
    /// A frame's payload is larger than [`crate::MAX_FRAME_PAYLOAD_BYTES`].
    PayloadTooLarge,
    /// The output buffer cannot hold the encoded frame.
    BufferTooSmall,
    /// More than [`crate::MAX_ENCODED_FRAME_BYTES`] arrived without a `0x00` delimiter.
    FrameTooLarge,
    /// The bytes between two delimiters are not valid COBS.
    Cobs,
    /// The decoded frame is shorter than a header plus a CRC.
    Runt,
    /// The CRC-32C at the end of the frame does not match its contents.
    Crc,
    /// The frame speaks another protocol version.
    Version {
        /// The version byte that arrived.
        found: u8,
    },
    /// The channel byte names no known channel.
    Channel {
        /// The channel byte that arrived.
        found: u8,
    },
    /// The flags byte has bits this version does not define, or a combination it forbids.
    Flags {
        /// The flags byte that arrived.
        found: u8,
    },
    /// A postcard payload did not decode into a message.
    Decode,
    /// A message did not encode (only possible with a broken serde impl).
    Encode,
    /// A message decoded but left bytes unread.
    TrailingBytes,
    /// A message is larger than the configured maximum.
    MessageTooLarge,
    /// A fragment arrived out of place inside a chunked message.
    Fragment,
    /// The transmit queue is full; try again after the peer has acknowledged more.
    QueueFull,
    /// No session is open: the host must `connect` first, the kernel must wait for a Hello.
    NotConnected,
    /// The peer answered with a reset: it holds no session for us (it rebooted or restarted).
    PeerReset,
    /// The peer stopped acknowledging: the retransmission limit was reached.
    RetransmitLimit,
    /// The allocator refused memory for a reassembly buffer.
    OutOfMemory,
}

impl fmt::Display for ProtoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::PayloadTooLarge => f.write_str("frame payload exceeds the 1 KiB frame limit"),
            Self::BufferTooSmall => f.write_str("output buffer too small for the encoded frame"),
            Self::FrameTooLarge => f.write_str("frame exceeds 1 KiB before its delimiter"),
            Self::Cobs => f.write_str("frame is not valid COBS"),
            Self::Runt => f.write_str("frame too short to hold a header and a CRC"),
            Self::Crc => f.write_str("frame CRC-32C mismatch"),
            Self::Version { found } => write!(f, "unsupported protocol version {found}"),
            Self::Channel { found } => write!(f, "unknown channel {found}"),
            Self::Flags { found } => write!(f, "invalid frame flags {found:#04x}"),
            Self::Decode => f.write_str("payload does not decode as a message"),
            Self::Encode => f.write_str("message failed to encode"),
            Self::TrailingBytes => f.write_str("message followed by unread bytes"),
            Self::MessageTooLarge => f.write_str("message exceeds the maximum message size"),
            Self::Fragment => f.write_str("fragment out of place in a chunked message"),
            Self::QueueFull => f.write_str("transmit queue full"),
            Self::NotConnected => f.write_str("no session open"),
            Self::PeerReset => f.write_str("peer reset the session"),
            Self::RetransmitLimit => f.write_str("peer stopped acknowledging frames"),
            Self::OutOfMemory => f.write_str("out of memory for a message buffer"),
        }
    }
}

impl core::error::Error for ProtoError {}
