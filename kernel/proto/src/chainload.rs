//! The serial chainloader's protocol: a kernel image over the same frames as the message port.
//!
//! The loader on the SD card announces itself with one text line, then the host sends
//! frames (each `0x00 ‖ frame`, see [`crate::frame`]), every one answered by a [`Reply`]:
//!
//! | seq | channel | payload | loader does |
//! | --- | --- | --- | --- |
//! | 0 | control | `BEGIN board u8, nonce u32, load_address u64, size u32, crc u32` | checks board, window and size |
//! | 1.. | data | `CHUNK offset u32, bytes` (request `ack` field: the host's go-back count) | copies bytes in order |
//! | last | control | `JUMP` | checks the CRC-32C of the whole image, then jumps |
//!
//! `BEGIN` and `JUMP` are stop-and-wait. Chunks are too with a loader that announces no
//! window; one that announces `window=N` takes up to N chunks in flight (go-back-N). The
//! loader accepts only the chunk it expects next (sequence number and offset) and answers
//! every frame with where it stands: an ACK (cumulative), or a NACK for a damaged frame, a
//! chunk ahead of a gap, or a chunk at another offset, which are never written. Each answer
//! echoes the request's `ack` field, where the host keeps a count of its go-backs, so a NACK
//! about a chunk sent before the host last went back is not taken for news. The host sends
//! again from the loader's position on news or a timeout, and halves its window there (a
//! noisy line gets about stop-and-wait). Sequence numbers wrap at 2^16; a window of at most
//! [`MAX_WINDOW_FRAMES`] keeps "ahead" and "behind" apart. Chunks carry their offset, so the
//! host may change their size at any time (it shrinks them on a noisy line). The loader
//! jumps only after the CRC-32C of the bytes in memory matches the one in `BEGIN`; a
//! corrupt image is never entered.
//!
//! Both sides are sans-IO: [`Loader`] (no heap, writes into a borrowed window of memory) and
//! [`Uploader`] (the host's side, also no heap, so the property tests run it against the
//! loader over a simulated lossy line).

use crate::frame::{crc32c, encode_frame, Channel, Flags, Frame, Header};
use crate::FrameAccumulator;
use core::fmt;

/// The first word of the loader's announcement line.
pub const ANNOUNCE_MAGIC: &str = "KINGLY-LOADER";
/// The loader protocol's version, in the announcement (`v1`).
pub const LOADER_PROTOCOL_VERSION: u32 = 1;
/// Most chunks a loader may announce in flight (`window=N`).
pub const MAX_WINDOW_FRAMES: u16 = 16;
/// The window this loader announces: 4 chunks of 1000 bytes hide a USB adapter's 1–16 ms
/// turnaround at 921600 baud (a chunk takes 11 ms there).
pub const LOADER_WINDOW_FRAMES: u16 = 4;
/// Most image bytes one chunk frame carries (the frame payload less kind and offset).
pub const MAX_CHUNK_BYTES: usize = 1000;
/// Most bytes of one encoded reply on the wire (leading and closing `0x00` included).
pub const MAX_REPLY_WIRE_BYTES: usize = 32;
/// Most bytes of one encoded request on the wire (leading and closing `0x00` included).
pub const MAX_REQUEST_WIRE_BYTES: usize = crate::MAX_ENCODED_FRAME_BYTES;

const KIND_BEGIN: u8 = 1;
const KIND_CHUNK: u8 = 2;
const KIND_JUMP: u8 = 3;
const BEGIN_BYTES: usize = 22;
const CHUNK_HEADER_BYTES: usize = 5;
const REPLY_BYTES: usize = 10;

const _: () = assert!(MAX_CHUNK_BYTES + CHUNK_HEADER_BYTES <= crate::MAX_FRAME_PAYLOAD_BYTES);

/// The board a loader runs on and a kernel is built for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum LoaderBoard {
    /// Raspberry Pi 4 (BCM2711), QEMU `raspi4b` too.
    Pi4 = 1,
    /// Raspberry Pi 5 (BCM2712).
    Pi5 = 2,
}

impl LoaderBoard {
    /// The name in the announcement and on `kingly boot --board`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Pi4 => "pi4",
            Self::Pi5 => "pi5",
        }
    }

    /// The board with wire value `byte`.
    pub const fn from_byte(byte: u8) -> Option<Self> {
        match byte {
            1 => Some(Self::Pi4),
            2 => Some(Self::Pi5),
            _ => None,
        }
    }

    /// The PL011's reference clock (UARTCLK) on this board, which the baud divisor divides:
    /// on a Pi 4 the firmware's `init_uart_clock=48000000` (config.txt) pins it; the Pi 5's
    /// debug UART runs from the fixed 9.216 MHz `clk_uart` of `bcm2712-rpi-5-b.dtb`, so it
    /// tops out at 576000 baud.
    pub const fn uart_clock_hz(self) -> u32 {
        match self {
            Self::Pi4 => 48_000_000,
            Self::Pi5 => 9_216_000,
        }
    }

    /// The board named `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "pi4" => Some(Self::Pi4),
            "pi5" => Some(Self::Pi5),
            _ => None,
        }
    }
}

/// What the loader says in its announcement line:
/// `KINGLY-LOADER v1 board=pi4 load=0x80000 max=32505856 baud=921600`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Announcement {
    /// Protocol version.
    pub version: u32,
    /// The board the loader was built for.
    pub board: LoaderBoard,
    /// The lowest address an image may be loaded at.
    pub load_address: u64,
    /// Most bytes an image may have.
    pub max_bytes: u32,
    /// The rate the loader set its UART to (from the card's `cmdline.txt`); `None` from a
    /// loader that predates the field, which listens at 115200.
    pub baud: Option<u32>,
    /// Chunks the loader takes in flight; `None` from a loader that predates the field, which
    /// the host drives stop-and-wait.
    pub window: Option<u16>,
}

impl Announcement {
    /// Parses an announcement line (surrounding text and line ends ignored).
    pub fn parse(line: &str) -> Option<Self> {
        let start = line.find(ANNOUNCE_MAGIC)?;
        let mut words = line[start..].split_whitespace();
        words.next()?;
        let version = words.next()?.strip_prefix('v')?.parse().ok()?;
        let (mut board, mut load_address, mut max_bytes, mut baud, mut window) = (None, None, None, None, None);
        for word in words {
            match word.split_once('=') {
                Some(("board", name)) => board = LoaderBoard::from_name(name),
                Some(("load", hex)) => load_address = u64::from_str_radix(hex.strip_prefix("0x")?, 16).ok(),
                Some(("max", number)) => max_bytes = number.parse().ok(),
                Some(("baud", number)) => baud = number.parse().ok(),
                Some(("window", number)) => window = number.parse().ok(),
                _ => {}
            }
        }
        Some(Self { version, board: board?, load_address: load_address?, max_bytes: max_bytes?, baud, window })
    }
}

impl fmt::Display for Announcement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{ANNOUNCE_MAGIC} v{} board={} load={:#x} max={}",
            self.version,
            self.board.name(),
            self.load_address,
            self.max_bytes
        )?;
        if let Some(baud) = self.baud {
            write!(f, " baud={baud}")?;
        }
        match self.window {
            Some(window) => write!(f, " window={window}"),
            None => Ok(()),
        }
    }
}

/// Why the loader refused a request. Each has a one-line message the host prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The kernel was built for another board.
    WrongBoard {
        /// The loader's board (wire value).
        loader: u8,
        /// The board in `BEGIN` (wire value).
        kernel: u8,
    },
    /// The image does not start at the loader's load address.
    LoadAddress {
        /// Low 32 bits of the requested address.
        requested: u32,
        /// The loader's load address.
        expected: u32,
    },
    /// The image is larger than the loader's window (or empty).
    Size {
        /// Bytes requested.
        size: u32,
        /// Most bytes allowed.
        max: u32,
    },
    /// The bytes in memory do not match the image CRC-32C: nothing was started.
    ImageCrc {
        /// CRC-32C announced in `BEGIN`.
        expected: u32,
        /// CRC-32C of what arrived.
        found: u32,
    },
    /// A chunk or jump arrived with no transfer under way, or out of place.
    NoTransfer,
    /// A request the loader does not understand.
    Malformed,
}

impl Refusal {
    fn to_wire(self) -> (u8, u32, u32) {
        match self {
            Self::WrongBoard { loader, kernel } => (1, loader.into(), kernel.into()),
            Self::LoadAddress { requested, expected } => (2, requested, expected),
            Self::Size { size, max } => (3, size, max),
            Self::ImageCrc { expected, found } => (4, expected, found),
            Self::NoTransfer => (5, 0, 0),
            Self::Malformed => (6, 0, 0),
        }
    }

    fn from_wire(code: u8, a: u32, b: u32) -> Self {
        match code {
            1 => Self::WrongBoard { loader: a as u8, kernel: b as u8 },
            2 => Self::LoadAddress { requested: a, expected: b },
            3 => Self::Size { size: a, max: b },
            4 => Self::ImageCrc { expected: a, found: b },
            5 => Self::NoTransfer,
            _ => Self::Malformed,
        }
    }
}

fn board_name(byte: u8) -> &'static str {
    LoaderBoard::from_byte(byte).map_or("an unknown board", LoaderBoard::name)
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::WrongBoard { loader, kernel } => write!(
                f,
                "the loader runs on {} but the kernel was built for {}",
                board_name(loader),
                board_name(kernel)
            ),
            Self::LoadAddress { requested, expected } => {
                write!(f, "the kernel is linked at {requested:#x} but the loader loads at {expected:#x}")
            }
            Self::Size { size, max } => write!(f, "a {size}-byte image does not fit the loader's {max}-byte window"),
            Self::ImageCrc { expected, found } => {
                write!(f, "image CRC-32C {found:#010x} does not match {expected:#010x}; nothing was started")
            }
            Self::NoTransfer => f.write_str("no upload under way (did the loader restart?)"),
            Self::Malformed => f.write_str("the loader did not understand a request"),
        }
    }
}

/// The loader's answer to one frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reply {
    /// Every frame before `next` has arrived; send `next`.
    Ack {
        /// The sequence number the loader expects.
        next: u16,
        /// Image bytes in memory so far (the host may have shrunk a chunk after sending it).
        received: u32,
    },
    /// A damaged frame arrived; the loader still expects `next`.
    Nack {
        /// The sequence number the loader expects.
        next: u16,
        /// Image bytes in memory so far.
        received: u32,
    },
    /// The request was refused; the loader is idle again. The `u16` is the low half of the
    /// refused upload's nonce (0 when the loader knows of no upload), so an answer to an
    /// earlier upload that was resent is not taken for an answer to this one.
    Refused(Refusal, u16),
}

impl Reply {
    /// Encodes the reply as `0x00 ‖ frame`, returning the bytes used of `out`.
    pub fn encode(self, out: &mut [u8; MAX_REPLY_WIRE_BYTES]) -> usize {
        self.encode_echoing(0, out)
    }

    /// [`Reply::encode`], with `echo` (the `ack` field of the request answered: the host's
    /// go-back count) in the header's `seq` field.
    pub fn encode_echoing(self, echo: u16, out: &mut [u8; MAX_REPLY_WIRE_BYTES]) -> usize {
        let mut payload = [0u8; REPLY_BYTES];
        let (next, (status, a, b)) = match self {
            Self::Ack { next, received } => (next, (0, received, 0)),
            Self::Nack { next, received } => (next, (0x80, received, 0)),
            Self::Refused(refusal, tag) => (tag, refusal.to_wire()),
        };
        payload[0] = status;
        payload[1] = 0;
        payload[2..6].copy_from_slice(&a.to_le_bytes());
        payload[6..10].copy_from_slice(&b.to_le_bytes());
        let header = Header::new(Channel::Control, Flags::ACK, echo, next);
        out[0] = 0;
        // A 10-byte payload always fits 31 bytes: 7 + 10 + 4 raw, one COBS byte, a delimiter.
        encode_frame(&header, &payload, &mut out[1..]).map_or(0, |n| n + 1)
    }

    /// The reply a checked frame carries and what it echoes of the request it answers (0 for
    /// a damaged request, or from a loader without a window).
    pub fn decode_echoed(frame: &Frame<'_>) -> Option<(Self, u16)> {
        Some((Self::decode(frame)?, frame.header.seq))
    }

    /// The reply a checked frame carries, if it is one.
    pub fn decode(frame: &Frame<'_>) -> Option<Self> {
        if frame.header.channel != Channel::Control || !frame.header.flags.contains(Flags::ACK) {
            return None;
        }
        let payload: &[u8; REPLY_BYTES] = frame.payload.try_into().ok()?;
        let a = u32::from_le_bytes([payload[2], payload[3], payload[4], payload[5]]);
        let b = u32::from_le_bytes([payload[6], payload[7], payload[8], payload[9]]);
        Some(match payload[0] {
            0 => Self::Ack { next: frame.header.ack, received: a },
            0x80 => Self::Nack { next: frame.header.ack, received: a },
            code => Self::Refused(Refusal::from_wire(code, a, b), frame.header.ack),
        })
    }
}

/// What one upload is: announced in `BEGIN`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transfer {
    /// The board the kernel was built for.
    pub board: LoaderBoard,
    /// Tells a resent `BEGIN` from a new upload.
    pub nonce: u32,
    /// Where the image's first byte goes and where the loader jumps.
    pub load_address: u64,
    /// Image bytes.
    pub size: u32,
    /// CRC-32C of the whole image.
    pub crc: u32,
}

impl Transfer {
    fn encode(&self) -> [u8; BEGIN_BYTES] {
        let mut out = [0u8; BEGIN_BYTES];
        out[0] = KIND_BEGIN;
        out[1] = self.board as u8;
        out[2..6].copy_from_slice(&self.nonce.to_le_bytes());
        out[6..14].copy_from_slice(&self.load_address.to_le_bytes());
        out[14..18].copy_from_slice(&self.size.to_le_bytes());
        out[18..22].copy_from_slice(&self.crc.to_le_bytes());
        out
    }

    fn decode(payload: &[u8]) -> Option<(u8, Self)> {
        let bytes: &[u8; BEGIN_BYTES] = payload.try_into().ok()?;
        let word = |at: usize| u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
        let mut address = [0u8; 8];
        address.copy_from_slice(&bytes[6..14]);
        let transfer = Self {
            board: LoaderBoard::from_byte(bytes[1]).unwrap_or(LoaderBoard::Pi4),
            nonce: word(2),
            load_address: u64::from_le_bytes(address),
            size: word(14),
            crc: word(18),
        };
        Some((bytes[1], transfer))
    }
}

/// What the loader binary must do after feeding bytes in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoaderOutput {
    /// Write these bytes (`bytes[..len]`) to the UART.
    Send {
        /// The encoded reply.
        bytes: [u8; MAX_REPLY_WIRE_BYTES],
        /// Bytes used.
        len: usize,
    },
    /// The image is complete and checked: write `reply` out, wait for the UART to drain,
    /// then jump to `entry`.
    Jump {
        /// The final acknowledgement.
        reply: [u8; MAX_REPLY_WIRE_BYTES],
        /// Bytes used of `reply`.
        len: usize,
        /// Where to jump (the load address).
        entry: u64,
    },
}

impl LoaderOutput {
    fn send(reply: Reply, echo: u16) -> Self {
        let mut bytes = [0u8; MAX_REPLY_WIRE_BYTES];
        let len = reply.encode_echoing(echo, &mut bytes);
        Self::Send { bytes, len }
    }
}

#[derive(Clone, Copy, Debug)]
enum State {
    Idle,
    Receiving { transfer: Transfer, next_seq: u16, received: u32 },
}

/// The loader's side: bytes from the UART in, replies and finally a jump out.
pub struct Loader<'m> {
    accumulator: FrameAccumulator,
    receiver: Receiver<'m>,
}

/// Everything but the accumulator, so a frame borrowed from it can be handled.
struct Receiver<'m> {
    board: LoaderBoard,
    /// The `ack` field of the request being answered, echoed in the reply.
    echo: u16,
    baud: Option<u32>,
    load_address: u64,
    memory: &'m mut [u8],
    state: State,
}

impl<'m> Loader<'m> {
    /// A loader for `board` that places images at `load_address`, whose bytes are `memory`.
    pub fn new(board: LoaderBoard, load_address: u64, memory: &'m mut [u8]) -> Self {
        let receiver = Receiver { board, echo: 0, baud: None, load_address, memory, state: State::Idle };
        Self { accumulator: FrameAccumulator::new(), receiver }
    }

    /// Names the UART's rate in the announcement (`baud=N`).
    pub fn announcing_baud(mut self, baud: u32) -> Self {
        self.receiver.baud = Some(baud);
        self
    }

    /// The announcement the loader prints while it waits.
    pub fn announcement(&self) -> Announcement {
        let receiver = &self.receiver;
        Announcement {
            version: LOADER_PROTOCOL_VERSION,
            board: receiver.board,
            load_address: receiver.load_address,
            max_bytes: u32::try_from(receiver.memory.len()).unwrap_or(u32::MAX),
            baud: receiver.baud,
            window: Some(LOADER_WINDOW_FRAMES),
        }
    }

    /// The load window's bytes (what a jump would run).
    pub fn memory(&self) -> &[u8] {
        self.receiver.memory
    }

    /// Whether no upload is under way (the binary repeats its announcement then).
    pub fn is_idle(&self) -> bool {
        matches!(self.receiver.state, State::Idle)
    }

    /// Consumes bytes from the front of `input` until it has something to send, and returns
    /// it; `None` once `input` is empty.
    pub fn push(&mut self, input: &mut &[u8]) -> Option<LoaderOutput> {
        loop {
            let result = self.accumulator.push(input)?;
            let receiver = &mut self.receiver;
            let receiving = matches!(receiver.state, State::Receiving { .. });
            let frame = match result {
                Ok(frame) => frame,
                // Noise before an upload (a person typing, the host's console) gets no answer.
                Err(_) if !receiving => continue,
                Err(_) => {
                    receiver.echo = 0;
                    return Some(receiver.send(receiver.position(true)));
                }
            };
            let header = frame.header;
            let payload = frame.payload;
            receiver.echo = header.ack;
            let output = match (payload.first().copied(), header.channel) {
                (Some(KIND_BEGIN), Channel::Control) => Some(receiver.begin(header.seq, payload)),
                (Some(KIND_CHUNK), Channel::Data) => Some(receiver.chunk(header.seq, payload)),
                (Some(KIND_JUMP), Channel::Control) => Some(receiver.jump(header.seq)),
                // The loader's own replies echoed back, or frames of another protocol.
                _ if header.flags.contains(Flags::ACK) => None,
                _ => Some(receiver.refuse(Refusal::Malformed)),
            };
            if output.is_some() {
                return output;
            }
        }
    }
}

impl Receiver<'_> {
    /// `reply`, echoing the request it answers.
    fn send(&self, reply: Reply) -> LoaderOutput {
        LoaderOutput::send(reply, self.echo)
    }

    /// An acknowledgement (or a NACK) of where the upload stands.
    fn position(&self, damaged: bool) -> Reply {
        let (next, received) = match self.state {
            State::Idle => (0, 0),
            State::Receiving { next_seq, received, .. } => (next_seq, received),
        };
        if damaged {
            Reply::Nack { next, received }
        } else {
            Reply::Ack { next, received }
        }
    }

    /// Refuses the upload under way (or, idle, whatever came).
    fn refuse(&mut self, refusal: Refusal) -> LoaderOutput {
        let tag = match self.state {
            State::Idle => 0,
            State::Receiving { transfer, .. } => transfer.nonce as u16,
        };
        self.refuse_tagged(refusal, tag)
    }

    fn refuse_tagged(&mut self, refusal: Refusal, tag: u16) -> LoaderOutput {
        self.state = State::Idle;
        self.send(Reply::Refused(refusal, tag))
    }

    fn begin(&mut self, seq: u16, payload: &[u8]) -> LoaderOutput {
        let Some((board_byte, transfer)) = Transfer::decode(payload) else {
            return self.refuse(Refusal::Malformed);
        };
        if let State::Receiving { transfer: current, .. } = self.state {
            if current == transfer && seq == 0 {
                return self.send(self.position(false));
            }
        }
        let tag = transfer.nonce as u16;
        if seq != 0 {
            return self.refuse_tagged(Refusal::Malformed, tag);
        }
        if board_byte != self.board as u8 {
            return self.refuse_tagged(Refusal::WrongBoard { loader: self.board as u8, kernel: board_byte }, tag);
        }
        if transfer.load_address != self.load_address {
            let requested = transfer.load_address as u32;
            return self.refuse_tagged(Refusal::LoadAddress { requested, expected: self.load_address as u32 }, tag);
        }
        let max = u32::try_from(self.memory.len()).unwrap_or(u32::MAX);
        if transfer.size == 0 || transfer.size > max {
            return self.refuse_tagged(Refusal::Size { size: transfer.size, max }, tag);
        }
        self.state = State::Receiving { transfer, next_seq: 1, received: 0 };
        self.send(self.position(false))
    }

    fn chunk(&mut self, seq: u16, payload: &[u8]) -> LoaderOutput {
        let State::Receiving { transfer, next_seq, received } = self.state else {
            return self.refuse(Refusal::NoTransfer);
        };
        if seq != next_seq {
            // Behind: a resend of a chunk already here (its ack was lost): acknowledge again.
            // Ahead: chunks in flight after one that went missing: say where the gap is.
            let ahead = seq.wrapping_sub(next_seq) < 0x8000;
            return self.send(self.position(ahead));
        }
        let Some((offset, bytes)) = payload.get(1..).and_then(|rest| rest.split_first_chunk::<4>()) else {
            return self.refuse(Refusal::Malformed);
        };
        let offset = u32::from_le_bytes(*offset);
        if offset != received {
            // Sent before the host learnt where the loader stands (go-back-N): say it again.
            return self.send(self.position(true));
        }
        let end = received as usize + bytes.len();
        if bytes.is_empty() || end > transfer.size as usize {
            return self.refuse(Refusal::Malformed);
        }
        let Some(destination) = self.memory.get_mut(received as usize..end) else {
            return self.refuse(Refusal::Malformed);
        };
        destination.copy_from_slice(bytes);
        self.state = State::Receiving { transfer, next_seq: next_seq.wrapping_add(1), received: end as u32 };
        self.send(self.position(false))
    }

    fn jump(&mut self, seq: u16) -> LoaderOutput {
        let State::Receiving { transfer, next_seq, received } = self.state else {
            return self.refuse(Refusal::NoTransfer);
        };
        if seq != next_seq {
            return self.send(self.position(false));
        }
        if received != transfer.size {
            return self.refuse(Refusal::NoTransfer);
        }
        let found = crc32c(&self.memory[..received as usize]);
        if found != transfer.crc {
            return self.refuse(Refusal::ImageCrc { expected: transfer.crc, found });
        }
        self.state = State::Idle;
        let mut reply = [0u8; MAX_REPLY_WIRE_BYTES];
        let len = Reply::Ack { next: next_seq.wrapping_add(1), received }.encode_echoing(self.echo, &mut reply);
        LoaderOutput::Jump { reply, len, entry: transfer.load_address }
    }
}

/// What the host should do after a reply or a timeout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UploadStep {
    /// Send [`Uploader::request`] (again or the next one).
    Send,
    /// Nothing yet: keep waiting for a reply.
    Wait,
    /// The loader accepted the image and jumped to it.
    Done,
    /// The loader refused; the upload is over.
    Refused(Refusal),
    /// Too many attempts for one frame: the line is dead or the loader gone.
    GaveUp,
}

/// The host's side of one upload: stop-and-wait or, with [`Uploader::with_window`], up to a
/// window of chunks in flight (go-back-N); chunks shrink on a noisy line and grow back on a
/// clean one.
pub struct Uploader<'i> {
    image: &'i [u8],
    transfer: Transfer,
    /// Sequence number of the outstanding request (stop-and-wait), of the oldest
    /// unacknowledged chunk (window).
    seq: u16,
    /// Chunks in flight at most; 1 is stop-and-wait.
    window: u16,
    /// Window: chunks in flight allowed now: halved on each go-back, one more after each 8
    /// clean acknowledgements, up to `window` (a noisy line gets about stop-and-wait, whose
    /// resends are one chunk, not a window's worth).
    congestion_window: u16,
    /// Window: chunks sent since `seq` (the next one sent is `seq + in_flight`).
    in_flight: u16,
    /// Window: the image offset the next chunk sent starts at.
    send_offset: usize,
    /// Window: the most chunks ever sent past `seq`, to count resends.
    sent_past_base: u16,
    /// Window: how many times the upload went back, never 0; sent in each chunk's `ack` field
    /// and echoed in its answer, so a NACK about a chunk sent before the last go-back is
    /// known for old news.
    epoch: u16,
    /// Image bytes acknowledged so far.
    acknowledged: usize,
    /// Bytes of the outstanding chunk.
    chunk_bytes: usize,
    /// Chunk size the next chunk uses.
    chunk_limit: usize,
    clean_in_a_row: u32,
    attempts: u32,
    state: UploaderState,
    stats: UploadStats,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum UploaderState {
    Begin,
    Chunks,
    Jump,
    Finished,
}

/// Counters of one upload.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UploadStats {
    /// Requests sent, resends included.
    pub frames_sent: u64,
    /// Requests sent again.
    pub resends: u64,
    /// Bytes written to the line (requests only).
    pub wire_bytes: u64,
}

/// Sends that may go unanswered before [`UploadStep::GaveUp`].
pub const MAX_ATTEMPTS: u32 = 50;
const MIN_CHUNK_BYTES: usize = 32;

impl<'i> Uploader<'i> {
    /// An upload of `image` for `board` to `load_address`; `nonce` should differ between uploads
    /// (in its low 16 bits, which tag refusals; bit 0 is set so that they are never 0).
    pub fn new(board: LoaderBoard, load_address: u64, image: &'i [u8], nonce: u32) -> Self {
        let transfer = Transfer {
            board,
            nonce: nonce | 1,
            load_address,
            size: u32::try_from(image.len()).unwrap_or(u32::MAX),
            crc: crc32c(image),
        };
        Self {
            image,
            transfer,
            seq: 0,
            window: 1,
            congestion_window: 1,
            in_flight: 0,
            send_offset: 0,
            sent_past_base: 0,
            epoch: 1,
            acknowledged: 0,
            chunk_bytes: 0,
            chunk_limit: MAX_CHUNK_BYTES,
            clean_in_a_row: 0,
            attempts: 0,
            state: UploaderState::Begin,
            stats: UploadStats::default(),
        }
    }

    /// Up to `frames` chunks in flight (clamped to 1..=[`MAX_WINDOW_FRAMES`]), for a loader
    /// that announced `window=frames`; 1 is stop-and-wait, what every loader understands.
    pub fn with_window(mut self, frames: u16) -> Self {
        self.window = frames.clamp(1, MAX_WINDOW_FRAMES);
        self.congestion_window = self.window;
        self
    }

    /// Whether another chunk may be sent now, before any reply: after each
    /// [`Uploader::request`], the host sends again while this holds.
    pub fn window_open(&self) -> bool {
        self.windowed() && self.in_flight < self.congestion_window && self.send_offset < self.image.len()
    }

    fn windowed(&self) -> bool {
        self.window > 1 && self.state == UploaderState::Chunks
    }

    /// What `BEGIN` announces.
    pub fn transfer(&self) -> Transfer {
        self.transfer
    }

    /// Image bytes the loader has acknowledged.
    pub fn acknowledged_bytes(&self) -> usize {
        self.acknowledged
    }

    /// Counters so far.
    pub fn stats(&self) -> UploadStats {
        self.stats
    }

    /// Encodes the outstanding request (`0x00 ‖ frame`) into `out` and counts it as sent.
    pub fn request(&mut self, out: &mut [u8; MAX_REQUEST_WIRE_BYTES]) -> usize {
        if self.windowed() {
            return self.windowed_request(out);
        }
        let mut payload = [0u8; MAX_CHUNK_BYTES + CHUNK_HEADER_BYTES];
        let (channel, length) = match self.state {
            UploaderState::Begin => {
                payload[..BEGIN_BYTES].copy_from_slice(&self.transfer.encode());
                (Channel::Control, BEGIN_BYTES)
            }
            UploaderState::Chunks => {
                if self.chunk_bytes == 0 {
                    self.chunk_bytes = self.chunk_limit.min(self.image.len() - self.acknowledged);
                }
                let bytes = &self.image[self.acknowledged..self.acknowledged + self.chunk_bytes];
                payload[0] = KIND_CHUNK;
                payload[1..5].copy_from_slice(&(self.acknowledged as u32).to_le_bytes());
                payload[5..5 + bytes.len()].copy_from_slice(bytes);
                (Channel::Data, CHUNK_HEADER_BYTES + bytes.len())
            }
            UploaderState::Jump | UploaderState::Finished => {
                payload[0] = KIND_JUMP;
                (Channel::Control, 1)
            }
        };
        let header = Header::new(channel, Flags::SEQ, self.seq, 0);
        out[0] = 0;
        let len = encode_frame(&header, &payload[..length], &mut out[1..]).map_or(0, |n| n + 1);
        self.stats.frames_sent += 1;
        if self.attempts > 0 {
            self.stats.resends += 1;
        }
        self.attempts += 1;
        self.stats.wire_bytes += len as u64;
        len
    }

    /// The next chunk of a window: a new one, or one again after going back.
    fn windowed_request(&mut self, out: &mut [u8; MAX_REQUEST_WIRE_BYTES]) -> usize {
        let offset = self.send_offset.min(self.image.len());
        let bytes = &self.image[offset..(offset + self.chunk_limit).min(self.image.len())];
        let mut payload = [0u8; MAX_CHUNK_BYTES + CHUNK_HEADER_BYTES];
        payload[0] = KIND_CHUNK;
        payload[1..5].copy_from_slice(&(offset as u32).to_le_bytes());
        payload[5..5 + bytes.len()].copy_from_slice(bytes);
        let header = Header::new(Channel::Data, Flags::SEQ, self.seq.wrapping_add(self.in_flight), self.epoch);
        out[0] = 0;
        let len =
            encode_frame(&header, &payload[..CHUNK_HEADER_BYTES + bytes.len()], &mut out[1..]).map_or(0, |n| n + 1);
        self.stats.frames_sent += 1;
        if self.in_flight < self.sent_past_base {
            self.stats.resends += 1;
        }
        self.stats.wire_bytes += len as u64;
        self.in_flight += 1;
        self.sent_past_base = self.sent_past_base.max(self.in_flight);
        self.send_offset = offset + bytes.len();
        len
    }

    /// A reply while chunks are in flight: acknowledgements are cumulative; a NACK naming the
    /// oldest chunk in flight (a gap, or a chunk at the wrong offset) about a chunk sent since
    /// the last go-back sends everything again from where the loader stands. NACKs of older
    /// chunks, and of damaged ones (which echo nothing) while several are in flight, are no
    /// news; a timeout covers a gap nothing was sent after.
    fn windowed_reply(&mut self, next: u16, received: u32, nack: bool, echo: u16) -> UploadStep {
        let ahead = next.wrapping_sub(self.seq);
        let received = received as usize;
        if ahead > self.in_flight.max(self.sent_past_base) {
            return UploadStep::Wait; // about an earlier chunk: stale
        }
        if received < self.acknowledged || received > self.image.len() {
            return UploadStep::Refused(Refusal::Malformed);
        }
        // A damaged chunk echoes nothing; with one chunk in flight it is most likely that one.
        let news = echo == self.epoch || (echo == 0 && self.in_flight <= 1);
        if ahead == 0 {
            return if nack && news { self.go_back(received) } else { UploadStep::Wait };
        }
        if self.attempts <= 1 {
            self.clean_in_a_row += 1;
            if self.clean_in_a_row >= 8 {
                self.chunk_limit = (self.chunk_limit * 2).min(MAX_CHUNK_BYTES);
                self.congestion_window = (self.congestion_window + 1).min(self.window);
                self.clean_in_a_row = 0;
            }
        }
        self.seq = next;
        self.acknowledged = received;
        self.in_flight = self.in_flight.saturating_sub(ahead);
        self.sent_past_base = self.sent_past_base.saturating_sub(ahead);
        self.attempts = 0;
        if self.in_flight == 0 || self.send_offset < self.acknowledged {
            self.in_flight = 0;
            self.send_offset = self.acknowledged;
        }
        if self.acknowledged == self.image.len() {
            // Every byte is in: the jump goes alone, stop-and-wait, at the loader's position.
            self.in_flight = 0;
            self.state = UploaderState::Jump;
            return UploadStep::Send;
        }
        if self.window_open() {
            UploadStep::Send
        } else {
            UploadStep::Wait
        }
    }

    /// Sends again from the loader's position: the chunks after it are forgotten.
    fn go_back(&mut self, received: usize) -> UploadStep {
        self.acknowledged = received;
        self.epoch = self.epoch.wrapping_add(1).max(1);
        if received >= self.image.len() {
            self.in_flight = 0;
            self.state = UploaderState::Jump;
            return UploadStep::Send;
        }
        self.attempts += 1;
        if self.attempts >= MAX_ATTEMPTS {
            return UploadStep::GaveUp;
        }
        if self.attempts >= 2 {
            self.chunk_limit = (self.chunk_limit / 2).max(MIN_CHUNK_BYTES);
        }
        self.clean_in_a_row = 0;
        self.congestion_window = (self.congestion_window / 2).max(1);
        self.in_flight = 0;
        self.send_offset = received;
        UploadStep::Send
    }

    /// Feeds one reply from the loader (from [`Reply::decode`]: with chunks in flight, a gap
    /// is then found by the timeout only; prefer [`Uploader::on_answer`]).
    pub fn on_reply(&mut self, reply: Reply) -> UploadStep {
        self.on_answer(reply, 0)
    }

    /// Feeds one reply from the loader with what it echoes ([`Reply::decode_echoed`]).
    pub fn on_answer(&mut self, reply: Reply, echo: u16) -> UploadStep {
        if self.state == UploaderState::Finished {
            return UploadStep::Done;
        }
        if self.windowed() {
            match reply {
                Reply::Ack { next, received } => return self.windowed_reply(next, received, false, echo),
                Reply::Nack { next, received } => return self.windowed_reply(next, received, true, echo),
                Reply::Refused(..) => {}
            }
        }
        match reply {
            Reply::Refused(refusal, tag) if tag == 0 || tag == self.transfer.nonce as u16 => {
                UploadStep::Refused(refusal)
            }
            // The answer to an earlier upload's resent request.
            Reply::Refused(..) => UploadStep::Wait,
            Reply::Ack { next, received } | Reply::Nack { next, received } if next == self.seq.wrapping_add(1) => {
                let received = received as usize;
                if received < self.acknowledged || received > self.image.len() {
                    return UploadStep::Refused(Refusal::Malformed);
                }
                self.advance(received);
                if self.state == UploaderState::Finished {
                    UploadStep::Done
                } else {
                    UploadStep::Send
                }
            }
            Reply::Nack { next, .. } if next == self.seq => self.resend(),
            // A late acknowledgement of an earlier frame: the current one is still in flight.
            Reply::Ack { .. } | Reply::Nack { .. } => UploadStep::Wait,
        }
    }

    /// A reply arrived damaged: send the request again (with several chunks in flight, wait:
    /// the next acknowledgement covers this one's; with one, it was most likely its answer).
    pub fn on_damaged_reply(&mut self) -> UploadStep {
        if self.windowed() {
            return if self.in_flight <= 1 { self.go_back(self.acknowledged) } else { UploadStep::Wait };
        }
        self.resend()
    }

    /// No reply within the timeout: send again (with a window, everything from the oldest
    /// chunk not acknowledged).
    pub fn on_timeout(&mut self) -> UploadStep {
        if self.windowed() {
            // What is in flight may only be slow (QEMU's UART on a busy machine): its answers,
            // when they come, are no news.
            return self.go_back(self.acknowledged);
        }
        self.resend()
    }

    fn resend(&mut self) -> UploadStep {
        if self.state == UploaderState::Finished {
            return UploadStep::Done;
        }
        if self.attempts >= MAX_ATTEMPTS {
            return UploadStep::GaveUp;
        }
        // A noisy line: smaller chunks are likelier to arrive whole.
        if self.state == UploaderState::Chunks && self.attempts >= 2 {
            self.chunk_limit = (self.chunk_limit / 2).max(MIN_CHUNK_BYTES);
            self.chunk_bytes = self.chunk_bytes.min(self.chunk_limit);
        }
        self.clean_in_a_row = 0;
        UploadStep::Send
    }

    /// The outstanding request arrived; the loader holds `received` image bytes.
    fn advance(&mut self, received: usize) {
        if self.attempts == 1 {
            self.clean_in_a_row += 1;
            if self.clean_in_a_row >= 8 {
                self.chunk_limit = (self.chunk_limit * 2).min(MAX_CHUNK_BYTES);
                self.clean_in_a_row = 0;
            }
        }
        self.attempts = 0;
        self.seq = self.seq.wrapping_add(1);
        self.state = match self.state {
            UploaderState::Begin | UploaderState::Chunks => {
                self.acknowledged = received;
                self.send_offset = received;
                self.chunk_bytes = 0;
                if self.acknowledged < self.image.len() {
                    UploaderState::Chunks
                } else {
                    UploaderState::Jump
                }
            }
            UploaderState::Jump | UploaderState::Finished => UploaderState::Finished,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    fn replies(loader: &mut Loader<'_>, wire: &[u8]) -> (Vec<Reply>, Option<u64>) {
        let mut input = wire;
        let mut out = Vec::new();
        let mut jumped = None;
        while let Some(output) = loader.push(&mut input) {
            let (bytes, len) = match output {
                LoaderOutput::Send { bytes, len } => (bytes, len),
                LoaderOutput::Jump { reply, len, entry } => {
                    jumped = Some(entry);
                    (reply, len)
                }
            };
            let mut accumulator = FrameAccumulator::new();
            let mut reply = &bytes[..len];
            while let Some(frame) = accumulator.push(&mut reply) {
                out.push(Reply::decode(&frame.expect("replies are valid frames")).expect("a reply"));
            }
        }
        (out, jumped)
    }

    fn echoed(loader: &mut Loader<'_>, wire: &[u8]) -> Vec<(Reply, u16)> {
        let mut input = wire;
        let mut out = Vec::new();
        while let Some(LoaderOutput::Send { bytes, len } | LoaderOutput::Jump { reply: bytes, len, .. }) =
            loader.push(&mut input)
        {
            let mut accumulator = FrameAccumulator::new();
            let mut reply = &bytes[..len];
            while let Some(frame) = accumulator.push(&mut reply) {
                out.push(Reply::decode_echoed(&frame.expect("replies are valid frames")).expect("a reply"));
            }
        }
        out
    }

    fn run_clean(loader: &mut Loader<'_>, uploader: &mut Uploader<'_>) -> Result<u64, Refusal> {
        let mut wire = [0u8; MAX_REQUEST_WIRE_BYTES];
        for _ in 0..100_000 {
            let n = uploader.request(&mut wire);
            let (got, jumped) = replies(loader, &wire[..n]);
            assert_eq!(got.len(), 1);
            match uploader.on_reply(got[0]) {
                UploadStep::Done => return Ok(jumped.expect("jumped")),
                UploadStep::Refused(refusal) => return Err(refusal),
                UploadStep::Send => {}
                other => panic!("unexpected {other:?}"),
            }
        }
        panic!("no end");
    }

    #[test]
    fn announcement_round_trips() {
        let announcement = Announcement {
            version: 1,
            board: LoaderBoard::Pi5,
            load_address: 0x80000,
            max_bytes: 32_505_856,
            baud: Some(921_600),
            window: Some(4),
        };
        let line = alloc::format!("noise {announcement}\r\n");
        assert!(line.ends_with("max=32505856 baud=921600 window=4\r\n"), "{line}");
        assert_eq!(Announcement::parse(&line), Some(announcement));
        // A loader from before the rate was announced listens at 115200.
        let old = Announcement::parse("KINGLY-LOADER v1 board=pi4 load=0x80000 max=1").expect("an old announcement");
        assert_eq!((old.baud, old.window), (None, None), "an old loader: 115200, stop-and-wait");
        assert_eq!(Announcement::parse("KINGLY-LOADER v1 board=pi9 load=0x0 max=1"), None);
    }

    #[test]
    fn a_clean_upload_lands_byte_for_byte_and_jumps() {
        let image: Vec<u8> = (0..5000u32).map(|i| (i * 7 + i / 256) as u8).collect();
        let mut memory = alloc::vec![0u8; 8192];
        let mut loader = Loader::new(LoaderBoard::Pi4, 0x80000, &mut memory);
        let mut uploader = Uploader::new(LoaderBoard::Pi4, 0x80000, &image, 7);
        assert_eq!(run_clean(&mut loader, &mut uploader), Ok(0x80000));
        assert_eq!(&memory[..image.len()], &image[..]);
    }

    #[test]
    fn wrong_board_address_and_size_are_refused() {
        let image = [1u8; 100];
        let mut memory = [0u8; 64];
        let mut loader = Loader::new(LoaderBoard::Pi4, 0x80000, &mut memory);
        let mut pi5 = Uploader::new(LoaderBoard::Pi5, 0x80000, &image[..10], 1);
        assert_eq!(run_clean(&mut loader, &mut pi5), Err(Refusal::WrongBoard { loader: 1, kernel: 2 }));
        let mut virt = Uploader::new(LoaderBoard::Pi4, 0x4008_0000, &image[..10], 2);
        assert_eq!(
            run_clean(&mut loader, &mut virt),
            Err(Refusal::LoadAddress { requested: 0x4008_0000, expected: 0x80000 })
        );
        let mut big = Uploader::new(LoaderBoard::Pi4, 0x80000, &image, 3);
        assert_eq!(run_clean(&mut loader, &mut big), Err(Refusal::Size { size: 100, max: 64 }));
        assert!(loader.is_idle());
        assert!(Refusal::WrongBoard { loader: 1, kernel: 2 }.to_string().contains("built for pi5"));
    }

    #[test]
    fn a_chunk_changed_in_flight_with_a_fixed_crc_is_never_jumped_into() {
        // A forged frame passes the frame CRC; only the image CRC can catch it.
        let image = [0x5au8; 300];
        let mut memory = [0u8; 512];
        let mut loader = Loader::new(LoaderBoard::Pi4, 0x80000, &mut memory);
        let mut uploader = Uploader::new(LoaderBoard::Pi4, 0x80000, &image, 9);
        let mut wire = [0u8; MAX_REQUEST_WIRE_BYTES];
        let n = uploader.request(&mut wire);
        assert_eq!(replies(&mut loader, &wire[..n]).0, [Reply::Ack { next: 1, received: 0 }]);
        let mut forged = [0u8; 305];
        forged[0] = KIND_CHUNK;
        forged[5..].fill(0x5b);
        let n = encode_frame(&Header::new(Channel::Data, Flags::SEQ, 1, 0), &forged, &mut wire).unwrap();
        assert_eq!(replies(&mut loader, &wire[..n]).0, [Reply::Ack { next: 2, received: 300 }]);
        let n = encode_frame(&Header::new(Channel::Control, Flags::SEQ, 2, 0), &[KIND_JUMP], &mut wire).unwrap();
        let (got, jumped) = replies(&mut loader, &wire[..n]);
        assert_eq!(jumped, None);
        assert!(matches!(got[..], [Reply::Refused(Refusal::ImageCrc { .. }, 9)]), "{got:?}");
    }

    #[test]
    fn a_refusal_of_another_upload_is_not_taken_for_this_ones() {
        let image = [1u8; 10];
        let mut uploader = Uploader::new(LoaderBoard::Pi4, 0x80000, &image, 0x0010);
        let refusal = Refusal::WrongBoard { loader: 1, kernel: 2 };
        assert_eq!(uploader.on_reply(Reply::Refused(refusal, 0x0021)), UploadStep::Wait, "an earlier upload's");
        assert_eq!(uploader.on_reply(Reply::Refused(refusal, 0x0011)), UploadStep::Refused(refusal));
        assert_eq!(
            uploader.on_reply(Reply::Refused(refusal, 0)),
            UploadStep::Refused(refusal),
            "a loader that knows none"
        );
    }

    #[test]
    fn a_chunk_at_another_offset_is_nacked_and_not_written() {
        let image = [7u8; 100];
        let mut memory = [0u8; 128];
        let mut loader = Loader::new(LoaderBoard::Pi4, 0x80000, &mut memory);
        let mut uploader = Uploader::new(LoaderBoard::Pi4, 0x80000, &image, 3);
        let mut wire = [0u8; MAX_REQUEST_WIRE_BYTES];
        let n = uploader.request(&mut wire);
        assert_eq!(replies(&mut loader, &wire[..n]).0, [Reply::Ack { next: 1, received: 0 }]);
        let mut ahead = [9u8; 15];
        ahead[0] = KIND_CHUNK;
        ahead[1..5].copy_from_slice(&40u32.to_le_bytes());
        let n = encode_frame(&Header::new(Channel::Data, Flags::SEQ, 1, 0), &ahead, &mut wire).unwrap();
        assert_eq!(replies(&mut loader, &wire[..n]).0, [Reply::Nack { next: 1, received: 0 }]);
        assert!(!loader.is_idle(), "the upload goes on");
        assert!(loader.memory().iter().all(|&b| b == 0), "nothing was written");
    }

    #[test]
    fn a_window_goes_back_to_where_the_loader_stands() {
        let image: Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
        let mut memory = alloc::vec![0u8; 1024];
        let mut loader = Loader::new(LoaderBoard::Pi4, 0x80000, &mut memory);
        let mut uploader = Uploader::new(LoaderBoard::Pi4, 0x80000, &image, 5).with_window(4);
        uploader.chunk_limit = 100;
        let mut wire = [0u8; MAX_REQUEST_WIRE_BYTES];
        let n = uploader.request(&mut wire);
        let (got, _) = replies(&mut loader, &wire[..n]);
        assert!(!uploader.window_open(), "BEGIN goes alone");
        assert_eq!(uploader.on_reply(got[0]), UploadStep::Send);
        let mut sent = Vec::new();
        loop {
            let n = uploader.request(&mut wire);
            sent.push(wire[..n].to_vec());
            if !uploader.window_open() {
                break;
            }
        }
        assert_eq!(sent.len(), 4, "four chunks in flight");
        // The second is lost: the loader takes the first, then NACKs the others with its position.
        let mut answers = Vec::new();
        for frame in [&sent[0], &sent[2], &sent[3]] {
            answers.extend(echoed(&mut loader, frame));
        }
        assert_eq!(answers[0], (Reply::Ack { next: 2, received: 100 }, 1));
        assert_eq!(answers[1..], [(Reply::Nack { next: 2, received: 100 }, 1); 2]);
        let [(first, a), (second, b), (third, c)] = answers[..] else { panic!("{answers:?}") };
        assert_eq!(uploader.on_answer(first, a), UploadStep::Send, "the window moved on by one");
        assert_eq!(uploader.on_answer(second, b), UploadStep::Send, "a gap: send again from chunk 2");
        assert_eq!(uploader.on_answer(third, c), UploadStep::Wait, "about a chunk sent before going back");
        let resent = uploader.request(&mut wire);
        let resent = wire[..resent].to_vec();
        assert_eq!(echoed(&mut loader, &resent), [(Reply::Ack { next: 3, received: 200 }, 2)]);
        assert_eq!(uploader.stats().resends, 1);
        // A chunk that was only slow, answered after the go-back, is no news either.
        assert_eq!(echoed(&mut loader, &sent[1]), [(Reply::Ack { next: 3, received: 200 }, 1)]);
        assert_eq!(uploader.on_answer(Reply::Ack { next: 3, received: 200 }, 2), UploadStep::Send);
        assert_eq!(uploader.on_answer(Reply::Ack { next: 3, received: 200 }, 1), UploadStep::Wait);
    }

    #[test]
    fn damaged_frames_are_nacked_and_resent_frames_reacked() {
        let image = [3u8; 40];
        let mut memory = [0u8; 64];
        let mut loader = Loader::new(LoaderBoard::Pi4, 0x80000, &mut memory);
        let mut uploader = Uploader::new(LoaderBoard::Pi4, 0x80000, &image, 5);
        let mut wire = [0u8; MAX_REQUEST_WIRE_BYTES];
        let n = uploader.request(&mut wire);
        assert_eq!(replies(&mut loader, &wire[..n]).0, [Reply::Ack { next: 1, received: 0 }]);
        assert_eq!(replies(&mut loader, &wire[..n]).0, [Reply::Ack { next: 1, received: 0 }], "a resent BEGIN");
        assert_eq!(uploader.on_reply(Reply::Ack { next: 1, received: 0 }), UploadStep::Send);
        let n = uploader.request(&mut wire);
        let mut damaged = wire;
        damaged[5] ^= 0x04;
        assert_eq!(replies(&mut loader, &damaged[..n]).0, [Reply::Nack { next: 1, received: 0 }]);
        assert_eq!(uploader.on_reply(Reply::Nack { next: 1, received: 0 }), UploadStep::Send);
        assert_eq!(replies(&mut loader, &wire[..n]).0, [Reply::Ack { next: 2, received: 40 }]);
        assert_eq!(replies(&mut loader, &wire[..n]).0, [Reply::Ack { next: 2, received: 40 }], "a resent chunk");
        assert_eq!(uploader.on_reply(Reply::Ack { next: 1, received: 0 }), UploadStep::Wait, "a stale ack");
    }
}
