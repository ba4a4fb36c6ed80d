//! The port against a host-side endpoint, through a byte pipe.

use super::*;
use kingly_proto::{RequestId, ToolArgs};

struct FakeKernel;

impl Services for FakeKernel {
    fn kernel_info(&self) -> KernelInfo {
        KernelInfo { board: "virt", cpus: 4, el: 1, mmu: true, version: "0.1.0", ..Default::default() }
    }
    fn uart_counters(&self) -> UartCounters {
        UartCounters { rx_bytes: 42, ..Default::default() }
    }
    fn cache_stats(&self) -> CacheStats {
        CacheStats::default()
    }
}

/// Runs one request through host endpoint → port → host endpoint; returns the reply.
fn round_trip(port: &mut Port, host: &mut Endpoint, request: Message) -> Message {
    host.send(&request).unwrap();
    for now_ms in 0..100 {
        while let Some(frame) = host.poll_transmit(now_ms) {
            let frame = frame.to_vec();
            port.handle_bytes(&frame, now_ms);
        }
        port.serve(&mut FakeKernel);
        while let Some(frame) = port.poll_transmit(now_ms) {
            let frame = frame.to_vec();
            host.handle_bytes(&frame, now_ms);
        }
        while let Some(event) = host.poll_event() {
            if let Event::Message { message, .. } = event {
                if !matches!(message, Message::HelloAck(_) | Message::Log { .. }) {
                    return message;
                }
            }
        }
    }
    panic!("no reply to {request:?}");
}

fn connected() -> (Port, Endpoint) {
    let mut port = Port::new();
    let mut host = Endpoint::new(Config::SERIAL);
    host.connect(PeerInfo::default(), 7).unwrap();
    let pong = round_trip(&mut port, &mut host, Message::Ping { id: 1 });
    assert_eq!(pong, Message::Pong { id: 1 });
    (port, host)
}

fn call(name: &str, args: &str) -> Message {
    Message::CallTool(CallTool { id: 9 as RequestId, name: name.to_string(), args: ToolArgs::Json(args.to_string()) })
}

#[test]
fn kernel_info_reports_the_board() {
    let (mut port, mut host) = connected();
    let Message::CallToolResult(r) = round_trip(&mut port, &mut host, call("kernel_info", "")) else { panic!() };
    assert!(!r.is_error);
    let Content::Json(text) = &r.content[0] else { panic!() };
    let v: serde_json::Value = serde_json::from_str(text).unwrap();
    assert_eq!(v["cpus"], 4);
    assert_eq!(v["board"], "virt");
    assert!(port.in_session());
}

#[test]
fn unknown_tools_are_protocol_errors_and_bad_arguments_too() {
    let (mut port, mut host) = connected();
    let reply = round_trip(&mut port, &mut host, call("no_such_tool", "{}"));
    assert!(matches!(reply, Message::Error { code: error_code::INVALID_PARAMS, .. }), "{reply:?}");
    let reply = round_trip(&mut port, &mut host, call("kernel_info", r#"{"x":1}"#));
    assert!(
        matches!(&reply, Message::Error { message, .. } if message.contains("unexpected argument 'x'")),
        "{reply:?}"
    );
    let reply = round_trip(&mut port, &mut host, call("ping", "[1,2"));
    assert!(matches!(&reply, Message::Error { message, .. } if message.contains("not valid JSON")), "{reply:?}");
}

#[test]
fn lists_tools_and_reads_resources() {
    let (mut port, mut host) = connected();
    let Message::ListToolsResult { tools, .. } = round_trip(&mut port, &mut host, Message::ListTools { id: 2 }) else {
        panic!()
    };
    let names: Vec<_> = tools.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["kernel_info", "ping", "uart_stats", "cache_stats"]);
    for tool in &tools {
        let schema: serde_json::Value = serde_json::from_str(&tool.input_schema).unwrap();
        assert_eq!(schema["type"], "object", "{}", tool.name);
    }
    let reply = round_trip(&mut port, &mut host, Message::ReadResource { id: 3, uri: "kingly://uart/stats".into() });
    let Message::ReadResourceResult { contents, .. } = reply else { panic!("{reply:?}") };
    let Content::Json(text) = &contents[0].content else { panic!() };
    assert!(text.contains("\"bytes\":42"), "{text}");
    let reply = round_trip(&mut port, &mut host, Message::ReadResource { id: 4, uri: "kingly://nope".into() });
    assert!(matches!(reply, Message::Error { code: error_code::RESOURCE_NOT_FOUND, .. }));
}

#[test]
fn ping_echoes_data_and_checks_its_type() {
    let (mut port, mut host) = connected();
    let Message::CallToolResult(r) = round_trip(&mut port, &mut host, call("ping", r#"{"data":"hi"}"#)) else {
        panic!()
    };
    let Content::Json(text) = &r.content[0] else { panic!() };
    assert!(text.contains("\"data\":\"hi\""));
    let reply = round_trip(&mut port, &mut host, call("ping", r#"{"data":5}"#));
    assert!(matches!(reply, Message::Error { .. }));
}

#[test]
fn console_text_does_not_count_as_framing() {
    let mut port = Port::new();
    port.handle_bytes(b"ping\nhelp\n", 0);
    assert!(!port.framed(0));
}
