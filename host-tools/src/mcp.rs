//! `kingly mcp`: a standard MCP server on stdio (newline-delimited JSON-RPC 2.0) that bridges
//! to a Kingly kernel's message port.
//!
//! Hand-written rather than built on an SDK crate: the bridge must answer both the 2025-11-25
//! `initialize` handshake and the 2026-07-28 sessionless `server/discover`, answer unknown
//! methods with -32601 at once, and map every request one-to-one onto a kernel message; the
//! JSON-RPC framing that remains is a few dozen lines. The official Rust SDK, `rmcp`, is not
//! used because its servers are tokio services with async handlers, while this bridge drives one
//! blocking serial session (`client::Client`) request by request; adopting it means rewriting the
//! bridge around an async runtime, which has not been done.
//!
//! What MCP clients get beyond the kernel's own descriptors (`mcp_tools`): annotations on every
//! tool, output schemas with `structuredContent`, `notifications/tools/list_changed` when a
//! `bpf_*` call adds or removes a `tool` agent, and no response at all to a request the client
//! cancelled. `bpf_load` needs an Ed25519 signature ([`crate::push::load_signature`] documents
//! the signed bytes); with `--allow-load` the bridge signs loads that come without one, with the
//! host key, exactly as `kingly push` does.

use crate::cleanup::TempPath;
use crate::client::{self, Cancelled, Client, ConnectTarget, RemoteError};
use crate::qemu::{self, RunConfig, Serial};
use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use std::io::{BufRead, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

/// Protocol revisions this server speaks, newest first.
pub const SUPPORTED_VERSIONS: [&str; 5] = ["2026-07-28", "2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"];
/// The revision `initialize` answers with when the client asks for one we do not know.
pub const DEFAULT_VERSION: &str = "2025-11-25";

const INSTRUCTIONS: &str = "Tools of a running Kingly kernel (bare-metal Rust on Raspberry Pi / QEMU). \
    kernel_info describes the board; cache_stats and uart_stats report counters; bpf_* tools load and \
    attach verified eBPF agents; rag_query searches Linux kernel knowledge on the host; code turns a task \
    in English plus examples into a verified eBPF program, asking (by elicitation) when the examples \
    do not decide.";

/// JSON-RPC error codes.
pub mod code {
    pub const PARSE_ERROR: i64 = -32700;
    pub const INVALID_REQUEST: i64 = -32600;
    pub const METHOD_NOT_FOUND: i64 = -32601;
    pub const INVALID_PARAMS: i64 = -32602;
    pub const INTERNAL_ERROR: i64 = -32603;
    pub const RESOURCE_NOT_FOUND: i64 = -32002;
}

/// Options of `kingly mcp`.
#[derive(clap::Args, Debug, Clone)]
#[command(after_help = "Examples:\n  \
    kingly mcp --boot virt                         # boot a kernel under QEMU and serve it\n  \
    kingly mcp --connect unix:/tmp/kingly.sock     # serve a kernel started with kingly boot --serial unix:...\n  \
    kingly mcp --connect /dev/ttyUSB0              # serve a real board\n  \
    kingly mcp --boot virt --allow-load            # clients may load agents: the bridge signs them\n\n\
    An MCP client starts this as a stdio server, e.g. {\"command\": \"kingly\", \"args\": [\"mcp\", \"--boot\", \"virt\"]}.")]
pub struct McpArgs {
    /// The kernel's UART: unix:PATH, tcp:HOST:PORT or /dev/ttyXXX.
    #[arg(long, value_name = "TARGET", conflicts_with = "boot", required_unless_present = "boot")]
    pub connect: Option<String>,
    /// Boot a kernel for this board under QEMU and serve it.
    #[arg(long, value_enum, value_name = "BOARD")]
    pub boot: Option<crate::board::Board>,
    /// Baud rate for a serial device.
    #[arg(long, default_value_t = 115_200)]
    pub baud: u32,
    /// Index directory for the rag_query and code tools [default: as `kingly rag index`:
    /// $KINGLY_RAG_INDEX, else $XDG_CACHE_HOME/kingly/rag, else ~/.cache/kingly/rag].
    #[arg(long, value_name = "DIR")]
    pub rag_index: Option<std::path::PathBuf>,
    /// Sign `bpf_load` calls that come without a signature with the host key (the one `kingly
    /// push` uses, in $KINGLY_KEY_DIR or ~/.config/kingly): any client of this server can then
    /// load verified programs into the kernel. Off by default.
    #[arg(long)]
    pub allow_load: bool,
}

/// Writes JSON-RPC messages to stdout, one per line, from any thread.
#[derive(Clone)]
pub struct Output(Arc<Mutex<Box<dyn Write + Send>>>);

impl Output {
    pub fn new(writer: Box<dyn Write + Send>) -> Self {
        Self(Arc::new(Mutex::new(writer)))
    }

    pub fn send(&self, message: &Value) {
        let mut out = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let _ = writeln!(out, "{message}");
        let _ = out.flush();
    }
}

fn response(id: &Value, result: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "result": result})
}

fn error(id: &Value, code: i64, message: impl Into<String>) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message.into()}})
}

/// A kernel to talk to: how to (re)connect, and the QEMU we started, if any.
struct Kernel {
    /// `None` until a boot in the background has finished (or when it failed: `boot_error`).
    target: Option<ConnectTarget>,
    client: Option<Client>,
    qemu: Option<BootedQemu>,
    /// The build and boot of `--boot`, so `initialize` and `server/discover` are answered at
    /// once (the SDKs give `server/discover` 10 s) while the kernel comes up.
    booting: Option<mpsc::Receiver<Booted>>,
    boot_error: Option<String>,
    /// Sessions opened so far: a new one may face a rebooted kernel whose agents are gone.
    sessions: u64,
    /// Keeps the boot thread alive while this lives: QEMU's parent-death signal
    /// (`setpriv --pdeathsig`) fires when the *thread* that started it ends.
    _boot_thread: Option<mpsc::Sender<()>>,
}

type Booted = Result<(ConnectTarget, BootedQemu)>;

/// QEMU and its run directory; both go when this drops or a signal ends kingly (and QEMU
/// when kingly is killed outright: [`qemu::ParentWatch`]).
struct BootedQemu {
    /// Field order is drop order: QEMU stops before its directory goes.
    running: qemu::Running,
    dir: TempPath,
}

impl Kernel {
    fn client(&mut self) -> Result<&mut Client> {
        if self.client.is_none() {
            self.finish_boot();
            if let Some(why) = &self.boot_error {
                bail!("booting the kernel failed: {why}; restart the server");
            }
            if let Some(stopped) = self.qemu_stopped(Duration::ZERO) {
                return Err(stopped);
            }
            let target = self.target.as_ref().context("no kernel to connect to")?;
            self.client = Some(Client::connect(target, Duration::from_secs(30))?);
            self.sessions += 1;
        }
        self.client.as_mut().context("no kernel session")
    }

    /// Waits for the boot in the background, if one runs.
    fn finish_boot(&mut self) {
        let Some(booting) = self.booting.take() else { return };
        let booted: Booted = booting.recv().unwrap_or_else(|_| Err(anyhow::anyhow!("the boot thread ended early")));
        match booted {
            Ok((target, qemu)) => {
                self.target = Some(target);
                self.qemu = Some(qemu);
            }
            Err(e) => self.boot_error = Some(format!("{e:#}")),
        }
    }

    /// The QEMU this server booted has exited (or does within `wait`): the error to answer with.
    fn qemu_stopped(&mut self, wait: Duration) -> Option<anyhow::Error> {
        let qemu = self.qemu.as_mut()?;
        let deadline = std::time::Instant::now() + wait;
        let code = loop {
            if let Some(code) = qemu.running.exit_status() {
                break code;
            }
            if std::time::Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let log = qemu.dir.path().join("uart.log");
        let log = if log.exists() { format!("; its UART log: {}", log.display()) } else { String::new() };
        Some(anyhow::anyhow!(
            "the kernel this server booted has stopped (QEMU exited with status {code}){log}; restart the server"
        ))
    }

    /// Runs `f` on the session; on a transport or session failure reconnects once and retries.
    fn with_client<T>(&mut self, mut f: impl FnMut(&mut Client) -> Result<T>) -> Result<T> {
        let first = f(self.client()?);
        match first {
            Err(e) if e.downcast_ref::<RemoteError>().is_none() && !e.is::<Cancelled>() => {
                self.client = None;
                let again = self.client().and_then(&mut f);
                match again {
                    // A second transport failure with a QEMU of ours behind it: most likely it died.
                    Err(e) if e.downcast_ref::<RemoteError>().is_none() => {
                        Err(self.qemu_stopped(Duration::from_millis(500)).unwrap_or(e))
                    }
                    other => other,
                }
            }
            other => other,
        }
    }
}

fn boot_kernel(board: crate::board::Board) -> Booted {
    eprintln!("kingly mcp: building and booting the kernel for {board}");
    let artifacts = crate::kernel_build::build(board, crate::kernel_build::Variant::Production, true)?;
    crate::cleanup::remove_stale(&std::env::temp_dir(), "kingly-mcp-");
    let run_dir = TempPath::new(std::env::temp_dir().join(format!("kingly-mcp-{}", std::process::id())));
    let dir = run_dir.path();
    let image = qemu::patched_run_image(&artifacts.image, "semihosting=1")?;
    std::fs::create_dir_all(dir)?;
    let moved = dir.join("kernel8.img");
    std::fs::rename(image.path(), &moved)?;
    let mut config = RunConfig::new(board, moved);
    config.parent_watch = qemu::ParentWatch::detect();
    let socket = if board == crate::board::Board::Virt {
        // The message port on the virtio console; the UART's log goes to a file nobody must drain.
        config.serial = Serial::File(dir.join("uart.log"));
        config.port = Some(dir.join("port.sock"));
        dir.join("port.sock")
    } else {
        config.serial = Serial::Unix(dir.join("uart.sock"));
        dir.join("uart.sock")
    };
    let qemu = BootedQemu { running: qemu::Running::spawn_quiet(&config)?, dir: run_dir };
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !socket.exists() {
        if std::time::Instant::now() > deadline {
            bail!("QEMU did not open {}", socket.display());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok((ConnectTarget::Unix(socket), qemu))
}

/// The server state between requests.
pub struct Server {
    kernel: Kernel,
    output: Output,
    rag_index: std::path::PathBuf,
    /// Requests the client cancelled, and the flag that stops the kernel call in flight.
    cancellations: Arc<Cancellations>,
    /// `--allow-load`: the key that signs unsigned `bpf_load` calls.
    signing_key: Option<ed25519_dalek::SigningKey>,
    /// Names of the kernel's tools when last listed, and in which session, to tell clients
    /// when they change.
    kernel_tools: Option<std::collections::BTreeSet<String>>,
    kernel_tools_session: u64,
    /// The client declared `elicitation` in `initialize`: the `code` tool may ask it questions.
    client_elicits: bool,
    /// Lines from the client, and lines read while waiting for a reply to our own request.
    inbox: Option<mpsc::Receiver<String>>,
    pending: std::collections::VecDeque<String>,
    /// Requests the server sent the client (elicitations), and `code` runs served.
    sent: u64,
}

/// Requests the client cancelled (`notifications/cancelled`), by id as JSON text, and the flag
/// that abandons the kernel call in flight. A cancelled request gets no response.
#[derive(Default)]
struct Cancellations {
    ids: Mutex<std::collections::HashSet<String>>,
    in_flight: Mutex<Option<String>>,
    stop: Arc<AtomicBool>,
}

impl Cancellations {
    /// The client cancelled request `id` (the reader thread calls this as the line arrives).
    fn cancel(&self, id: &Value) {
        let key = id.to_string();
        let in_flight = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        if in_flight.as_deref() == Some(key.as_str()) {
            self.stop.store(true, Ordering::SeqCst);
        }
        let mut ids = self.ids.lock().unwrap_or_else(|e| e.into_inner());
        if ids.len() >= 4096 {
            ids.clear(); // ids of requests answered before their cancellation arrived
        }
        ids.insert(key);
    }

    /// Request `id` starts; the flag its waits watch.
    fn begin(&self, id: &Value) -> Arc<AtomicBool> {
        let key = id.to_string();
        let mut in_flight = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        let cancelled = self.ids.lock().unwrap_or_else(|e| e.into_inner()).contains(&key);
        self.stop.store(cancelled, Ordering::SeqCst);
        *in_flight = Some(key);
        self.stop.clone()
    }

    fn end(&self) {
        *self.in_flight.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// Whether the client cancelled request `id` (forgetting it: ids are not reused).
    fn take(&self, id: &Value) -> bool {
        self.ids.lock().unwrap_or_else(|e| e.into_inner()).remove(&id.to_string())
    }
}

/// Runs `kingly mcp` on stdin/stdout until stdin closes.
pub fn run(args: &McpArgs) -> Result<i32> {
    let signing_key = if args.allow_load {
        let dir = crate::keys::default_dir();
        if args.boot.is_some() {
            crate::keys::ensure(&dir)?; // the kernel about to be built embeds its public half
        }
        Some(crate::keys::load_signing(&dir).context("--allow-load signs with the host key")?)
    } else {
        None
    };
    let (target, booting, boot_thread) = match (&args.connect, args.boot) {
        (Some(connect), _) => (Some(ConnectTarget::parse(connect, args.baud)?), None, None),
        (None, Some(board)) => {
            qemu::ensure()?;
            let (booted_tx, booted) = mpsc::channel();
            let (alive, until_dropped) = mpsc::channel::<()>();
            std::thread::spawn(move || {
                let _ = booted_tx.send(boot_kernel(board));
                let _ = until_dropped.recv(); // returns when the server drops `alive`
            });
            (None, Some(booted), Some(alive))
        }
        (None, None) => bail!("give --connect TARGET or --boot BOARD"),
    };
    if let Some(dir) = &args.rag_index {
        crate::rag::set_index_dir(dir.clone());
    }
    let rag_index = crate::rag::default_index_dir();
    let output = Output::new(Box::new(std::io::stdout()));
    let mut server = Server {
        kernel: Kernel {
            target,
            client: None,
            qemu: None,
            booting,
            boot_error: None,
            sessions: 0,
            _boot_thread: boot_thread,
        },
        output: output.clone(),
        rag_index,
        cancellations: Arc::new(Cancellations::default()),
        signing_key,
        kernel_tools: None,
        kernel_tools_session: 0,
        client_elicits: false,
        inbox: None,
        pending: std::collections::VecDeque::new(),
        sent: 0,
    };
    // Connect now so a bad target fails at start, not at the first tool call (a kernel still
    // booting is waited for at the first request that needs it).
    if server.kernel.booting.is_none() {
        if let Err(e) = server.kernel.client() {
            eprintln!("kingly mcp: cannot reach the kernel yet ({e:#}); will retry on the first request");
        }
    }

    // A reader thread, so a cancellation can arrive while a call runs.
    let (lines_tx, lines) = mpsc::channel::<String>();
    let cancellations = server.cancellations.clone();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if let Ok(message) = serde_json::from_str::<Value>(&line) {
                if message["method"] == "notifications/cancelled" {
                    if let Some(id) = message["params"].get("requestId") {
                        cancellations.cancel(id);
                    }
                }
            }
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    server.inbox = Some(lines);
    while let Some(line) = server.next_line() {
        if line.trim().is_empty() {
            continue;
        }
        if let Some(reply) = server.handle_line(&line) {
            // A request cancelled while it ran gets no response (MCP "Cancellation").
            if reply.get("id").is_some_and(|id| !id.is_null() && server.cancellations.take(id)) {
                continue;
            }
            output.send(&reply);
        }
    }
    // A boot still under way finishes, so its QEMU and run directory are cleaned up.
    server.kernel.finish_boot();
    Ok(0)
}

impl Server {
    /// The next line from the client: first those set aside while we waited for a reply.
    fn next_line(&mut self) -> Option<String> {
        self.pending.pop_front().or_else(|| self.inbox.as_ref()?.recv().ok())
    }

    /// Sends the client a request and waits for its reply, setting other lines aside; `None`
    /// when the client goes away or does not answer within `wait`.
    fn request_client(&mut self, method: &str, params: Value, wait: Duration) -> Option<Value> {
        self.sent += 1;
        let id = format!("kingly-{}", self.sent);
        self.output.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        let deadline = std::time::Instant::now() + wait;
        loop {
            if self.cancellations.stop.load(Ordering::SeqCst) {
                // The request we are asking for was cancelled: withdraw our question too.
                self.output.send(&json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
                    "params": {"requestId": id, "reason": "the request it was asked for was cancelled"}}));
                return None;
            }
            let left = deadline.checked_duration_since(std::time::Instant::now())?;
            let line = match self.inbox.as_ref()?.recv_timeout(left.min(Duration::from_millis(100))) {
                Ok(line) => line,
                Err(mpsc::RecvTimeoutError::Timeout) => continue,
                Err(mpsc::RecvTimeoutError::Disconnected) => return None,
            };
            if let Ok(message) = serde_json::from_str::<Value>(&line) {
                if message.get("method").is_none() && message["id"] == id.as_str() {
                    return Some(message);
                }
            }
            self.pending.push_back(line);
        }
    }

    /// The `code` tool, asking the client's user through elicitation when it can.
    fn code(&mut self, arguments: &Value) -> Result<Value> {
        let out_dir = match crate::workspace::root() {
            Ok(root) => crate::workspace::output_dir(&root).join("code").join(format!("mcp-{}", std::process::id())),
            Err(_) => std::env::temp_dir().join(format!("kingly-code-{}", std::process::id())),
        };
        let elicits = self.client_elicits;
        let mut ask = |question: &kingly_coder::coder::Question| {
            if !elicits {
                return None;
            }
            let params = crate::mcp_code::elicitation_params(question);
            let reply = self.request_client("elicitation/create", params, Duration::from_secs(600))?;
            crate::mcp_code::elicited_answer(&reply)
        };
        crate::mcp_code::run(arguments, out_dir, &mut ask)
    }

    /// Handles one line of input; returns the response, if the line was a request.
    pub fn handle_line(&mut self, line: &str) -> Option<Value> {
        let message: Value = match serde_json::from_str(line) {
            Ok(v) => v,
            Err(e) => return Some(error(&Value::Null, code::PARSE_ERROR, format!("parse error: {e}"))),
        };
        let Some(object) = message.as_object() else {
            return Some(error(&Value::Null, code::INVALID_REQUEST, "a JSON-RPC message must be an object"));
        };
        let id = object.get("id").cloned();
        let Some(method) = object.get("method").and_then(Value::as_str) else {
            // A late reply to one of our requests (its wait ended) gets no answer; garbage does.
            if object.contains_key("result") || object.contains_key("error") {
                return None;
            }
            return id.map(|id| error(&id, code::INVALID_REQUEST, "missing method"));
        };
        let params = object.get("params").cloned().unwrap_or(json!({}));
        let Some(id) = id else {
            // Notifications: initialized, cancelled (handled by the reader), progress, roots...
            return None;
        };
        if self.cancellations.take(&id) {
            return None; // cancelled before it started
        }
        Some(match self.dispatch(&id, method, &params) {
            Ok(result) => response(&id, result),
            Err(e) => match e.downcast::<RpcError>() {
                Ok(rpc) => error(&id, rpc.code, rpc.message),
                Err(e) => match e.downcast::<RemoteError>() {
                    Ok(remote) => error(&id, i64::from(remote.code), remote.message),
                    Err(e) => error(&id, code::INTERNAL_ERROR, format!("{e:#}")),
                },
            },
        })
    }

    fn dispatch(&mut self, id: &Value, method: &str, params: &Value) -> Result<Value> {
        match method {
            "initialize" => {
                let asked = params["protocolVersion"].as_str().unwrap_or(DEFAULT_VERSION);
                let version = if SUPPORTED_VERSIONS[1..].contains(&asked) { asked } else { DEFAULT_VERSION };
                self.client_elicits = params["capabilities"].get("elicitation").is_some_and(Value::is_object);
                Ok(json!({
                    "protocolVersion": version,
                    "capabilities": capabilities(),
                    "serverInfo": server_info(),
                    "instructions": INSTRUCTIONS,
                }))
            }
            "server/discover" => Ok(json!({
                "supportedVersions": SUPPORTED_VERSIONS,
                "capabilities": capabilities(),
                "instructions": INSTRUCTIONS,
                "_meta": {"io.modelcontextprotocol/serverInfo": server_info()},
            })),
            "ping" => Ok(json!({})),
            "logging/setLevel" => Ok(json!({})),
            "tools/list" => {
                let tools = self.kernel.with_client(|c| c.list_tools())?;
                self.kernel_tools = Some(tools.iter().map(|t| t.name.clone()).collect());
                self.kernel_tools_session = self.kernel.sessions;
                let mut list: Vec<Value> = tools.iter().map(crate::mcp_tools::kernel_tool).collect();
                list.extend(host_tools());
                Ok(json!({"tools": list}))
            }
            "tools/call" => self.call_tool(id, params),
            "resources/list" => {
                let resources = self.kernel.with_client(|c| c.list_resources())?;
                let list: Vec<Value> = resources
                    .iter()
                    .map(|r| json!({"uri": r.uri, "name": r.name, "description": r.description, "mimeType": r.mime_type}))
                    .collect();
                Ok(json!({"resources": list}))
            }
            "resources/templates/list" => Ok(json!({"resourceTemplates": []})),
            "resources/read" => {
                let Some(uri) = params["uri"].as_str() else {
                    return Err(RpcError::new(code::INVALID_PARAMS, "resources/read needs params.uri").into());
                };
                let contents = self.kernel.with_client(|c| c.read_resource(uri)).map_err(|e| {
                    match e.downcast::<RemoteError>() {
                        Ok(r) => anyhow::Error::from(RpcError::new(code::RESOURCE_NOT_FOUND, r.message)),
                        Err(e) => e,
                    }
                })?;
                let list: Vec<Value> = contents
                    .iter()
                    .map(|c| {
                        let text = match &c.content {
                            kingly_proto::Content::Json(t) | kingly_proto::Content::Text(t) => t.clone(),
                            other => client::content_json(std::slice::from_ref(other)).to_string(),
                        };
                        json!({"uri": c.uri, "mimeType": "application/json", "text": text})
                    })
                    .collect();
                Ok(json!({"contents": list}))
            }
            "prompts/list" => Ok(json!({"prompts": []})),
            _ => Err(RpcError::new(code::METHOD_NOT_FOUND, format!("method not found: {method}")).into()),
        }
    }

    fn call_tool(&mut self, id: &Value, params: &Value) -> Result<Value> {
        let Some(name) = params["name"].as_str() else {
            return Err(RpcError::new(code::INVALID_PARAMS, "tools/call needs params.name").into());
        };
        let arguments = params.get("arguments").cloned().unwrap_or(json!({}));
        if !arguments.is_object() {
            return Err(RpcError::new(code::INVALID_PARAMS, "params.arguments must be an object").into());
        }
        let stop = self.cancellations.begin(id);
        let result = self.call_tool_begun(name, arguments, params, stop);
        self.cancellations.end();
        result
    }

    fn call_tool_begun(
        &mut self,
        name: &str,
        arguments: Value,
        params: &Value,
        stop: Arc<AtomicBool>,
    ) -> Result<Value> {
        if name == "rag_query" {
            return self.rag_query(&arguments);
        }
        if name == "code" {
            return self.code(&arguments);
        }
        let arguments = if name == "bpf_load" {
            match sign_load(self.signing_key.as_ref(), arguments) {
                Ok(arguments) => arguments,
                Err(refusal) => return Ok(refusal),
            }
        } else {
            arguments
        };
        // Loading, unloading (and, to be safe, attaching or detaching) can add or remove a
        // `tool` agent: compare the kernel's tool list before and after.
        let may_change_tools = matches!(name, "bpf_load" | "bpf_unload" | "bpf_attach" | "bpf_detach");
        if may_change_tools && self.kernel_tools.is_none() {
            self.kernel_tools = self.kernel_tool_names().ok();
            self.kernel_tools_session = self.kernel.sessions;
        }
        let progress_token = params["_meta"]["progressToken"].clone();
        let output = self.output.clone();
        let args = arguments.to_string();
        let result = self.kernel.with_client(|c| {
            if !progress_token.is_null() {
                let output = output.clone();
                let token = progress_token.clone();
                c.on_send_progress = Some(Box::new(move |done, total| {
                    output.send(&json!({"jsonrpc": "2.0", "method": "notifications/progress",
                        "params": {"progressToken": token, "progress": done, "total": total}}));
                }));
            }
            c.cancel = Some(stop.clone());
            let result = c.call_tool(name, &args, None);
            c.on_send_progress = None;
            c.cancel = None;
            result
        });
        self.forward_logs();
        // A new session (the bridge reconnected, perhaps to a kernel that rebooted and lost its
        // agents) is checked too.
        let new_session = self.kernel_tools.is_some() && self.kernel.sessions != self.kernel_tools_session;
        if may_change_tools || new_session {
            self.notify_if_tools_changed();
        }
        let result = result.map_err(|e| match e.downcast::<RemoteError>() {
            Ok(r) => anyhow::Error::from(RpcError::new(i64::from(r.code), r.message)),
            Err(e) => e,
        })?;
        let mut content = Vec::new();
        let mut structured = None;
        for item in &result.content {
            match item {
                kingly_proto::Content::Json(text) => {
                    if let Ok(value @ Value::Object(_)) = serde_json::from_str::<Value>(text) {
                        structured.get_or_insert(value);
                    }
                    content.push(json!({"type": "text", "text": text}));
                }
                kingly_proto::Content::Text(text) => content.push(json!({"type": "text", "text": text})),
                other => content.push(json!({"type": "text",
                    "text": client::content_json(std::slice::from_ref(other)).to_string()})),
            }
        }
        let mut reply = json!({"content": content, "isError": result.is_error});
        if let Some(structured) = structured {
            reply["structuredContent"] = structured;
        }
        Ok(reply)
    }

    fn kernel_tool_names(&mut self) -> Result<std::collections::BTreeSet<String>> {
        let tools = self.kernel.with_client(|c| c.list_tools())?;
        Ok(tools.into_iter().map(|t| t.name).collect())
    }

    /// Sends `notifications/tools/list_changed` when the kernel's tools differ from the last list.
    fn notify_if_tools_changed(&mut self) {
        // An unreachable kernel decides nothing: the next look that succeeds compares.
        let Ok(now) = self.kernel_tool_names() else { return };
        // Unknown before: tell the client to look again rather than miss a change.
        if self.kernel_tools.as_ref() != Some(&now) {
            self.output.send(&json!({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"}));
        }
        self.kernel_tools = Some(now);
        self.kernel_tools_session = self.kernel.sessions;
    }

    fn forward_logs(&mut self) {
        let Some(client) = self.kernel.client.as_mut() else { return };
        for (level, text) in client.logs.drain(..) {
            let level = format!("{level:?}").to_lowercase();
            self.output.send(&json!({"jsonrpc": "2.0", "method": "notifications/message",
                "params": {"level": level, "logger": "kernel", "data": text}}));
        }
    }

    fn rag_query(&mut self, arguments: &Value) -> Result<Value> {
        let Some(text) = arguments["query"].as_str() else {
            return Err(RpcError::new(code::INVALID_PARAMS, "rag_query needs arguments.query (a string)").into());
        };
        let k = arguments["k"].as_u64().unwrap_or(5).clamp(1, 50) as usize;
        match crate::mcp_rag::query(&self.rag_index, text, k) {
            Ok(hits) => Ok(json!({"content": [{"type": "text", "text": hits.to_string()}],
                                  "structuredContent": {"results": hits}, "isError": false})),
            Err(e) => Ok(json!({"content": [{"type": "text", "text": format!("rag_query failed: {e:#}")}],
                                "isError": true})),
        }
    }
}

/// Why an unsigned `bpf_load` is refused without `--allow-load`.
pub const UNSIGNED_LOAD: &str = "bpf_load refused: the kernel only loads programs signed with the host's Ed25519 key, \
    and this call has no `signature`. This MCP server signs loads on its clients' behalf only when started with \
    --allow-load (add it to the server's args in the client configuration: any client of the server may then \
    load verified programs), or sign the load yourself (`kingly push` does; bpf_load's `signature` parameter \
    says over what).";

/// `bpf_load`'s arguments as the kernel is to get them: with the client's signature, or
/// (under `--allow-load`) the host key's; `Err` is the tool result refusing the load.
fn sign_load(key: Option<&ed25519_dalek::SigningKey>, mut arguments: Value) -> std::result::Result<Value, Value> {
    if arguments.get("signature").is_some() {
        return Ok(arguments);
    }
    let Some(key) = key else {
        return Err(json!({"content": [{"type": "text", "text": UNSIGNED_LOAD}], "isError": true}));
    };
    // Arguments the kernel refuses anyway go unsigned: its answer says what is wrong.
    if let Some((kind, name, maps, bytecode)) = load_parts(&arguments) {
        let signature = crate::push::load_signature(key, kind, &name, &maps, &bytecode);
        arguments["signature"] = Value::String(signature);
    }
    Ok(arguments)
}

/// The type, name, maps and bytecode of `bpf_load` arguments, when the kernel would accept them.
fn load_parts(arguments: &Value) -> Option<(kingly_bpf::Kind, String, Vec<kingly_bpf::MapDef>, Vec<u8>)> {
    let kind = kingly_bpf::Kind::from_name(arguments["type"].as_str()?)?;
    let name = arguments["name"].as_str()?.to_string();
    let bytecode = kingly_proto::contract::decode_hex(arguments["bytes_hex"].as_str()?).ok()?;
    let maps: Vec<kingly_proto::contract::MapSpec> = match arguments.get("maps") {
        None => Vec::new(),
        Some(list) => serde_json::from_value(list.clone()).ok()?,
    };
    Some((kind, name, maps.iter().map(kingly_bpf::MapDef::from).collect(), bytecode))
}

fn capabilities() -> Value {
    json!({"tools": {"listChanged": true}, "resources": {"subscribe": false, "listChanged": false}, "logging": {}})
}

fn server_info() -> Value {
    json!({"name": "kingly", "title": "Kingly kernel", "version": env!("CARGO_PKG_VERSION")})
}

/// Tools the bridge serves itself.
fn host_tools() -> Vec<Value> {
    vec![
        crate::mcp_code::tool(),
        json!({
            "name": "rag_query",
            "description": "Search the Linux kernel knowledge index (source, docs, fix history) on the host",
            "inputSchema": {"type": "object", "properties": {
                "query": {"type": "string", "description": "identifier or question"},
                "k": {"type": "integer", "minimum": 1, "maximum": 50, "description": "how many results (default 5)"}
            }, "required": ["query"], "additionalProperties": false},
            "outputSchema": {"type": "object", "properties": {
                "results": {"type": "array", "items": {"type": "object"}, "description": "best first"}
            }, "required": ["results"]},
            "annotations": {"title": "Search Linux kernel knowledge", "readOnlyHint": true,
                "destructiveHint": false, "idempotentHint": true, "openWorldHint": false},
        }),
    ]
}

/// A JSON-RPC error to send back as is.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct RpcError {
    pub code: i64,
    pub message: String,
}

impl RpcError {
    pub fn new(code: i64, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_load_signs_what_the_kernel_checks_and_keeps_a_client_signature() {
        let key = ed25519_dalek::SigningKey::from_bytes(&[9u8; 32]);
        // What the kernel's check does: strict Ed25519 under its key.
        let verifies = |message: &[u8], signature: &[u8]| {
            let signature = ed25519_dalek::Signature::from_slice(signature).unwrap();
            key.verifying_key().verify_strict(message, &signature).is_ok()
        };
        let maps = json!([{"kind": "array", "key_size": 4, "value_size": 8, "max_entries": 2}]);
        let args =
            json!({"type": "tool", "name": "answer", "bytes_hex": "b70000002a0000009500000000000000", "maps": maps});
        let signed = sign_load(Some(&key), args.clone()).unwrap();
        let (kind, name, map_defs, bytecode) = load_parts(&signed).unwrap();
        let message = kingly_bpf::hooks::signed_message(kind, &name, &map_defs, &bytecode);
        let signature = kingly_proto::contract::decode_hex(signed["signature"].as_str().unwrap()).unwrap();
        assert!(verifies(&message, &signature));
        // Another name is another message: the signature binds every part.
        let renamed = kingly_bpf::hooks::signed_message(kind, "other", &map_defs, &bytecode);
        assert!(!verifies(&renamed, &signature));

        let mut own = args.clone();
        own["signature"] = json!("ab".repeat(64));
        assert_eq!(sign_load(Some(&key), own.clone()).unwrap(), own);
        let refused = sign_load(None, args).unwrap_err();
        assert_eq!(refused["isError"], true);
        assert!(refused["content"][0]["text"].as_str().unwrap().contains("--allow-load"), "{refused}");
    }

    #[test]
    fn cancellations_stop_the_call_in_flight_and_are_forgotten_once_taken() {
        let c = Cancellations::default();
        let stop = c.begin(&json!(7));
        assert!(!stop.load(Ordering::SeqCst));
        c.cancel(&json!(7));
        assert!(stop.load(Ordering::SeqCst), "the call in flight stops");
        c.end();
        assert!(c.take(&json!(7)) && !c.take(&json!(7)));
        c.cancel(&json!("eight")); // before it starts
        assert!(c.begin(&json!("eight")).load(Ordering::SeqCst));
        assert!(!c.take(&json!(8)), "ids keep their JSON type");
    }
}
