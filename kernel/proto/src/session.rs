//! The reliable session: a sans-IO state machine shared by the kernel server and the host.
//!
//! Nothing here reads a clock or touches a device. The owner feeds received bytes to
//! [`Endpoint::handle_bytes`], writes whatever [`Endpoint::poll_transmit`] hands out, reacts
//! to [`Endpoint::poll_event`], and calls again by [`Endpoint::poll_timeout`].
//!
//! - **Reliability**: go-back-N over 16-bit sequence numbers with a window of
//!   [`Config::window_frames`], cumulative acks piggybacked on every frame, retransmission
//!   on timeout with exponential backoff, and a fast retransmit on duplicate acks. The
//!   timeout follows the measured round trip (Jacobson/Karels as in RFC 6298, sampling
//!   only frames sent once), so a loss on a fast link costs milliseconds, not the
//!   initial timeout a slow UART needs.
//!   Receivers deliver in order and drop duplicates.
//! - **Chunking**: a message larger than one frame goes on the data channel in fragments;
//!   the first carries the total length, so both sides report progress. Fragments shrink
//!   when frames time out and grow back as acks arrive ([`Config::adaptive_fragments`]).
//!   Control messages overtake a data transfer between fragments, so `Ping` and `Cancel`
//!   stay responsive.
//! - **Sessions**: [`Endpoint::connect`] sends Hello on a frame flagged SYN with a fresh
//!   initial sequence number. A SYN the receiver has not seen resets its session (the
//!   kernel never sees a host exit); the answer carries SYN too and acknowledges the
//!   opener's SYN, which tells the opener that the peer joined rather than restarted.
//!   A reliable frame for a peer with no session is answered with RST.
//! - **Logs** travel best effort on the log channel, one frame per message, truncated at a
//!   character boundary rather than split.
//! - **Bounded memory**: fixed frame buffers, at most `window_frames` fragments in flight,
//!   [`Config::max_queued_bytes`] queued, reassembly capped at [`Config::max_message_bytes`],
//!   and a receiver that stops acknowledging (so the peer retransmits later) while
//!   [`MAX_PENDING_EVENTS`] undelivered events wait for the owner.

use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec::Vec;

use crate::accumulator::{FrameAccumulator, RxStats};
use crate::frame::{encode_frame, Channel, Flags, Header, MAX_ENCODED_FRAME_BYTES, MAX_FRAME_PAYLOAD_BYTES};
use crate::message::{LogLevel, Message, PeerInfo};
use crate::ProtoError;

/// Largest payload a tool call carries (extension bytecode).
pub const MAX_PAYLOAD_BYTES: usize = 64 * 1024;
/// Default cap on one encoded message: the largest payload plus room for names and JSON.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = MAX_PAYLOAD_BYTES + 4 * 1024;
/// Most frames in flight a configuration may ask for.
pub const MAX_WINDOW_FRAMES: usize = 32;
/// Undelivered events after which the receiver stops accepting frames.
pub const MAX_PENDING_EVENTS: usize = 64;
/// Log messages queued for sending before the oldest is dropped.
pub const MAX_QUEUED_LOGS: usize = 32;
/// Smallest fragment payload the adaptive fragment size shrinks to.
pub const MIN_FRAGMENT_BYTES: usize = 64;
/// Timeouts in a row retried at the same timeout before it starts doubling.
const STEADY_TIMEOUTS: u32 = 3;
/// Growth of the adaptive fragment size per acknowledged frame (additive increase,
/// multiplicative decrease). Slow growth measured best at 1% byte faults: a 64 KiB upload
/// took 132 s of simulated time with +4, 151 s with +8 and 264 s with +32 (49 s with +4
/// since timeouts follow the round trip and back off only after three in a row).
const FRAGMENT_GROWTH_BYTES: usize = 4;

/// Tuning of one endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// Reliable frames sent but not yet acknowledged, 1..=[`MAX_WINDOW_FRAMES`].
    pub window_frames: usize,
    /// Retransmission timeout until the first round trip is measured; it doubles on each
    /// timeout up to the maximum.
    pub retransmit_timeout_ms: u64,
    /// Floor of the timeout computed from measured round trips.
    pub min_retransmit_timeout_ms: u64,
    /// Ceiling of the backed-off retransmission timeout.
    pub max_retransmit_timeout_ms: u64,
    /// Timeouts in a row without progress before the session is declared lost; 0 = never.
    pub max_retransmits: u32,
    /// Largest encoded message sent or accepted.
    pub max_message_bytes: usize,
    /// Bytes of reliable messages queued (sent or not) before `send` refuses.
    pub max_queued_bytes: usize,
    /// Prefix every frame with a `0x00`, cutting off console text written before it.
    pub leading_delimiter: bool,
    /// Shrink fragments when frames time out (halve, down to [`MIN_FRAGMENT_BYTES`]) and
    /// grow them back as acks arrive, so a noisy line still moves large messages.
    pub adaptive_fragments: bool,
}

impl Config {
    /// Defaults for a 115200-baud UART: a 1 KiB frame takes 89 ms on the wire, a full
    /// window of four about 360 ms, so the first timeout is 1 s.
    pub const SERIAL: Self = Self {
        window_frames: 4,
        retransmit_timeout_ms: 1000,
        min_retransmit_timeout_ms: 20,
        max_retransmit_timeout_ms: 8000,
        max_retransmits: 12,
        max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
        max_queued_bytes: 2 * DEFAULT_MAX_MESSAGE_BYTES,
        leading_delimiter: true,
        adaptive_fragments: true,
    };

    /// The kernel's message port, both ends: the serial defaults with a quicker first
    /// retransmission (250 ms still covers a full window of 1 KiB frames at 115200 baud plus
    /// the reply; the timeout doubles on every loss).
    ///
    /// Retransmissions go on for minutes (40 at up to 8 s) before a session is given up: a host
    /// whose request was acknowledged waits for the reply and sends nothing that would tell it
    /// the kernel dropped the session, and at 1% byte faults, where a reply frame is lost about
    /// half the time, 12 losses in a row (the serial default) come up within a few hundred calls.
    pub const PORT: Self = Self { retransmit_timeout_ms: 250, max_retransmits: 40, ..Self::SERIAL };
}

impl Default for Config {
    fn default() -> Self {
        Self::SERIAL
    }
}

/// Handle for a message passed to [`Endpoint::send`], echoed by progress events.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageToken(pub u32);

/// Something the owner of an endpoint must know about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A whole message arrived.
    Message {
        /// Channel it came on.
        channel: Channel,
        /// The message.
        message: Message,
    },
    /// A whole message arrived reliably but did not decode (newer peer, or a bug);
    /// a server answers `Message::Error { id: None, .. }`.
    BadMessage {
        /// Channel it came on.
        channel: Channel,
        /// Why it was refused.
        error: ProtoError,
    },
    /// Part of a chunked message arrived.
    ReceiveProgress {
        /// Channel it comes on.
        channel: Channel,
        /// Bytes so far.
        received_bytes: u32,
        /// Bytes in all.
        total_bytes: u32,
    },
    /// The peer acknowledged part of a chunked message.
    SendProgress {
        /// The message.
        token: MessageToken,
        /// Bytes acknowledged so far.
        acked_bytes: u32,
        /// Bytes in all.
        total_bytes: u32,
    },
    /// The peer acknowledged the last fragment of a message.
    Delivered {
        /// The message.
        token: MessageToken,
    },
    /// The peer joined the session opened by [`Endpoint::connect`].
    Connected,
    /// The peer opened a new session; everything queued for the old one was dropped.
    SessionReset,
    /// The session is gone ([`ProtoError::PeerReset`] or [`ProtoError::RetransmitLimit`]);
    /// queued messages were dropped. A host calls `connect` again.
    SessionLost {
        /// Why.
        error: ProtoError,
    },
}

/// Session counters; with [`RxStats`] they make up the kernel's `uart_stats`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SessionStats {
    /// Frames handed out by `poll_transmit`.
    pub frames_sent: u64,
    /// Bytes handed out by `poll_transmit`.
    pub bytes_sent: u64,
    /// Reliable frames sent again.
    pub retransmits: u64,
    /// Retransmission timeouts.
    pub timeouts: u64,
    /// Go-back-N rounds started early: by duplicate acks, or by the peer repeating a
    /// frame we already have (so our answer to it was lost).
    pub fast_retransmits: u64,
    /// Reliable frames received twice and dropped.
    pub duplicates: u64,
    /// Reliable frames received ahead of a gap and dropped.
    pub out_of_order: u64,
    /// Reliable frames refused because the owner has not drained events.
    pub refused_busy: u64,
    /// Reliable frames that arrived with no session open (answered with RST).
    pub no_session: u64,
    /// Fragments out of place, oversize messages, frames on the wrong channel.
    pub protocol_errors: u64,
    /// Complete messages that did not decode.
    pub bad_messages: u64,
    /// Log messages dropped (queue full on send, or no room on receive).
    pub logs_dropped: u64,
    /// Progress events dropped because the event queue was full.
    pub events_dropped: u64,
    /// Smoothed round trip in milliseconds (0 until measured).
    pub round_trip_ms: u64,
    /// Mean deviation of the round trip in milliseconds.
    pub round_trip_variation_ms: u64,
    /// The retransmission timeout in force, backoff included.
    pub retransmit_timeout_ms: u64,
}

/// All counters of one endpoint.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkStats {
    /// Framing layer.
    pub rx: RxStats,
    /// Session layer.
    pub session: SessionStats,
}

/// `a` comes before `b` in 16-bit serial-number arithmetic (RFC 1982).
fn seq_before(a: u16, b: u16) -> bool {
    (a.wrapping_sub(b) as i16) < 0
}

/// A message waiting to be cut into fragments.
struct Outgoing {
    token: MessageToken,
    bytes: Vec<u8>,
    /// Bytes already cut into fragments.
    offset: usize,
    /// Open a session with the first fragment.
    syn: bool,
    /// Cancelled after some fragments went out: send an empty last fragment instead.
    cancelled: bool,
}

/// A reliable frame sent (or about to be) and not yet acknowledged.
struct InFlight {
    seq: u16,
    channel: Channel,
    flags: Flags,
    payload: Vec<u8>,
    sent: bool,
    /// Times sent, and when first: only a frame sent once gives a round-trip sample.
    transmissions: u32,
    first_sent_ms: u64,
    /// The message it belongs to; `None` once cancelled.
    token: Option<MessageToken>,
    /// Message bytes covered once this fragment is acknowledged, and the message size.
    acked_bytes: u32,
    total_bytes: u32,
}

/// A fragment about to enter the window.
struct NewFragment {
    flags: Flags,
    payload: Vec<u8>,
    token: Option<MessageToken>,
    acked_bytes: usize,
    total_bytes: usize,
}

/// Reassembly of one channel's fragments.
#[derive(Default)]
struct Reassembly {
    buffer: Vec<u8>,
    total_bytes: usize,
    active: bool,
    /// Dropping the rest of a refused message.
    discarding: bool,
}

/// What `poll_transmit` sends next.
enum Outbound {
    Reset { rejected_seq: u16 },
    Reliable { index: usize },
    Log { bytes: Vec<u8> },
    Ack,
}

enum Fragment {
    Pending { received_bytes: usize, total_bytes: usize },
    Complete(Vec<u8>),
    Dropped,
}

impl Reassembly {
    fn reset(&mut self) {
        *self = Self::default();
    }

    fn accept(&mut self, flags: Flags, payload: &[u8], max_message_bytes: usize) -> Result<Fragment, ProtoError> {
        let more = flags.contains(Flags::MORE);
        if flags.contains(Flags::START) {
            self.reset();
            if !more {
                return if payload.len() > max_message_bytes {
                    Err(ProtoError::MessageTooLarge)
                } else {
                    Ok(Fragment::Complete(payload.to_vec()))
                };
            }
            let (total_bytes, rest) = postcard::take_from_bytes::<u32>(payload).map_err(|_| ProtoError::Fragment)?;
            let total_bytes = total_bytes as usize;
            if total_bytes > max_message_bytes || rest.len() > total_bytes {
                self.discarding = true;
                return Err(ProtoError::MessageTooLarge);
            }
            self.buffer.try_reserve_exact(total_bytes).map_err(|_| {
                self.discarding = true;
                ProtoError::OutOfMemory
            })?;
            self.buffer.extend_from_slice(rest);
            self.total_bytes = total_bytes;
            self.active = true;
            return Ok(Fragment::Pending { received_bytes: rest.len(), total_bytes });
        }
        if self.discarding {
            self.discarding = more;
            return Ok(Fragment::Dropped);
        }
        if self.active && !more && payload.is_empty() {
            // The sender cancelled the message (a real last fragment is never empty).
            self.reset();
            return Ok(Fragment::Dropped);
        }
        if !self.active || self.buffer.len() + payload.len() > self.total_bytes {
            self.reset();
            return Err(ProtoError::Fragment);
        }
        self.buffer.extend_from_slice(payload);
        if more {
            return Ok(Fragment::Pending { received_bytes: self.buffer.len(), total_bytes: self.total_bytes });
        }
        let complete = self.buffer.len() == self.total_bytes;
        let bytes = core::mem::take(&mut self.buffer);
        self.reset();
        if complete {
            Ok(Fragment::Complete(bytes))
        } else {
            Err(ProtoError::Fragment)
        }
    }
}

/// One end of a session: the kernel's message port or the host client.
///
/// Both sides drive it the same way: bytes from the line go to `handle_bytes`, events come
/// out of `poll_event` (a server answers requests with `send`), frames come out of
/// `poll_transmit` until it returns `None`, and the owner wakes up again at
/// `poll_timeout` if no byte arrives first. The kernel runs this from its RX interrupt
/// bottom half and timer; the host from a read loop with a timeout. Here the line is a
/// function call:
///
/// ```
/// use kingly_proto::{Config, Endpoint, Event, Message, PeerInfo};
///
/// let mut host = Endpoint::new(Config::SERIAL);
/// let mut kernel = Endpoint::new(Config::SERIAL);
/// host.connect(PeerInfo::default(), 0x1234)?; // a fresh random number per connection
/// host.send(&Message::Ping { id: 1 })?;
///
/// let mut answer = None;
/// for now_ms in 0..10 {
///     while let Some(frame) = host.poll_transmit(now_ms) {
///         kernel.handle_bytes(frame, now_ms); // host UART → kernel RX ring
///     }
///     // The kernel's server loop: requests in, replies out.
///     while let Some(event) = kernel.poll_event() {
///         match event {
///             Event::SessionReset => { /* a new host: drop per-session state */ }
///             Event::Message { message: Message::Hello(_), .. } => {
///                 kernel.send(&Message::HelloAck(PeerInfo::default()))?;
///             }
///             Event::Message { message: Message::Ping { id }, .. } => {
///                 kernel.send(&Message::Pong { id })?;
///             }
///             _ => {}
///         }
///     }
///     while let Some(frame) = kernel.poll_transmit(now_ms) {
///         host.handle_bytes(frame, now_ms);
///     }
///     while let Some(event) = host.poll_event() {
///         if let Event::Message { message: Message::Pong { id }, .. } = event {
///             answer = Some(id);
///         }
///     }
/// }
/// assert_eq!(answer, Some(1));
/// # Ok::<(), kingly_proto::ProtoError>(())
/// ```
pub struct Endpoint {
    config: Config,
    accumulator: FrameAccumulator,
    stats: SessionStats,
    events: VecDeque<Event>,
    next_token: u32,

    // Transmit side.
    /// `send` is allowed: we opened a session or the peer opened one with us.
    session_open: bool,
    tx_next_seq: u16,
    /// Our next new reliable frame carries SYN (we answer a peer's SYN).
    tx_need_syn: bool,
    /// Sequence number of our SYN in this session.
    tx_syn_seq: Option<u16>,
    control_queue: VecDeque<Outgoing>,
    data_queue: VecDeque<Outgoing>,
    log_queue: VecDeque<Vec<u8>>,
    queued_bytes: usize,
    in_flight: VecDeque<InFlight>,
    retransmit_timeout_ms: u64,
    retransmit_deadline_ms: Option<u64>,
    /// Round-trip estimate, once measured.
    rtt: Option<RttEstimate>,
    timeouts_in_a_row: u32,
    duplicate_acks: u32,
    /// Base sequence number a fast retransmit already covered.
    fast_retransmit_base: Option<u16>,
    /// Payload bytes of the next new fragment.
    fragment_bytes: usize,
    tx_buffer: [u8; MAX_ENCODED_FRAME_BYTES],

    // Receive side.
    rx_expected: Option<u16>,
    rx_syn_seq: Option<u16>,
    ack_pending: bool,
    rst_pending: Option<u16>,
    control_stream: Reassembly,
    data_stream: Reassembly,
}

impl Endpoint {
    /// An endpoint with no session: a host calls [`Endpoint::connect`], a kernel waits
    /// for the host's Hello.
    pub fn new(config: Config) -> Self {
        let config = Config {
            window_frames: config.window_frames.clamp(1, MAX_WINDOW_FRAMES),
            retransmit_timeout_ms: config.retransmit_timeout_ms.max(1),
            min_retransmit_timeout_ms: config.min_retransmit_timeout_ms.max(1),
            max_retransmit_timeout_ms: config
                .max_retransmit_timeout_ms
                .max(config.retransmit_timeout_ms.max(1))
                .max(config.min_retransmit_timeout_ms),
            ..config
        };
        Self {
            config,
            accumulator: FrameAccumulator::new(),
            stats: SessionStats::default(),
            events: VecDeque::new(),
            next_token: 0,
            session_open: false,
            tx_next_seq: 0,
            tx_need_syn: false,
            tx_syn_seq: None,
            control_queue: VecDeque::new(),
            data_queue: VecDeque::new(),
            log_queue: VecDeque::new(),
            queued_bytes: 0,
            in_flight: VecDeque::new(),
            retransmit_timeout_ms: config.retransmit_timeout_ms,
            retransmit_deadline_ms: None,
            rtt: None,
            timeouts_in_a_row: 0,
            duplicate_acks: 0,
            fast_retransmit_base: None,
            fragment_bytes: MAX_FRAME_PAYLOAD_BYTES,
            tx_buffer: [0; MAX_ENCODED_FRAME_BYTES],
            rx_expected: None,
            rx_syn_seq: None,
            ack_pending: false,
            rst_pending: None,
            control_stream: Reassembly::default(),
            data_stream: Reassembly::default(),
        }
    }

    /// The configuration in force (after clamping).
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// All counters.
    pub fn stats(&self) -> LinkStats {
        let (round_trip_ms, round_trip_variation_ms) = self.round_trip_ms().unwrap_or((0, 0));
        let session = SessionStats {
            round_trip_ms,
            round_trip_variation_ms,
            retransmit_timeout_ms: self.retransmit_timeout_ms,
            ..self.stats
        };
        LinkStats { rx: self.accumulator.stats(), session }
    }

    /// Whether `send` is allowed.
    pub fn is_open(&self) -> bool {
        self.session_open
    }

    /// No reliable message is queued or waiting for an acknowledgement.
    pub fn is_idle(&self) -> bool {
        self.in_flight.is_empty() && self.control_queue.is_empty() && self.data_queue.is_empty()
    }

    /// Opens a new session by sending `hello` flagged SYN with sequence number
    /// `initial_seq`, dropping everything of the previous session. Pass a fresh random
    /// `initial_seq` per connection: it is how the peer tells a new host from a repeat.
    pub fn connect(&mut self, hello: PeerInfo, initial_seq: u16) -> Result<MessageToken, ProtoError> {
        self.drop_session();
        self.session_open = true;
        self.tx_next_seq = initial_seq;
        self.enqueue(&Message::Hello(hello), true)
    }

    /// Queues a message. `Log` goes best effort on the log channel (see
    /// [`Endpoint::send_log`]; its token sees no events); a message that fits one frame
    /// goes on the control channel, a larger one in fragments on the data channel, where
    /// control messages sent later may overtake it.
    pub fn send(&mut self, message: &Message) -> Result<MessageToken, ProtoError> {
        if let Message::Log { level, text } = message {
            self.send_log(*level, text)?;
            return Ok(self.take_token());
        }
        if !self.session_open {
            return Err(ProtoError::NotConnected);
        }
        self.enqueue(message, false)
    }

    /// Queues a log line for the log channel, truncated at a character boundary to fit
    /// one frame. Needs no session; when the queue is full the oldest line is dropped.
    pub fn send_log(&mut self, level: LogLevel, text: &str) -> Result<(), ProtoError> {
        // Variant tag, level and a two-byte length prefix precede the text.
        const TEXT_BUDGET: usize = MAX_FRAME_PAYLOAD_BYTES - 4;
        let text = if text.len() <= TEXT_BUDGET {
            String::from(text)
        } else {
            let mut end = TEXT_BUDGET - 3;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            let mut truncated = String::from(&text[..end]);
            truncated.push_str("...");
            truncated
        };
        let bytes = Message::Log { level, text }.encode()?;
        if bytes.len() > MAX_FRAME_PAYLOAD_BYTES {
            return Err(ProtoError::PayloadTooLarge);
        }
        if self.log_queue.len() >= MAX_QUEUED_LOGS {
            self.log_queue.pop_front();
            self.stats.logs_dropped += 1;
        }
        self.log_queue.push_back(bytes);
        Ok(())
    }

    /// Stops sending a queued message. A message not started is forgotten; one partly sent
    /// ends with an empty fragment that makes the peer discard what it has. Fragments
    /// already in flight still complete, and no `Delivered` follows. Returns whether the
    /// message was still queued.
    pub fn cancel(&mut self, token: MessageToken) -> bool {
        for queue in [&mut self.control_queue, &mut self.data_queue] {
            let found = queue.iter().position(|message| message.token == token && !message.cancelled);
            let Some(index) = found else { continue };
            let Some(message) = queue.get_mut(index) else {
                continue;
            };
            self.queued_bytes = self.queued_bytes.saturating_sub(message.bytes.len());
            if message.offset == 0 {
                queue.remove(index);
            } else {
                message.cancelled = true;
                message.bytes = Vec::new();
            }
            // Fragments in flight must not report the message delivered.
            for frame in self.in_flight.iter_mut().filter(|frame| frame.token == Some(token)) {
                frame.token = None;
            }
            return true;
        }
        false
    }

    /// Feeds bytes read from the line; `now_ms` is any monotonic millisecond clock.
    pub fn handle_bytes(&mut self, bytes: &[u8], now_ms: u64) {
        let mut input = bytes;
        // The frame is copied out of the accumulator (at most 1 KiB, on the stack) so the
        // session can update itself while holding it.
        let mut payload = [0u8; MAX_FRAME_PAYLOAD_BYTES];
        while let Some(result) = self.accumulator.push(&mut input) {
            // Framing errors are already counted by the accumulator.
            let Ok(frame) = result else { continue };
            let header = frame.header;
            let length = frame.payload.len().min(MAX_FRAME_PAYLOAD_BYTES);
            payload[..length].copy_from_slice(&frame.payload[..length]);
            self.handle_frame(header, &payload[..length], now_ms);
        }
    }

    /// The next event, oldest first.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When to call [`Endpoint::poll_transmit`] again even if no bytes arrive.
    pub fn poll_timeout(&self) -> Option<u64> {
        self.retransmit_deadline_ms
    }

    /// The next frame to write to the line, delimiter included; `None` when there is
    /// nothing to send. Call until `None` after every `handle_bytes`, `send` and timeout.
    pub fn poll_transmit(&mut self, now_ms: u64) -> Option<&[u8]> {
        self.check_timeout(now_ms);
        let outbound = self.next_outbound(now_ms)?;
        let (ack_flags, ack) = match self.rx_expected {
            Some(expected) => (Flags::ACK, expected),
            None => (Flags::default(), 0),
        };
        let lead = self.config.leading_delimiter;
        let buffer = &mut self.tx_buffer;
        let length = match &outbound {
            Outbound::Reset { rejected_seq } => write_frame(
                buffer,
                lead,
                &Header::new(Channel::Control, Flags::RST.with(Flags::ACK), 0, *rejected_seq),
                &[],
            ),
            Outbound::Reliable { index } => {
                let frame = self.in_flight.get(*index)?;
                let header = Header::new(frame.channel, frame.flags.with(ack_flags), frame.seq, ack);
                write_frame(buffer, lead, &header, &frame.payload)
            }
            Outbound::Log { bytes } => write_frame(buffer, lead, &Header::new(Channel::Log, ack_flags, 0, ack), bytes),
            Outbound::Ack => write_frame(buffer, lead, &Header::new(Channel::Control, ack_flags, 0, ack), &[]),
        }?;
        if !matches!(outbound, Outbound::Reset { .. }) {
            self.ack_pending = false;
        }
        self.stats.frames_sent += 1;
        self.stats.bytes_sent += length as u64;
        self.tx_buffer.get(..length)
    }

    /// Picks what goes out next: resets, then retransmissions, control fragments, logs,
    /// data fragments, and a bare ack last.
    fn next_outbound(&mut self, now_ms: u64) -> Option<Outbound> {
        if let Some(rejected_seq) = self.rst_pending.take() {
            return Some(Outbound::Reset { rejected_seq });
        }
        if let Some(index) = self.in_flight.iter().position(|frame| !frame.sent) {
            self.stats.retransmits += 1;
            return Some(self.mark_sent(index, now_ms));
        }
        if let Some(index) = self.next_fragment(Channel::Control) {
            return Some(self.mark_sent(index, now_ms));
        }
        if let Some(bytes) = self.log_queue.pop_front() {
            return Some(Outbound::Log { bytes });
        }
        if let Some(index) = self.next_fragment(Channel::Data) {
            return Some(self.mark_sent(index, now_ms));
        }
        if self.ack_pending && self.rx_expected.is_some() {
            return Some(Outbound::Ack);
        }
        None
    }

    fn mark_sent(&mut self, index: usize, now_ms: u64) -> Outbound {
        if let Some(frame) = self.in_flight.get_mut(index) {
            frame.sent = true;
            if frame.transmissions == 0 {
                frame.first_sent_ms = now_ms;
            }
            frame.transmissions = frame.transmissions.saturating_add(1);
        }
        if self.retransmit_deadline_ms.is_none() {
            self.retransmit_deadline_ms = Some(now_ms.saturating_add(self.retransmit_timeout_ms));
        }
        Outbound::Reliable { index }
    }

    fn check_timeout(&mut self, now_ms: u64) {
        let Some(deadline) = self.retransmit_deadline_ms else {
            return;
        };
        if now_ms < deadline {
            return;
        }
        self.retransmit_deadline_ms = None;
        if self.in_flight.is_empty() {
            return;
        }
        self.stats.timeouts += 1;
        self.timeouts_in_a_row += 1;
        if self.config.max_retransmits != 0 && self.timeouts_in_a_row > self.config.max_retransmits {
            self.drop_session();
            self.push_event(Event::SessionLost { error: ProtoError::RetransmitLimit });
            return;
        }
        // Corruption, not congestion, loses frames on a serial line, and at 1% byte errors
        // half of all frames: the first few timeouts in a row keep the timeout, later ones
        // double it (for a peer that is busy or gone).
        if self.timeouts_in_a_row > STEADY_TIMEOUTS {
            self.retransmit_timeout_ms =
                self.retransmit_timeout_ms.saturating_mul(2).min(self.config.max_retransmit_timeout_ms);
        }
        if self.config.adaptive_fragments {
            // Long frames are the likeliest to be hit on a noisy line.
            self.fragment_bytes = (self.fragment_bytes / 2).max(MIN_FRAGMENT_BYTES);
        }
        self.go_back_n();
    }

    /// Sends every unacknowledged frame again, oldest first.
    fn go_back_n(&mut self) {
        for frame in &mut self.in_flight {
            frame.sent = false;
        }
        self.duplicate_acks = 0;
    }

    /// Cuts the next fragment off the channel's queue into the window; returns its index.
    fn next_fragment(&mut self, channel: Channel) -> Option<usize> {
        if self.in_flight.len() >= self.config.window_frames {
            return None;
        }
        let queue = match channel {
            Channel::Data => &mut self.data_queue,
            Channel::Control | Channel::Log => &mut self.control_queue,
        };
        let message = queue.front_mut()?;
        if message.cancelled {
            queue.pop_front();
            let abort =
                NewFragment { flags: Flags::SEQ, payload: Vec::new(), token: None, acked_bytes: 0, total_bytes: 0 };
            return Some(self.push_in_flight(channel, abort));
        }
        let total_bytes = message.bytes.len();
        let mut flags = Flags::SEQ;
        let limit = self.fragment_bytes;
        let mut payload = Vec::with_capacity(limit.min(total_bytes + 5));
        if message.offset == 0 {
            flags = flags.with(Flags::START);
            if message.syn || self.tx_need_syn {
                flags = flags.with(Flags::SYN);
                self.tx_need_syn = false;
                self.tx_syn_seq = Some(self.tx_next_seq);
            }
            if total_bytes > limit {
                // The first fragment of a chunked message leads with its total length.
                let mut prefix = [0u8; 5];
                let used = postcard::to_slice(&(total_bytes as u32), &mut prefix).map_or(0, |used| used.len());
                payload.extend_from_slice(&prefix[..used]);
            }
        }
        let take = (limit - payload.len()).min(total_bytes - message.offset);
        payload.extend_from_slice(&message.bytes[message.offset..message.offset + take]);
        message.offset += take;
        let acked_bytes = message.offset;
        let last = acked_bytes == total_bytes;
        let token = message.token;
        if last {
            queue.pop_front();
        } else {
            flags = flags.with(Flags::MORE);
        }
        let fragment = NewFragment { flags, payload, token: Some(token), acked_bytes, total_bytes };
        Some(self.push_in_flight(channel, fragment))
    }

    fn push_in_flight(&mut self, channel: Channel, fragment: NewFragment) -> usize {
        let seq = self.tx_next_seq;
        self.tx_next_seq = seq.wrapping_add(1);
        self.in_flight.push_back(InFlight {
            seq,
            channel,
            flags: fragment.flags,
            payload: fragment.payload,
            sent: false,
            transmissions: 0,
            first_sent_ms: 0,
            token: fragment.token,
            acked_bytes: fragment.acked_bytes as u32,
            total_bytes: fragment.total_bytes as u32,
        });
        self.in_flight.len() - 1
    }

    fn take_token(&mut self) -> MessageToken {
        let token = MessageToken(self.next_token);
        self.next_token = self.next_token.wrapping_add(1);
        token
    }

    fn enqueue(&mut self, message: &Message, syn: bool) -> Result<MessageToken, ProtoError> {
        let bytes = message.encode()?;
        if bytes.len() > self.config.max_message_bytes {
            return Err(ProtoError::MessageTooLarge);
        }
        if self.queued_bytes + bytes.len() > self.config.max_queued_bytes {
            return Err(ProtoError::QueueFull);
        }
        self.queued_bytes += bytes.len();
        let token = self.take_token();
        let outgoing = Outgoing { token, bytes, offset: 0, syn, cancelled: false };
        // Hello must lead; other small messages go ahead of bulk transfers.
        if outgoing.bytes.len() > MAX_FRAME_PAYLOAD_BYTES && !syn {
            self.data_queue.push_back(outgoing);
        } else {
            self.control_queue.push_back(outgoing);
        }
        Ok(token)
    }

    fn push_event(&mut self, event: Event) {
        if self.events.len() >= MAX_PENDING_EVENTS * 2 {
            self.stats.events_dropped += 1;
            return;
        }
        self.events.push_back(event);
    }

    /// Forgets everything of the current session in both directions.
    fn drop_session(&mut self) {
        self.session_open = false;
        self.tx_need_syn = false;
        self.tx_syn_seq = None;
        self.control_queue.clear();
        self.data_queue.clear();
        self.queued_bytes = 0;
        self.in_flight.clear();
        self.reset_timer();
        self.rx_expected = None;
        self.rx_syn_seq = None;
        self.ack_pending = false;
        self.control_stream.reset();
        self.data_stream.reset();
    }

    fn reset_timer(&mut self) {
        self.retransmit_timeout_ms = self.base_timeout_ms();
        self.retransmit_deadline_ms = None;
        self.timeouts_in_a_row = 0;
        self.duplicate_acks = 0;
        self.fast_retransmit_base = None;
    }

    /// The timeout before any backoff: from the round-trip estimate once there is one.
    fn base_timeout_ms(&self) -> u64 {
        match self.rtt {
            None => self.config.retransmit_timeout_ms,
            Some(estimate) => estimate
                .timeout_ms()
                .clamp(self.config.min_retransmit_timeout_ms, self.config.max_retransmit_timeout_ms),
        }
    }

    /// The current round-trip estimate in milliseconds (smoothed, variation), if measured.
    pub fn round_trip_ms(&self) -> Option<(u64, u64)> {
        self.rtt.map(|estimate| (estimate.smoothed_x8 / 8, estimate.variation_x4 / 4))
    }

    fn handle_frame(&mut self, header: Header, payload: &[u8], now_ms: u64) {
        let flags = header.flags;
        if flags.contains(Flags::RST) {
            let ours = self.in_flight.iter().any(|frame| frame.seq == header.ack);
            // While our SYN is unacknowledged a reset only means the SYN was lost and a
            // later frame overtook it; the SYN's retransmission repairs that.
            let syn_pending = self.in_flight.iter().any(|frame| frame.flags.contains(Flags::SYN));
            if ours && !syn_pending {
                self.drop_session();
                self.push_event(Event::SessionLost { error: ProtoError::PeerReset });
            }
            return;
        }
        if flags.contains(Flags::SYN) && self.rx_syn_seq != Some(header.seq) {
            self.accept_syn(header);
        }
        if flags.contains(Flags::ACK) {
            let pure_ack = !flags.contains(Flags::SEQ) && payload.is_empty();
            self.handle_ack(header.ack, pure_ack, now_ms);
        }
        if flags.contains(Flags::SEQ) {
            self.handle_reliable(header, payload);
        } else if header.channel == Channel::Log {
            self.handle_log(payload);
        } else if !payload.is_empty() {
            self.stats.protocol_errors += 1;
        }
    }

    fn accept_syn(&mut self, header: Header) {
        let joins_our_session = header.flags.contains(Flags::ACK)
            && self.tx_syn_seq.is_some_and(|syn| {
                let acked = header.ack.wrapping_sub(syn);
                acked >= 1 && acked <= self.tx_next_seq.wrapping_sub(syn)
            });
        if joins_our_session {
            self.push_event(Event::Connected);
        } else {
            // The peer started afresh: whatever we owed the old session is void.
            self.drop_session();
            self.session_open = true;
            self.tx_need_syn = true;
            self.push_event(Event::SessionReset);
        }
        self.rx_syn_seq = Some(header.seq);
        self.rx_expected = Some(header.seq);
        self.control_stream.reset();
        self.data_stream.reset();
    }

    fn handle_ack(&mut self, ack: u16, pure_ack: bool, now_ms: u64) {
        let Some(base) = self.in_flight.front().map(|frame| frame.seq) else {
            return;
        };
        let acked = usize::from(ack.wrapping_sub(base));
        if acked > self.in_flight.len() {
            return; // stale, or not ours
        }
        if acked == 0 {
            if pure_ack {
                self.duplicate_acks += 1;
                if self.duplicate_acks >= 2 && self.fast_retransmit_base != Some(base) {
                    self.fast_retransmit_base = Some(base);
                    self.stats.fast_retransmits += 1;
                    self.go_back_n();
                }
            }
            return;
        }
        let mut sample = None;
        for _ in 0..acked {
            let Some(frame) = self.in_flight.pop_front() else {
                break;
            };
            if frame.transmissions == 1 {
                sample = Some(now_ms.saturating_sub(frame.first_sent_ms));
            }
            if self.config.adaptive_fragments {
                self.fragment_bytes = (self.fragment_bytes + FRAGMENT_GROWTH_BYTES).min(MAX_FRAME_PAYLOAD_BYTES);
            }
            let Some(token) = frame.token else { continue };
            let whole_message = frame.flags.contains(Flags::START) && !frame.flags.contains(Flags::MORE);
            if !whole_message {
                self.push_progress(Event::SendProgress {
                    token,
                    acked_bytes: frame.acked_bytes,
                    total_bytes: frame.total_bytes,
                });
            }
            if frame.acked_bytes == frame.total_bytes {
                self.queued_bytes = self.queued_bytes.saturating_sub(frame.total_bytes as usize);
                self.push_event(Event::Delivered { token });
            }
        }
        if let Some(sample_ms) = sample {
            self.rtt = Some(match self.rtt {
                None => RttEstimate::first(sample_ms),
                Some(estimate) => estimate.update(sample_ms),
            });
        }
        self.retransmit_timeout_ms = self.base_timeout_ms();
        self.timeouts_in_a_row = 0;
        self.duplicate_acks = 0;
        self.retransmit_deadline_ms =
            if self.in_flight.is_empty() { None } else { Some(now_ms.saturating_add(self.retransmit_timeout_ms)) };
    }

    fn handle_reliable(&mut self, header: Header, payload: &[u8]) {
        let Some(expected) = self.rx_expected else {
            if self.session_open {
                // We opened a session and wait for the peer's SYN; this frame came first.
                self.stats.out_of_order += 1;
            } else {
                self.stats.no_session += 1;
                self.rst_pending = Some(header.seq);
            }
            return;
        };
        if header.seq != expected {
            if seq_before(header.seq, expected) {
                self.stats.duplicates += 1;
                // The peer sent again what we already have: it has not heard from us since,
                // so what we sent after it (our answer, and the ack riding on it) was lost.
                // Repeat it now rather than at our own timeout: on a noisy line that halves
                // the cost of a lost reply.
                if self.in_flight.iter().any(|frame| frame.sent) {
                    self.stats.fast_retransmits += 1;
                    self.go_back_n();
                }
            } else {
                self.stats.out_of_order += 1;
            }
            self.ack_pending = true;
            return;
        }
        if self.events.len() >= MAX_PENDING_EVENTS {
            self.stats.refused_busy += 1;
            return;
        }
        self.rx_expected = Some(expected.wrapping_add(1));
        self.ack_pending = true;
        let channel = header.channel;
        let stream = match channel {
            Channel::Data => &mut self.data_stream,
            _ => &mut self.control_stream,
        };
        match stream.accept(header.flags, payload, self.config.max_message_bytes) {
            Ok(Fragment::Pending { received_bytes, total_bytes }) => {
                self.push_progress(Event::ReceiveProgress {
                    channel,
                    received_bytes: received_bytes as u32,
                    total_bytes: total_bytes as u32,
                });
            }
            Ok(Fragment::Complete(bytes)) => match Message::decode(&bytes) {
                Ok(message) => self.push_event(Event::Message { channel, message }),
                Err(error) => {
                    self.stats.bad_messages += 1;
                    self.push_event(Event::BadMessage { channel, error });
                }
            },
            Ok(Fragment::Dropped) => {}
            Err(error) => {
                self.stats.protocol_errors += 1;
                if error == ProtoError::MessageTooLarge || error == ProtoError::OutOfMemory {
                    self.push_event(Event::BadMessage { channel, error });
                }
            }
        }
    }

    fn handle_log(&mut self, payload: &[u8]) {
        if self.events.len() >= MAX_PENDING_EVENTS {
            self.stats.logs_dropped += 1;
            return;
        }
        match Message::decode(payload) {
            Ok(message @ Message::Log { .. }) => self.push_event(Event::Message { channel: Channel::Log, message }),
            _ => self.stats.bad_messages += 1,
        }
    }

    /// Progress is advisory: dropped rather than crowding out messages.
    fn push_progress(&mut self, event: Event) {
        if self.events.len() >= MAX_PENDING_EVENTS {
            self.stats.events_dropped += 1;
        } else {
            self.events.push_back(event);
        }
    }
}

/// Smoothed round trip and its variation, fixed point (x8 and x4) as in Jacobson's
/// algorithm, so sub-millisecond changes still move the estimate.
#[derive(Clone, Copy, Debug)]
struct RttEstimate {
    smoothed_x8: u64,
    variation_x4: u64,
}

impl RttEstimate {
    /// RFC 6298 2.2: SRTT = R, RTTVAR = R/2.
    fn first(sample_ms: u64) -> Self {
        Self { smoothed_x8: sample_ms.saturating_mul(8), variation_x4: sample_ms.saturating_mul(2) }
    }

    /// RFC 6298 2.3 with alpha = 1/8, beta = 1/4.
    fn update(self, sample_ms: u64) -> Self {
        let sample_x8 = sample_ms.saturating_mul(8);
        let error_x8 = sample_x8.abs_diff(self.smoothed_x8);
        let smoothed_x8 = if sample_x8 >= self.smoothed_x8 {
            self.smoothed_x8 + error_x8 / 8
        } else {
            self.smoothed_x8 - error_x8 / 8
        };
        // RTTVAR += (|err| - RTTVAR) / 4, in x4 units: |err| x4 = error_x8 / 2.
        let error_x4 = error_x8 / 2;
        let variation_x4 = if error_x4 >= self.variation_x4 {
            self.variation_x4 + (error_x4 - self.variation_x4) / 4
        } else {
            self.variation_x4 - (self.variation_x4 - error_x4) / 4
        };
        Self { smoothed_x8, variation_x4 }
    }

    /// RTO = SRTT + max(G, 4 * RTTVAR), with a clock granularity G of 1 ms.
    fn timeout_ms(self) -> u64 {
        (self.smoothed_x8 / 8).saturating_add((self.variation_x4).max(1))
    }
}

fn write_frame(
    buffer: &mut [u8; MAX_ENCODED_FRAME_BYTES],
    leading_delimiter: bool,
    header: &Header,
    payload: &[u8],
) -> Option<usize> {
    let start = usize::from(leading_delimiter);
    buffer[0] = 0;
    // Only a payload over the frame limit fails, and the session never builds one.
    encode_frame(header, payload, &mut buffer[start..]).ok().map(|length| start + length)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_numbers_compare_across_the_wrap() {
        assert!(seq_before(0xfffe, 0x0001));
        assert!(!seq_before(0x0001, 0xfffe));
        assert!(seq_before(5, 6) && !seq_before(6, 6));
    }

    #[test]
    fn reassembly_refuses_what_does_not_fit() {
        let mut stream = Reassembly::default();
        let start_more = Flags::SEQ.with(Flags::START).with(Flags::MORE);
        let mut first = alloc::vec![0x90, 0x4e]; // total 10000 as a postcard varint
        first.extend_from_slice(&[1; 100]);
        assert_eq!(stream.accept(start_more, &first, 5000).err(), Some(ProtoError::MessageTooLarge));
        // The rest of the refused message is dropped quietly, then a new one starts.
        assert!(matches!(stream.accept(Flags::SEQ.with(Flags::MORE), &[1; 10], 5000), Ok(Fragment::Dropped)));
        assert!(matches!(stream.accept(Flags::SEQ, &[1; 10], 5000), Ok(Fragment::Dropped)));
        assert!(
            matches!(stream.accept(Flags::SEQ.with(Flags::START), b"ok", 5000), Ok(Fragment::Complete(bytes)) if bytes == b"ok")
        );
        // A middle fragment with no message open, and a message longer than announced.
        assert_eq!(stream.accept(Flags::SEQ, b"stray", 5000).err(), Some(ProtoError::Fragment));
        assert!(stream.accept(start_more, &[3, 1, 2], 5000).is_ok());
        assert_eq!(stream.accept(Flags::SEQ, &[3, 4], 5000).err(), Some(ProtoError::Fragment));
    }

    #[test]
    fn a_chunked_message_reports_progress_and_completes() {
        let mut stream = Reassembly::default();
        let start_more = Flags::SEQ.with(Flags::START).with(Flags::MORE);
        assert!(matches!(
            stream.accept(start_more, &[4, 1, 2], 100),
            Ok(Fragment::Pending { received_bytes: 2, total_bytes: 4 })
        ));
        assert!(
            matches!(stream.accept(Flags::SEQ, &[3, 4], 100), Ok(Fragment::Complete(bytes)) if bytes == [1, 2, 3, 4])
        );
    }
}
