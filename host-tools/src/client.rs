//! The host side of the message port: connect to a kernel over a Unix socket, TCP or a serial
//! device, open a session, and make requests.

use anyhow::{anyhow, bail, Context, Result};
use kingly_proto::{
    contract, CallTool, CallToolResult, Capabilities, Config, Content, Endpoint, Event, LogLevel, Message, PeerInfo,
    RequestId, ResourceContents, ResourceDescriptor, ToolDescriptor, MESSAGE_VERSION,
};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Where a kernel's UART is reachable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectTarget {
    /// `unix:PATH`: a Unix socket (`kingly boot --serial unix:PATH`).
    Unix(PathBuf),
    /// `tcp:HOST:PORT`: a TCP socket (QEMU `-serial tcp:...,server`).
    Tcp(String),
    /// `/dev/ttyXXX`: a serial device at `baud`.
    Serial { path: PathBuf, baud: u32 },
}

impl ConnectTarget {
    /// Parses `unix:PATH`, `tcp:HOST:PORT` or a `/dev/...` path.
    pub fn parse(text: &str, baud: u32) -> Result<Self> {
        if let Some(path) = text.strip_prefix("unix:") {
            if path.is_empty() {
                bail!("--connect unix: needs a socket path, e.g. unix:/tmp/kingly.sock");
            }
            return Ok(Self::Unix(path.into()));
        }
        if let Some(address) = text.strip_prefix("tcp:") {
            if !address.rsplit_once(':').is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok()) {
                bail!("--connect tcp: needs HOST:PORT, e.g. tcp:127.0.0.1:4555 (got {address:?})");
            }
            return Ok(Self::Tcp(address.to_string()));
        }
        if text.starts_with("/dev/") {
            return Ok(Self::Serial { path: text.into(), baud });
        }
        bail!("cannot connect to {text:?}: use unix:PATH, tcp:HOST:PORT or a serial device like /dev/ttyUSB0")
    }
}

/// A byte pipe to the kernel.
pub trait Transport: Send {
    fn send(&mut self, bytes: &[u8]) -> std::io::Result<()>;
    /// Reads what is available, waiting at most about `wait`; 0 means nothing arrived.
    fn receive(&mut self, buffer: &mut [u8], wait: Duration) -> std::io::Result<usize>;
}

/// Nothing arrived in time, or a signal (a debugger attaching, SIGWINCH) cut the wait short.
fn timed_out(e: &std::io::Error) -> bool {
    matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut | std::io::ErrorKind::Interrupted)
}

macro_rules! socket_transport {
    ($t:ty) => {
        impl Transport for $t {
            fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
                self.write_all(bytes)
            }
            fn receive(&mut self, buffer: &mut [u8], wait: Duration) -> std::io::Result<usize> {
                self.set_read_timeout(Some(wait.max(Duration::from_millis(1))))?;
                match self.read(buffer) {
                    Ok(0) => Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "the kernel's UART closed")),
                    Ok(n) => Ok(n),
                    Err(e) if timed_out(&e) => Ok(0),
                    Err(e) => Err(e),
                }
            }
        }
    };
}
socket_transport!(UnixStream);
socket_transport!(std::net::TcpStream);

struct SerialTransport(Box<dyn serialport::SerialPort>);

impl Transport for SerialTransport {
    fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.0.write_all(bytes)
    }
    fn receive(&mut self, buffer: &mut [u8], wait: Duration) -> std::io::Result<usize> {
        self.0.set_timeout(wait.max(Duration::from_millis(1)))?;
        match self.0.read(buffer) {
            Ok(n) => Ok(n),
            Err(e) if timed_out(&e) => Ok(0),
            Err(e) => Err(e),
        }
    }
}

/// Opens the transport to `target`.
pub fn open(target: &ConnectTarget) -> Result<Box<dyn Transport>> {
    Ok(match target {
        ConnectTarget::Unix(path) => {
            let stream = UnixStream::connect(path).map_err(|e| unix_connect_error(path, e))?;
            wait_until_accepted(path)?;
            Box::new(stream)
        }
        ConnectTarget::Tcp(address) => {
            let stream =
                std::net::TcpStream::connect(address).with_context(|| format!("connecting to tcp:{address}"))?;
            stream.set_nodelay(true)?;
            Box::new(stream)
        }
        ConnectTarget::Serial { path, baud } => {
            let port = serialport::new(path.to_string_lossy(), *baud)
                .timeout(Duration::from_millis(20))
                .open()
                .with_context(|| format!("opening serial device {} at {baud} baud", path.display()))?;
            Box::new(SerialTransport(port))
        }
    })
}

/// Why connecting to a Unix socket failed, in words: the common causes have their own advice.
fn unix_connect_error(path: &Path, error: std::io::Error) -> anyhow::Error {
    let shown = path.display();
    match error.kind() {
        std::io::ErrorKind::NotFound => anyhow!(
            "no such socket: {shown} does not exist; start a kernel there with \
             `kingly boot --serial unix:{shown}` (or give the path it printed)"
        ),
        std::io::ErrorKind::ConnectionRefused => anyhow!(
            "connection refused on {shown}: the socket file is there but nothing listens on it (the QEMU \
             that made it has exited); start the kernel again"
        ),
        _ => anyhow!(error).context(format!("connecting to {shown}")),
    }
}

/// How long a listener gets to accept our connection before we call it busy.
const ACCEPT_LIMIT: Duration = Duration::from_millis(500);

/// Waits (at most [`ACCEPT_LIMIT`]) until the listener on `path` has accepted every connection
/// made to it. QEMU serves one client per socket: a second one is queued, never accepted, and
/// would otherwise wait out the whole handshake timeout in silence. A queued connection shows in
/// `/proc/net/unix` as a socket in state 02 (connecting) under the listener's path; where that
/// file does not exist (not Linux), the handshake timeout is the only check.
fn wait_until_accepted(path: &Path) -> Result<()> {
    let deadline = Instant::now() + ACCEPT_LIMIT;
    let ours = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    loop {
        let Ok(table) = std::fs::read_to_string("/proc/net/unix") else { return Ok(()) };
        if !queued_connection(&table, &ours) {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!(
                "{} is busy: its listener accepted no connection within {} ms; QEMU serves one client per \
                 socket, so another client (a `kingly call`, `kingly mcp` or console) holds it; close that one, \
                 or start another kernel",
                path.display(),
                ACCEPT_LIMIT.as_millis()
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Whether `/proc/net/unix` (`table`) lists a connection queued on the listener at `socket`.
fn queued_connection(table: &str, socket: &Path) -> bool {
    // "Num RefCount Protocol Flags Type St Inode Path"
    table.lines().skip(1).any(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        match fields.as_slice() {
            [_, _, _, _, _, "02", _, listed] => {
                let listed = Path::new(listed);
                listed == socket || std::fs::canonicalize(listed).is_ok_and(|p| p == socket)
            }
            _ => false,
        }
    })
}

/// Nothing answered before the deadline.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error(
    "no answer from the kernel in time: connected, but nothing answered (is the kernel running, and is this its \
     UART or message port?)"
)]
pub struct NoAnswer;

/// The MCP client cancelled the request while the bridge waited for the kernel; the kernel was
/// sent `Cancel` and its late reply, if any, is dropped.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("request cancelled by the client")]
pub struct Cancelled;

/// A failure the kernel reported for a request (a JSON-RPC error).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("kernel error {code}: {message}")]
pub struct RemoteError {
    pub code: i32,
    pub message: String,
}

/// A session with a kernel.
pub struct Client {
    endpoint: Endpoint,
    transport: Box<dyn Transport>,
    started: Instant,
    next_id: RequestId,
    /// The kernel's HelloAck.
    pub peer: PeerInfo,
    /// Log lines the kernel sent, oldest first (drained by the caller).
    pub logs: Vec<(LogLevel, String)>,
    /// Called for every progress event of a long upload: (acked bytes, total bytes).
    pub on_send_progress: Option<Box<dyn FnMut(u32, u32) + Send>>,
    /// How long one request may take.
    pub request_timeout: Duration,
    /// Set (by another thread) to abandon the request in progress; the kernel is sent `Cancel`.
    pub cancel: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
}

impl Client {
    /// Opens a session on `transport` (sends Hello, waits for HelloAck).
    pub fn handshake(transport: Box<dyn Transport>, timeout: Duration) -> Result<Self> {
        let mut client = Self {
            endpoint: Endpoint::new(kingly_proto::Config::PORT),
            transport,
            started: Instant::now(),
            next_id: 1,
            peer: PeerInfo::default(),
            logs: Vec::new(),
            on_send_progress: None,
            request_timeout: Duration::from_secs(30),
            cancel: None,
        };
        let hello = PeerInfo {
            protocol_version: MESSAGE_VERSION,
            capabilities: Capabilities::TOOLS.with(Capabilities::RESOURCES),
            name: "kingly-host".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            build_hash: String::new(),
            max_message_bytes: Config::SERIAL.max_message_bytes as u32,
        };
        // A fresh initial sequence number per connection tells the kernel this is a new host.
        let initial_seq = (std::process::id() as u16) ^ (client.started.elapsed().as_nanos() as u16) ^ rand_u16();
        client.endpoint.connect(hello, initial_seq).map_err(|e| anyhow!("opening a session: {e}"))?;
        let deadline = Instant::now() + timeout;
        let reply = client.wait_for(deadline, |m| matches!(m, Message::HelloAck(_)))?;
        if let Message::HelloAck(peer) = reply {
            if peer.protocol_version != MESSAGE_VERSION {
                bail!(
                    "the kernel speaks message protocol {} and this kingly speaks {MESSAGE_VERSION}: boot a kernel built \
                     from the same tree (cargo kingly boot builds one)",
                    peer.protocol_version
                );
            }
            client.peer = peer;
        }
        Ok(client)
    }

    /// Connects to `target` and opens a session.
    pub fn connect(target: &ConnectTarget, timeout: Duration) -> Result<Self> {
        Self::handshake(open(target)?, timeout)
    }

    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// Writes every frame the endpoint has ready (acks included) without reading.
    fn flush(&mut self) -> Result<()> {
        let now = self.now_ms();
        while let Some(frame) = self.endpoint.poll_transmit(now) {
            self.transport.send(frame).context("writing to the kernel")?;
        }
        Ok(())
    }

    /// Moves bytes both ways once, waiting at most `wait` for input.
    fn pump(&mut self, wait: Duration) -> Result<()> {
        self.flush()?;
        let now = self.now_ms();
        let mut buffer = [0u8; 4096];
        let wait = match self.endpoint.poll_timeout() {
            Some(at) => wait.min(Duration::from_millis(at.saturating_sub(now).max(1))),
            None => wait,
        };
        let count = self.transport.receive(&mut buffer, wait).context("reading from the kernel")?;
        if count > 0 {
            self.endpoint.handle_bytes(&buffer[..count], self.now_ms());
        }
        Ok(())
    }

    /// Pumps until a message satisfying `wanted` arrives; logs are collected on the way.
    fn wait_for(&mut self, deadline: Instant, wanted: impl Fn(&Message) -> bool) -> Result<Message> {
        loop {
            while let Some(event) = self.endpoint.poll_event() {
                match event {
                    Event::Message { message: Message::Log { level, text }, .. } => self.logs.push((level, text)),
                    Event::Message { message, .. } if wanted(&message) => return Ok(message),
                    Event::SendProgress { acked_bytes, total_bytes, .. } => {
                        if let Some(callback) = self.on_send_progress.as_mut() {
                            callback(acked_bytes, total_bytes);
                        }
                    }
                    Event::SessionLost { error } => bail!("the kernel dropped the session: {error}"),
                    _ => {}
                }
            }
            if Instant::now() >= deadline {
                return Err(NoAnswer.into());
            }
            self.pump(Duration::from_millis(20))?;
        }
    }

    /// Like `wait_for` a reply to `id`, but gives up when `cancel` is raised.
    fn wait_for_or_cancel(
        &mut self,
        deadline: Instant,
        id: RequestId,
        cancel: Option<&std::sync::atomic::AtomicBool>,
    ) -> Result<Message> {
        let Some(cancel) = cancel else { return self.wait_for(deadline, |m| reply_id(m) == Some(id)) };
        loop {
            let step = (Instant::now() + Duration::from_millis(50)).min(deadline);
            match self.wait_for(step, |m| reply_id(m) == Some(id)) {
                Ok(message) => return Ok(message),
                // Only the step's silence: a closed or broken transport is the answer at once.
                Err(e) if e.is::<NoAnswer>() && Instant::now() < deadline => {
                    if cancel.load(std::sync::atomic::Ordering::SeqCst) {
                        let _ = self.endpoint.send(&Message::Cancel { id });
                        let _ = self.pump(Duration::from_millis(1));
                        return Err(Cancelled.into());
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn take_id(&mut self) -> RequestId {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1).max(1);
        id
    }

    /// Sends `request` and waits for the reply carrying `id`.
    fn request(&mut self, id: RequestId, request: Message) -> Result<Message> {
        self.endpoint.send(&request).map_err(|e| anyhow!("sending the request: {e}"))?;
        let deadline = Instant::now() + self.request_timeout;
        let cancel = self.cancel.clone();
        let reply = self.wait_for_or_cancel(deadline, id, cancel.as_deref())?;
        // Acknowledge the reply now rather than with the next request: the kernel then stops
        // its retransmission timer (and measures the round trip) even after a session's last
        // call. The reply is in hand, so a failing write is the next call's error.
        let _ = self.flush();
        if let Message::Error { code, message, .. } = reply {
            return Err(RemoteError { code, message }.into());
        }
        Ok(reply)
    }

    /// Round trip of a protocol-level ping; returns the time it took.
    pub fn ping(&mut self) -> Result<Duration> {
        let id = self.take_id();
        let start = Instant::now();
        self.request(id, Message::Ping { id })?;
        Ok(start.elapsed())
    }

    /// The kernel's tools.
    pub fn list_tools(&mut self) -> Result<Vec<ToolDescriptor>> {
        let id = self.take_id();
        match self.request(id, Message::ListTools { id })? {
            Message::ListToolsResult { tools, .. } => Ok(tools),
            other => bail!("unexpected reply to ListTools: {other:?}"),
        }
    }

    /// Calls tool `name` with JSON arguments (and optional raw bytes): the arguments become the
    /// tool's typed request (`kingly_proto::contract`), refused here with the reason when they do
    /// not fit it, and its typed result comes back as [`Content::Json`].
    pub fn call_tool(&mut self, name: &str, args_json: &str, bytes: Option<Vec<u8>>) -> Result<CallToolResult> {
        let arguments: serde_json::Value = if args_json.trim().is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_str(args_json).map_err(|e| RemoteError {
                code: kingly_proto::error_code::INVALID_PARAMS,
                message: format!("the arguments of {name} are not valid JSON: {e}"),
            })?
        };
        let args = contract::json::request(name, &arguments, bytes)
            .map_err(|message| RemoteError { code: kingly_proto::error_code::INVALID_PARAMS, message })?;
        let id = self.take_id();
        match self.request(id, Message::CallTool(CallTool { id, name: name.to_string(), args }))? {
            Message::CallToolResult(mut result) => {
                render_replies(name, &mut result.content)?;
                Ok(result)
            }
            other => bail!("unexpected reply to CallTool: {other:?}"),
        }
    }

    /// The kernel's resources.
    pub fn list_resources(&mut self) -> Result<Vec<ResourceDescriptor>> {
        let id = self.take_id();
        match self.request(id, Message::ListResources { id })? {
            Message::ListResourcesResult { resources, .. } => Ok(resources),
            other => bail!("unexpected reply to ListResources: {other:?}"),
        }
    }

    /// Reads resource `uri`.
    pub fn read_resource(&mut self, uri: &str) -> Result<Vec<ResourceContents>> {
        let id = self.take_id();
        match self.request(id, Message::ReadResource { id, uri: uri.to_string() })? {
            Message::ReadResourceResult { mut contents, .. } => {
                for item in &mut contents {
                    let tool = contract::json::resource_tool(&item.uri).unwrap_or_default();
                    render_replies(tool, std::slice::from_mut(&mut item.content))?;
                }
                Ok(contents)
            }
            other => bail!("unexpected reply to ReadResource: {other:?}"),
        }
    }

    /// Link and session counters of this side.
    pub fn stats(&self) -> kingly_proto::LinkStats {
        self.endpoint.stats()
    }
}

/// Turns the kernel's typed results into JSON content, the form every caller prints or forwards.
fn render_replies(tool: &str, content: &mut [Content]) -> Result<()> {
    for item in content {
        if let Content::Reply(bytes) = item {
            let value =
                contract::json::reply(tool, bytes).map_err(|e| anyhow!("{e} (is the kernel from this tree?)"))?;
            *item = Content::Json(value.to_string());
        }
    }
    Ok(())
}

/// The request id a reply answers.
fn reply_id(message: &Message) -> Option<RequestId> {
    match message {
        Message::Pong { id }
        | Message::ListToolsResult { id, .. }
        | Message::ListResourcesResult { id, .. }
        | Message::ReadResourceResult { id, .. } => Some(*id),
        Message::CallToolResult(result) => Some(result.id),
        Message::Error { id, .. } => *id,
        _ => None,
    }
}

fn rand_u16() -> u16 {
    let mut bytes = [0u8; 2];
    if std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes)).is_err() {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
        bytes = (nanos as u16).to_le_bytes();
    }
    u16::from_le_bytes(bytes)
}

/// Renders a content list as JSON for printing: JSON content parsed, text as strings,
/// bytes as hex.
pub fn content_json(content: &[kingly_proto::Content]) -> serde_json::Value {
    use kingly_proto::Content;
    let items: Vec<serde_json::Value> = content
        .iter()
        .map(|c| match c {
            Content::Json(text) => {
                serde_json::from_str(text).unwrap_or_else(|_| serde_json::Value::String(text.clone()))
            }
            Content::Text(text) => serde_json::Value::String(text.clone()),
            Content::Reply(bytes) => serde_json::json!({"reply_hex": contract::encode_hex(bytes)}),
            Content::Bytes { mime_type, data } => serde_json::json!({
                "mime_type": mime_type,
                "hex": data.iter().map(|b| format!("{b:02x}")).collect::<String>(),
            }),
        })
        .collect();
    if items.len() == 1 {
        items.into_iter().next().unwrap_or(serde_json::Value::Null)
    } else {
        serde_json::Value::Array(items)
    }
}

#[cfg(test)]
mod tests {
    use super::{queued_connection, ConnectTarget};
    use std::path::Path;

    #[test]
    fn finds_connections_queued_on_a_listener() {
        let table = "Num       RefCount Protocol Flags    Type St Inode Path\n\
            00000000dd299422: 00000003 00000000 00000000 0001 02     0 /tmp/k.sock\n\
            000000003b06e0bb: 00000002 00000000 00010000 0001 01 421152 /tmp/k.sock\n";
        assert!(queued_connection(table, Path::new("/tmp/k.sock")));
        assert!(!queued_connection(table, Path::new("/tmp/other.sock")));
        let accepted = table.replace(" 02     0 ", " 03 421156 ");
        assert!(!queued_connection(&accepted, Path::new("/tmp/k.sock")));
    }

    #[test]
    fn parses_connect_targets() {
        assert_eq!(ConnectTarget::parse("unix:/tmp/k", 115200).unwrap(), ConnectTarget::Unix("/tmp/k".into()));
        assert_eq!(ConnectTarget::parse("tcp:127.0.0.1:4555", 1).unwrap(), ConnectTarget::Tcp("127.0.0.1:4555".into()));
        assert!(matches!(
            ConnectTarget::parse("/dev/ttyUSB0", 9600).unwrap(),
            ConnectTarget::Serial { baud: 9600, .. }
        ));
        for bad in ["unix:", "tcp:nohost", "tcp::1", "tcp:h:99999", "COM3", ""] {
            let error = ConnectTarget::parse(bad, 1).unwrap_err().to_string();
            assert!(error.contains("connect") || error.contains("tcp"), "{bad}: {error}");
        }
    }
}
