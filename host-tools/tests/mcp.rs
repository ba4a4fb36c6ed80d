//! `kingly mcp`: the official Python MCP SDK as the client, plus raw JSON-RPC edge cases.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// Each test boots its own QEMU with four vCPUs; running them one at a time keeps a 2-core CI
/// machine from starving the kernels.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("KINGLY_PYTHON") {
        return p.into();
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/py/bin/python");
    assert!(
        venv.exists(),
        "the MCP test needs the Python SDK: run scripts/test-all.sh (it creates target/py with `pip install mcp`) \
         or set KINGLY_PYTHON"
    );
    venv
}

#[test]
fn the_python_mcp_sdk_drives_the_kernel_on_both_boards() {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/mcp/mcp_client_check.py");
    for board in ["raspi4b", "virt"] {
        let out = Command::new(python())
            .arg(&script)
            .arg(env!("CARGO_BIN_EXE_kingly"))
            .arg(board)
            .output()
            .expect("running python");
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "{board}:\n{text}");
        assert!(text.contains(&format!("legacy session on {board}: ok")), "{text}");
        assert!(text.contains("server/discover"), "{text}");
        if board == "virt" {
            assert!(text.contains("elicitation on virt: ok"), "{text}");
            assert!(text.contains("agent tools on virt: ok"), "{text}");
        }
    }
}

/// `kingly mcp ARGS` with its stdin and its stdout's lines, for raw JSON-RPC.
fn mcp_server(
    args: &[&str],
) -> (std::process::Child, std::process::ChildStdin, std::io::Lines<BufReader<std::process::ChildStdout>>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kingly"))
        .arg("mcp")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdin = child.stdin.take().unwrap();
    let lines = BufReader::new(child.stdout.take().unwrap()).lines();
    (child, stdin, lines)
}

#[test]
fn raw_json_rpc_edge_cases() {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let (mut child, mut stdin, mut lines) = mcp_server(&["--boot", "virt"]);
    let mut ask = |line: &str| -> serde_json::Value {
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
        serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap()
    };
    let unknown = ask(r#"{"jsonrpc":"2.0","id":1,"method":"frobnicate","params":{}}"#);
    assert_eq!(unknown["error"]["code"], -32601, "{unknown}");
    let garbage = ask("{this is not json");
    assert_eq!(garbage["error"]["code"], -32700, "{garbage}");
    let discover = ask(r#"{"jsonrpc":"2.0","id":2,"method":"server/discover","params":{}}"#);
    assert!(discover["result"]["supportedVersions"].to_string().contains("2026-07-28"), "{discover}");
    let init = ask(
        r#"{"jsonrpc":"2.0","id":3,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#,
    );
    assert_eq!(init["result"]["protocolVersion"], "2025-11-25", "{init}");
    let call = ask(r#"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"kernel_info","arguments":{}}}"#);
    assert_eq!(call["result"]["structuredContent"]["cpus"], 4, "{call}");
    let missing = ask(r#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"arguments":{}}}"#);
    assert_eq!(missing["error"]["code"], -32602, "{missing}");
    let resource = ask(r#"{"jsonrpc":"2.0","id":6,"method":"resources/read","params":{"uri":"kingly://nope"}}"#);
    assert_eq!(resource["error"]["code"], -32002, "{resource}");

    // Cancellation: a slow call (a 4 s workload) cancelled after a second gets no response at
    // all, neither when the bridge stops waiting nor when the kernel's late answer comes; the
    // next request is answered as usual. Responses come in request order, so every line up to
    // the ping's answer is all the bridge wrote about the cancelled call.
    let mut send = |line: &str| {
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
    };
    send(r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"workload_run","arguments":{"ms":4000}}}"#);
    std::thread::sleep(std::time::Duration::from_secs(1));
    send(r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":7,"reason":"test"}}"#);
    send(r#"{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"ping","arguments":{"data":"after"}}}"#);
    // Cancelled before it starts (it waits behind the ping): never run, never answered.
    send(
        r#"{"jsonrpc":"2.0","id":"nine","method":"tools/call","params":{"name":"workload_run","arguments":{"ms":4000}}}"#,
    );
    send(r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"nine"}}"#);
    send(r#"{"jsonrpc":"2.0","id":10,"method":"ping"}"#);
    let mut seen = Vec::new();
    loop {
        let line = lines.next().expect("kingly mcp closed stdout").unwrap();
        let message: serde_json::Value = serde_json::from_str(&line).unwrap();
        let done = message["id"] == 10;
        seen.push(message);
        if done {
            break;
        }
    }
    let answered: Vec<&serde_json::Value> =
        seen.iter().filter(|m| m.get("method").is_none()).map(|m| &m["id"]).collect();
    assert_eq!(answered, [&serde_json::json!(8), &serde_json::json!(10)], "{seen:?}");
    let ping = seen.iter().find(|m| m["id"] == 8).unwrap();
    assert!(ping["result"]["content"][0]["text"].as_str().unwrap_or("").contains("after"), "{ping}");
    drop(stdin);
    let _ = child.wait();
}

/// A `kingly boot` that is stopped (SIGTERM: it stops its QEMU) when the test ends, even by a panic.
struct Booted(std::process::Child);

impl Drop for Booted {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.0.id().to_string()]).status();
        let _ = self.0.wait();
    }
}

/// `kingly mcp --connect` to a kernel that reboots: the bridge reconnects on the next call, and
/// because the new kernel has lost the `tool` agent loaded before, it tells the client that the
/// tool list changed (before answering the call).
#[test]
fn a_rebooted_kernel_that_lost_its_agents_changes_the_tool_list() {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("uart.sock");
    let boot = |socket: &std::path::Path| {
        let child = Booted(
            Command::new(env!("CARGO_BIN_EXE_kingly"))
                .args(["boot", "--board", "virt", "--serial", &format!("unix:{}", socket.display())])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(600);
        while !socket.exists() {
            assert!(std::time::Instant::now() < deadline, "QEMU never opened {}", socket.display());
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        child
    };
    let kernel = boot(&socket);
    let (mut child, mut stdin, mut lines) =
        mcp_server(&["--connect", &format!("unix:{}", socket.display()), "--allow-load"]);
    // Sends a request; returns the methods of the notifications before its answer, and the answer.
    let mut ask = |line: &str, id: i64| -> (Vec<String>, serde_json::Value) {
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
        let mut notified = Vec::new();
        loop {
            let message: serde_json::Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
            if message["id"] == id {
                return (notified, message);
            }
            notified.extend(message["method"].as_str().map(str::to_string));
        }
    };
    ask(
        r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#,
        1,
    );
    let (_, listed) = ask(r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#, 2);
    assert!(!listed.to_string().contains("\"answer\""), "{listed}");
    let (notified, loaded) = ask(
        r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"bpf_load","arguments":{"type":"tool","name":"answer","bytes_hex":"b70000002a0000009500000000000000"}}}"#,
        3,
    );
    assert_eq!(loaded["result"]["isError"], false, "{loaded}");
    assert_eq!(notified, ["notifications/tools/list_changed"], "{loaded}");

    // The kernel goes away and another boots on the same socket, without the agent.
    drop(kernel);
    let _ = std::fs::remove_file(&socket);
    let _rebooted = boot(&socket);
    let (notified, info) =
        ask(r#"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"kernel_info","arguments":{}}}"#, 4);
    assert_eq!(info["result"]["isError"], false, "{info}");
    assert_eq!(notified, ["notifications/tools/list_changed"], "{info}");
    let (_, listed) = ask(r#"{"jsonrpc":"2.0","id":5,"method":"tools/list"}"#, 5);
    assert!(!listed.to_string().contains("\"answer\""), "{listed}");
    drop(stdin);
    let _ = child.wait();
}
