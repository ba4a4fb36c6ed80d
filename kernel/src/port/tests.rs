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

/// A call as the host bridge sends it: JSON arguments through the contract.
fn call(name: &str, args: &str) -> Message {
    let json: serde_json::Value = serde_json::from_str(args).unwrap();
    let args = kingly_proto::contract::json::request(name, &json, None).unwrap();
    raw_call(name, args)
}

fn raw_call(name: &str, args: ToolArgs) -> Message {
    Message::CallTool(CallTool { id: 9 as RequestId, name: name.to_string(), args })
}

/// A typed result as JSON, as the host bridge renders it.
fn reply_json(name: &str, content: &Content) -> serde_json::Value {
    let Content::Reply(bytes) = content else { panic!("{content:?}") };
    kingly_proto::contract::json::reply(name, bytes).unwrap()
}

#[test]
fn kernel_info_reports_the_board() {
    let (mut port, mut host) = connected();
    let Message::CallToolResult(r) = round_trip(&mut port, &mut host, call("kernel_info", "{}")) else { panic!() };
    assert!(!r.is_error);
    let v = reply_json("kernel_info", &r.content[0]);
    assert_eq!(v["cpus"], 4);
    assert_eq!(v["board"], "virt");
    assert!(port.in_session());
}

#[test]
fn unknown_tools_are_protocol_errors_and_bad_arguments_too() {
    let (mut port, mut host) = connected();
    let reply = round_trip(&mut port, &mut host, call("no_such_tool", "{}"));
    assert!(matches!(reply, Message::Error { code: error_code::INVALID_PARAMS, .. }), "{reply:?}");
    // The kernel decodes typed arguments only: bytes that are not the tool's type, trailing
    // bytes, and an attachment the tool does not take are refused by name.
    let garbage = ToolArgs { request: vec![0xff, 0xff, 0xff], attachment: vec![] };
    let reply = round_trip(&mut port, &mut host, raw_call("ping", garbage));
    assert!(matches!(&reply, Message::Error { message, .. } if message.contains("not ping's")), "{reply:?}");
    let trailing = ToolArgs { request: vec![0], attachment: vec![] };
    let reply = round_trip(&mut port, &mut host, raw_call("kernel_info", trailing));
    assert!(matches!(&reply, Message::Error { message, .. } if message.contains("not kernel_info's")), "{reply:?}");
    let attached = ToolArgs { request: vec![], attachment: vec![1] };
    let reply = round_trip(&mut port, &mut host, raw_call("uart_stats", attached));
    assert!(matches!(&reply, Message::Error { message, .. } if message.contains("no attachment")), "{reply:?}");
    // A ping whose data is too long for the schema still meets the kernel's own check.
    let long = kingly_proto::contract::PingArgs { data: Some("x".repeat(513)) };
    let args = ToolArgs { request: kingly_proto::contract::encode(&long), attachment: vec![] };
    let reply = round_trip(&mut port, &mut host, raw_call("ping", args));
    assert!(matches!(&reply, Message::Error { message, .. } if message.contains("512")), "{reply:?}");
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
        assert!(kingly_proto::contract::is_kernel_tool(&tool.name), "{}", tool.name);
    }
    let reply = round_trip(&mut port, &mut host, Message::ReadResource { id: 3, uri: "kingly://uart/stats".into() });
    let Message::ReadResourceResult { contents, .. } = reply else { panic!("{reply:?}") };
    let Content::Reply(bytes) = &contents[0].content else { panic!() };
    let stats: kingly_proto::contract::UartStatsReply = kingly_proto::contract::decode("uart_stats", bytes).unwrap();
    assert_eq!(stats.bytes, 42);
    let reply = round_trip(&mut port, &mut host, Message::ReadResource { id: 4, uri: "kingly://nope".into() });
    assert!(matches!(reply, Message::Error { code: error_code::RESOURCE_NOT_FOUND, .. }));
}

#[test]
fn ping_echoes_data_and_checks_its_type() {
    let (mut port, mut host) = connected();
    let Message::CallToolResult(r) = round_trip(&mut port, &mut host, call("ping", r#"{"data":"hi"}"#)) else {
        panic!()
    };
    assert_eq!(reply_json("ping", &r.content[0])["data"], "hi");
    assert!(kingly_proto::contract::json::request("ping", &serde_json::json!({"data": 5}), None).is_err());
}

#[test]
fn console_text_does_not_count_as_framing() {
    let mut port = Port::new();
    port.handle_bytes(b"ping\nhelp\n", 0);
    assert!(!port.framed(0));
}
