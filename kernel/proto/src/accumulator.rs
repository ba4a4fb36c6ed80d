//! Streaming frame accumulator: arbitrary bytes in, checked frames out.
//!
//! The serial line carries frames, plain-text console output and, on a bad day, noise. The
//! accumulator keeps at most one frame's worth of bytes (a fixed array, no allocation),
//! treats every `0x00` as a frame boundary, and on any error drops the bytes back to the
//! last boundary and resynchronises on the next one. It never panics on any input.

use crate::frame::{decode_frame, Frame, MAX_ENCODED_FRAME_BYTES};
use crate::ProtoError;

/// Receive-side counters; they feed the kernel's `uart_stats` tool.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RxStats {
    /// Bytes fed in, delimiters and noise included.
    pub bytes: u64,
    /// Frames that passed every check.
    pub frames: u64,
    /// Frames whose CRC-32C did not match.
    pub crc_errors: u64,
    /// Chunks that were not valid COBS or too short to be a frame (not the UART's
    /// 8N1 framing errors, which the driver counts).
    pub cobs_errors: u64,
    /// Chunks longer than [`MAX_ENCODED_FRAME_BYTES`].
    pub oversize_frames: u64,
    /// Frames with a good CRC but a version, channel or flags this build does not accept.
    pub header_errors: u64,
    /// Times the accumulator threw bytes away and picked up again at the next delimiter.
    pub resyncs: u64,
}

/// Collects bytes up to each `0x00` and decodes them as one frame.
pub struct FrameAccumulator {
    /// COBS bytes of the frame in progress (the delimiter is never stored).
    buffer: [u8; MAX_ENCODED_FRAME_BYTES - 1],
    length: usize,
    /// Dropping an oversize chunk until the next delimiter.
    discarding: bool,
    stats: RxStats,
}

impl Default for FrameAccumulator {
    fn default() -> Self {
        Self::new()
    }
}

impl FrameAccumulator {
    /// An empty accumulator, waiting for the first delimiter or frame byte.
    pub const fn new() -> Self {
        Self {
            buffer: [0; MAX_ENCODED_FRAME_BYTES - 1],
            length: 0,
            discarding: false,
            stats: RxStats {
                bytes: 0,
                frames: 0,
                crc_errors: 0,
                cobs_errors: 0,
                oversize_frames: 0,
                header_errors: 0,
                resyncs: 0,
            },
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> RxStats {
        self.stats
    }

    /// Forgets a partial frame (the counters stay).
    pub fn clear(&mut self) {
        self.length = 0;
        self.discarding = false;
    }

    /// Consumes bytes from the front of `input` until a frame boundary and returns what it
    /// ended, or `None` once `input` is empty. Empty chunks (two delimiters in a row) are
    /// skipped silently: senders use a leading `0x00` to cut off preceding console text.
    ///
    /// ```
    /// # use kingly_proto::{FrameAccumulator, encode_frame, Header, Channel, Flags};
    /// let mut wire = b"console text\n\0".to_vec();
    /// let mut frame = [0u8; 1024];
    /// let n = encode_frame(&Header::new(Channel::Control, Flags::ACK, 0, 3), b"", &mut frame).unwrap();
    /// wire.extend_from_slice(&frame[..n]);
    ///
    /// let mut accumulator = FrameAccumulator::new();
    /// let mut input = &wire[..];
    /// let mut frames = 0;
    /// while let Some(result) = accumulator.push(&mut input) {
    ///     if let Ok(frame) = result {
    ///         assert_eq!(frame.header.ack, 3);
    ///         frames += 1;
    ///     }
    /// }
    /// assert_eq!(frames, 1);
    /// assert_eq!(accumulator.stats().resyncs, 1); // the console text
    /// ```
    pub fn push<'a>(&'a mut self, input: &mut &[u8]) -> Option<Result<Frame<'a>, ProtoError>> {
        while let Some((&byte, rest)) = input.split_first() {
            *input = rest;
            self.stats.bytes += 1;
            if byte != 0 {
                if self.discarding {
                    continue;
                }
                match self.buffer.get_mut(self.length) {
                    Some(slot) => {
                        *slot = byte;
                        self.length += 1;
                    }
                    None => {
                        self.length = 0;
                        self.discarding = true;
                        self.stats.oversize_frames += 1;
                        self.stats.resyncs += 1;
                        return Some(Err(ProtoError::FrameTooLarge));
                    }
                }
                continue;
            }
            if self.discarding {
                self.discarding = false;
                continue;
            }
            if self.length == 0 {
                continue;
            }
            let length = core::mem::take(&mut self.length);
            let stats = &mut self.stats;
            let result = decode_frame(&mut self.buffer[..length]);
            match result {
                Ok(_) => stats.frames += 1,
                Err(error) => {
                    stats.resyncs += 1;
                    match error {
                        ProtoError::Crc => stats.crc_errors += 1,
                        ProtoError::Version { .. } | ProtoError::Channel { .. } | ProtoError::Flags { .. } => {
                            stats.header_errors += 1;
                        }
                        _ => stats.cobs_errors += 1,
                    }
                }
            }
            return Some(result);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{encode_frame, Channel, Flags, Header};
    use alloc::vec::Vec;

    fn frame(seq: u16, payload: &[u8]) -> Vec<u8> {
        let mut out = [0u8; MAX_ENCODED_FRAME_BYTES];
        let header = Header::new(Channel::Control, Flags::SEQ, seq, 0);
        let n = encode_frame(&header, payload, &mut out).expect("fits");
        out[..n].to_vec()
    }

    fn collect(accumulator: &mut FrameAccumulator, mut input: &[u8]) -> Vec<(u16, Vec<u8>)> {
        let mut frames = Vec::new();
        while let Some(result) = accumulator.push(&mut input) {
            if let Ok(frame) = result {
                frames.push((frame.header.seq, frame.payload.to_vec()));
            }
        }
        frames
    }

    #[test]
    fn frames_survive_interleaved_text_and_garbage() {
        let mut wire = Vec::new();
        wire.extend_from_slice(b"kingly ready: board=virt\n\0");
        wire.extend(frame(1, b"one"));
        wire.extend_from_slice(&[0xff, 0x13, 0x37]);
        wire.push(0);
        wire.extend(frame(2, b"two"));
        let mut accumulator = FrameAccumulator::new();
        assert_eq!(collect(&mut accumulator, &wire), [(1, b"one".to_vec()), (2, b"two".to_vec())]);
        let stats = accumulator.stats();
        assert_eq!(stats.bytes, wire.len() as u64);
        assert_eq!((stats.frames, stats.resyncs), (2, 2));
    }

    #[test]
    fn frames_split_at_every_byte_boundary_reassemble() {
        let wire = [frame(5, b"split me"), frame(6, b"")].concat();
        for cut in 0..=wire.len() {
            let mut accumulator = FrameAccumulator::new();
            let mut frames = collect(&mut accumulator, &wire[..cut]);
            frames.extend(collect(&mut accumulator, &wire[cut..]));
            assert_eq!(frames, [(5, b"split me".to_vec()), (6, Vec::new())], "cut at {cut}");
        }
    }

    #[test]
    fn oversize_chunk_is_dropped_and_the_next_frame_is_found() {
        let mut wire = vec![0x41u8; 5000];
        wire.push(0);
        wire.extend(frame(9, b"after"));
        let mut accumulator = FrameAccumulator::new();
        assert_eq!(collect(&mut accumulator, &wire), [(9, b"after".to_vec())]);
        let stats = accumulator.stats();
        assert_eq!((stats.oversize_frames, stats.resyncs, stats.crc_errors), (1, 1, 0));
    }

    #[test]
    fn corrupt_frame_counts_a_crc_error() {
        let mut wire = frame(3, b"payload");
        wire[4] ^= 0x10;
        let mut accumulator = FrameAccumulator::new();
        assert!(collect(&mut accumulator, &wire).is_empty());
        assert_eq!(accumulator.stats().crc_errors + accumulator.stats().cobs_errors, 1);
    }
}
