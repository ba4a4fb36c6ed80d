//! One frame on the wire: `COBS(header ‖ payload ‖ CRC-32C) ‖ 0x00`.
//!
//! The header is seven fixed bytes (little-endian), not postcard, so a receiver can check
//! it before touching the payload:
//!
//! | byte | field | meaning |
//! | --- | --- | --- |
//! | 0 | version | [`PROTOCOL_VERSION`] |
//! | 1 | channel | [`Channel`] |
//! | 2 | flags | [`Flags`] |
//! | 3–4 | seq | sequence number of a reliable frame |
//! | 5–6 | ack | next sequence number the sender expects (valid with [`Flags::ACK`]) |
//!
//! The CRC-32C (Castagnoli) covers header and payload and is stored little-endian.
//!
//! # Resources
//! - COBS: Cheshire & Baker, "Consistent Overhead Byte Stuffing", IEEE/ACM ToN 1999.
//! - CRC-32C: RFC 3720 §B.4 (iSCSI); Hamming distance 6 up to ~5 kbit, so every frame here
//!   (≤ 8.2 kbit) detects all errors of up to 3 bits and all bursts up to 32 bits.

use crate::ProtoError;

/// Version byte carried by every frame.
pub const PROTOCOL_VERSION: u8 = 1;
/// Bytes of the fixed header.
pub const HEADER_BYTES: usize = 7;
/// Bytes of the trailing CRC-32C.
pub const CRC_BYTES: usize = 4;
/// Most bytes one frame takes on the wire: an optional leading `0x00`, the COBS bytes and
/// the closing `0x00`.
pub const MAX_ENCODED_FRAME_BYTES: usize = 1024;
/// Largest frame before COBS, which adds one byte per 254 (5 here); two delimiters follow.
pub const MAX_RAW_FRAME_BYTES: usize = 1017;
/// Largest payload one frame carries.
pub const MAX_FRAME_PAYLOAD_BYTES: usize = MAX_RAW_FRAME_BYTES - HEADER_BYTES - CRC_BYTES;

const _: () = assert!(cobs::max_encoding_length(MAX_RAW_FRAME_BYTES) + 2 <= MAX_ENCODED_FRAME_BYTES);
const _: () = assert!(cobs::max_encoding_length(MAX_RAW_FRAME_BYTES + 1) + 2 > MAX_ENCODED_FRAME_BYTES);

const CRC32C: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI);

/// CRC-32C of `bytes`.
pub fn crc32c(bytes: &[u8]) -> u32 {
    CRC32C.checksum(bytes)
}

/// Logical stream a frame belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Channel {
    /// Requests, responses and notifications; reliable, small messages first.
    Control = 0,
    /// Kernel log lines; best effort, one message per frame, never split.
    Log = 1,
    /// Messages too large for one frame; reliable, chunked, yields to control traffic.
    Data = 2,
}

impl Channel {
    /// The channel with wire value `byte`.
    pub fn from_byte(byte: u8) -> Result<Self, ProtoError> {
        match byte {
            0 => Ok(Self::Control),
            1 => Ok(Self::Log),
            2 => Ok(Self::Data),
            found => Err(ProtoError::Channel { found }),
        }
    }
}

/// The flags byte of a header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Flags(pub u8);

impl Flags {
    /// `ack` is valid: every frame `< ack` has been received in order.
    pub const ACK: Self = Self(0x01);
    /// Reliable frame: `seq` is valid, the peer acknowledges it and delivers it in order.
    pub const SEQ: Self = Self(0x02);
    /// First fragment of a message.
    pub const START: Self = Self(0x04);
    /// More fragments of this message follow.
    pub const MORE: Self = Self(0x08);
    /// Opens a session: `seq` is the sender's initial sequence number.
    pub const SYN: Self = Self(0x10);
    /// "I hold no session for you": `ack` repeats the rejected `seq`.
    pub const RST: Self = Self(0x20);
    /// Every bit this version defines.
    pub const KNOWN: Self = Self(0x3f);

    /// Whether every bit of `other` is set.
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// Union of two flag sets.
    #[must_use]
    pub const fn with(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }
}

/// The fixed header in front of every payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Protocol version, [`PROTOCOL_VERSION`] when sent.
    pub version: u8,
    /// Stream the frame belongs to.
    pub channel: Channel,
    /// See [`Flags`].
    pub flags: Flags,
    /// Sequence number (reliable frames only).
    pub seq: u16,
    /// Cumulative acknowledgement: the next sequence number expected (with [`Flags::ACK`]).
    pub ack: u16,
}

impl Header {
    /// A header of the current version.
    pub const fn new(channel: Channel, flags: Flags, seq: u16, ack: u16) -> Self {
        Self { version: PROTOCOL_VERSION, channel, flags, seq, ack }
    }

    fn to_bytes(self) -> [u8; HEADER_BYTES] {
        let [seq_lo, seq_hi] = self.seq.to_le_bytes();
        let [ack_lo, ack_hi] = self.ack.to_le_bytes();
        [self.version, self.channel as u8, self.flags.0, seq_lo, seq_hi, ack_lo, ack_hi]
    }

    fn from_bytes(bytes: [u8; HEADER_BYTES]) -> Result<Self, ProtoError> {
        let [version, channel, flags, seq_lo, seq_hi, ack_lo, ack_hi] = bytes;
        if version != PROTOCOL_VERSION {
            return Err(ProtoError::Version { found: version });
        }
        let channel = Channel::from_byte(channel)?;
        let flags = Flags(flags);
        let fragment_bits = Flags::START.with(Flags::MORE).with(Flags::SYN);
        let invalid = flags.0 & !Flags::KNOWN.0 != 0
            // Fragment and session bits only make sense on reliable frames.
            || (flags.0 & fragment_bits.0 != 0 && !flags.contains(Flags::SEQ))
            // Logs are best effort; a reset carries nothing else.
            || (channel == Channel::Log && flags.contains(Flags::SEQ))
            || (flags.contains(Flags::RST) && flags.0 & !(Flags::RST.0 | Flags::ACK.0) != 0);
        if invalid {
            return Err(ProtoError::Flags { found: flags.0 });
        }
        Ok(Self {
            version,
            channel,
            flags,
            seq: u16::from_le_bytes([seq_lo, seq_hi]),
            ack: u16::from_le_bytes([ack_lo, ack_hi]),
        })
    }
}

/// A decoded frame whose payload borrows the receive buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame<'a> {
    /// The checked header.
    pub header: Header,
    /// Postcard bytes (a whole message, or one fragment of a chunked one).
    pub payload: &'a [u8],
}

/// Encodes `header ‖ payload ‖ CRC` with COBS into `out` and appends the `0x00` delimiter.
///
/// Returns the number of bytes written, at most [`MAX_ENCODED_FRAME_BYTES`] - 1.
pub fn encode_frame(header: &Header, payload: &[u8], out: &mut [u8]) -> Result<usize, ProtoError> {
    if payload.len() > MAX_FRAME_PAYLOAD_BYTES {
        return Err(ProtoError::PayloadTooLarge);
    }
    let mut raw = [0u8; MAX_RAW_FRAME_BYTES];
    let crc_at = HEADER_BYTES + payload.len();
    raw[..HEADER_BYTES].copy_from_slice(&header.to_bytes());
    raw[HEADER_BYTES..crc_at].copy_from_slice(payload);
    let crc = crc32c(&raw[..crc_at]);
    raw[crc_at..crc_at + CRC_BYTES].copy_from_slice(&crc.to_le_bytes());
    let raw = &raw[..crc_at + CRC_BYTES];

    let encoded = cobs::try_encode(raw, out).map_err(|_| ProtoError::BufferTooSmall)?;
    let delimiter = out.get_mut(encoded).ok_or(ProtoError::BufferTooSmall)?;
    *delimiter = 0;
    Ok(encoded + 1)
}

/// Checks and splits a COBS-decoded frame (delimiter already removed).
pub fn decode_raw(raw: &[u8]) -> Result<Frame<'_>, ProtoError> {
    if raw.len() < HEADER_BYTES + CRC_BYTES {
        return Err(ProtoError::Runt);
    }
    let (covered, crc_bytes) = raw.split_at(raw.len() - CRC_BYTES);
    let mut stored = [0u8; CRC_BYTES];
    stored.copy_from_slice(crc_bytes);
    if crc32c(covered) != u32::from_le_bytes(stored) {
        return Err(ProtoError::Crc);
    }
    let (header_bytes, payload) = covered.split_at(HEADER_BYTES);
    let mut header = [0u8; HEADER_BYTES];
    header.copy_from_slice(header_bytes);
    Ok(Frame { header: Header::from_bytes(header)?, payload })
}

/// Decodes one COBS frame in place (`encoded` without its delimiter) and checks it.
pub fn decode_frame(encoded: &mut [u8]) -> Result<Frame<'_>, ProtoError> {
    let raw_len = cobs::decode_in_place(encoded).map_err(|_| ProtoError::Cobs)?;
    let raw = encoded.get(..raw_len).ok_or(ProtoError::Cobs)?;
    decode_raw(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(header: &Header, payload: &[u8]) -> alloc::vec::Vec<u8> {
        let mut out = [0u8; MAX_ENCODED_FRAME_BYTES];
        let n = encode_frame(header, payload, &mut out).expect("frame fits");
        out[..n].to_vec()
    }

    #[test]
    fn crc32c_matches_the_rfc_3720_check_value() {
        assert_eq!(crc32c(b"123456789"), 0xe306_9283);
    }

    #[test]
    fn round_trip_keeps_header_and_payload() {
        let header = Header::new(Channel::Data, Flags::SEQ.with(Flags::ACK), 0xbeef, 0x1234);
        let mut wire = encode(&header, b"\0payload\0with zeros\0");
        assert_eq!(wire.last(), Some(&0));
        assert!(!wire[..wire.len() - 1].contains(&0), "COBS leaves no zero inside");
        let len = wire.len() - 1;
        let frame = decode_frame(&mut wire[..len]).expect("valid frame");
        assert_eq!(frame.header, header);
        assert_eq!(frame.payload, b"\0payload\0with zeros\0");
    }

    #[test]
    fn largest_payload_without_zeros_fits_in_one_kib() {
        let payload = [0xa5u8; MAX_FRAME_PAYLOAD_BYTES];
        let header = Header::new(Channel::Data, Flags::SEQ, u16::MAX, u16::MAX);
        assert!(encode(&header, &payload).len() < MAX_ENCODED_FRAME_BYTES);
        let too_big = [0xa5u8; MAX_FRAME_PAYLOAD_BYTES + 1];
        let mut out = [0u8; MAX_ENCODED_FRAME_BYTES];
        assert_eq!(encode_frame(&header, &too_big, &mut out), Err(ProtoError::PayloadTooLarge));
    }

    #[test]
    fn every_single_bit_flip_is_detected() {
        let header = Header::new(Channel::Control, Flags::SEQ, 7, 9);
        let wire = encode(&header, b"hello kernel");
        for byte in 0..wire.len() - 1 {
            for bit in 0..8 {
                let mut corrupt = wire.clone();
                corrupt[byte] ^= 1 << bit;
                let end = corrupt.iter().position(|&b| b == 0).unwrap_or(corrupt.len());
                if let Ok(frame) = decode_frame(&mut corrupt[..end]) {
                    panic!("flip of bit {bit} in byte {byte} went undetected: {frame:?}");
                }
            }
        }
    }

    #[test]
    fn header_checks_reject_what_the_version_does_not_define() {
        let cases = [
            (
                Header { version: 2, ..Header::new(Channel::Control, Flags::SEQ, 0, 0) },
                ProtoError::Version { found: 2 },
            ),
            (Header::new(Channel::Control, Flags(0x40), 0, 0), ProtoError::Flags { found: 0x40 }),
            (Header::new(Channel::Log, Flags::SEQ, 0, 0), ProtoError::Flags { found: 0x02 }),
            (Header::new(Channel::Control, Flags::START, 0, 0), ProtoError::Flags { found: 0x04 }),
            (Header::new(Channel::Control, Flags::RST.with(Flags::SEQ), 0, 0), ProtoError::Flags { found: 0x22 }),
        ];
        for (header, error) in cases {
            let mut wire = encode(&header, b"x");
            let len = wire.len() - 1;
            assert_eq!(decode_frame(&mut wire[..len]), Err(error), "{header:?}");
        }
        let mut raw = Header::new(Channel::Control, Flags::default(), 0, 0).to_bytes().to_vec();
        raw[1] = 9;
        let crc = crc32c(&raw);
        raw.extend_from_slice(&crc.to_le_bytes());
        assert_eq!(decode_raw(&raw), Err(ProtoError::Channel { found: 9 }));
    }

    #[test]
    fn short_and_malformed_input_is_an_error() {
        assert_eq!(decode_raw(&[1, 2, 3]), Err(ProtoError::Runt));
        assert_eq!(decode_frame(&mut []), Err(ProtoError::Cobs));
        assert_eq!(decode_frame(&mut [5, 1, 1]), Err(ProtoError::Cobs));
    }
}
