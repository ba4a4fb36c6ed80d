//! The message port over a real serial socket: sessions, tools, garbage, faults, reconnects.

use kingly::board::Board;
use kingly_tests::Booted;
use std::time::Duration;

fn json_of(result: &kingly_proto::CallToolResult) -> serde_json::Value {
    kingly::client::content_json(&result.content)
}

#[test]
fn tools_answer_on_both_boards() {
    for board in [Board::Raspi4b, Board::Virt] {
        let kernel = Booted::boot(board, "").unwrap();
        let mut client = kernel.client().unwrap();
        assert_eq!(client.peer.name, "kingly");
        let info = json_of(&client.call_tool("kernel_info", "{}", None).unwrap());
        assert_eq!(info["cpus"], 4, "{info}");
        assert_eq!(info["board"], board.name());
        assert_eq!(info["mmu"], "on");
        let names: Vec<String> = client.list_tools().unwrap().into_iter().map(|t| t.name).collect();
        for tool in ["kernel_info", "ping", "uart_stats", "cache_stats"] {
            assert!(names.iter().any(|n| n == tool), "{board}: {tool} missing from {names:?}");
        }
        let error = client.call_tool("no_such_tool", "{}", None).unwrap_err().to_string();
        assert!(error.contains("unknown tool 'no_such_tool'"), "{error}");
        let stats = client.read_resource("kingly://cache/stats").unwrap();
        assert_eq!(stats[0].uri, "kingly://cache/stats");
        assert!(client.ping().unwrap() < Duration::from_secs(5));
    }
}

#[test]
fn a_new_hello_resets_the_session_without_a_reboot() {
    let kernel = Booted::boot(Board::Raspi4b, "").unwrap();
    let uptimes: Vec<u64> = (0..3)
        .map(|_| {
            // Each client opens a fresh session on the same, still running kernel.
            let mut client = kernel.client().unwrap();
            json_of(&client.call_tool("kernel_info", "{}", None).unwrap())["uptime_ms"].as_u64().unwrap()
        })
        .collect();
    assert!(uptimes.windows(2).all(|w| w[0] <= w[1]), "the kernel rebooted between sessions: {uptimes:?}");
}
