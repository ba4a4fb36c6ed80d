//! The agent runtime on four emulated cores: hot-swap torture, push → attach → workload_run,
//! the kernel's own verifier and signature checks, an `mcp_admit` rate limiter, tool and timer
//! agents. Programs are the C examples in examples/agents, compiled here with clang-14.

use kingly::board::Board;
use kingly::client::{content_json, Client};
use kingly::keys;
use kingly::push::{self, AgentProgram, Target};
use kingly_bpf::hooks::{Kind, MCP_ADMIT, SCHED_SLICE};
use kingly_tests::{fields, Booted};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::Duration;

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/agents")
}

/// Compiles an example with clang-14 (installed by .ci/setup) and reads it like `kingly push`
/// (with `-g` when it declares BTF-defined maps).
fn example(name: &str) -> AgentProgram {
    let source = examples().join(name);
    if name.ends_with(".s") {
        return push::read_program(&source, None).unwrap();
    }
    let out = std::env::temp_dir().join(format!("kingly-agent-{}-{name}.o", std::process::id()));
    // BTF-defined maps (SEC(".maps")) are described by .BTF, which only -g writes.
    let btf_maps = std::fs::read_to_string(&source).unwrap().contains("SEC(\".maps\")");
    let status = std::process::Command::new("clang-14")
        .args(["-target", "bpf", "-O2", if btf_maps { "-g" } else { "-g0" }, "-c"])
        .arg(&source)
        .arg("-o")
        .arg(&out)
        .status()
        .expect("clang-14 is required (run .ci/setup)");
    assert!(status.success(), "clang-14 failed on {name}");
    let program = push::read_program(&out, None).unwrap();
    let _ = std::fs::remove_file(out);
    program
}

fn key() -> ed25519_dalek::SigningKey {
    keys::load_signing(&keys::default_dir()).expect("the kernel build made the signing key")
}

fn call(client: &mut Client, tool: &str, args: Value) -> Value {
    let result = client.call_tool(tool, &args.to_string(), None).unwrap();
    assert!(!result.is_error, "{tool} failed: {:?}", result.content);
    content_json(&result.content)
}

fn workload(client: &mut Client, ms: u64) -> Value {
    call(client, "workload_run", json!({"ms": ms}))
}

#[test]
fn hotswap_torture_on_four_cores_finds_no_violation() {
    let mut kernel = Booted::start(Board::Raspi4b, "test=hotswap-torture").unwrap();
    let status = kernel.wait_exit(Duration::from_secs(300)).unwrap();
    let line = kernel
        .output
        .lines()
        .find(|l| l.starts_with("hotswap torture: "))
        .unwrap_or_else(|| panic!("no summary line:\n{}", kernel.output))
        .to_string();
    let f = fields(&line);
    assert!(f["swaps"] >= 1000, "{line}");
    assert!(f["decisions"] >= 10_000, "{line}");
    assert_eq!(f["violations"], 0, "{line}");
    assert_eq!(status, 0, "{}", kernel.output);
}

#[test]
fn a_pushed_policy_changes_the_workload_and_is_replaced_without_a_reboot() {
    let kernel = Booted::boot(Board::Raspi4b, "").unwrap();
    let mut client = kernel.client().unwrap();
    client.request_timeout = Duration::from_secs(60);
    let info = call(&mut client, "kernel_info", json!({}));
    assert_eq!(info["signing"], "enforced", "{info}");

    let before = workload(&mut client, 400);
    assert_eq!(before["sched_slice"], Value::Null, "{before}");
    let key = key();
    let program = example("slice_latency.c");
    let report =
        push::push(&mut client, &key, Kind::Decision, Target::Decision(SCHED_SLICE), "slice_latency", &program, 0, 0)
            .unwrap();
    let first_id = report["loaded"]["id"].as_u64().unwrap();
    assert_eq!(report["attached"]["hook"], "sched_slice", "{report}");
    let after = workload(&mut client, 400);
    assert_eq!(after["sched_slice"], first_id, "{after}");
    eprintln!("default policy: {before}\nslice_latency: {after}");
    // 1 ms slices for CPU-bound tasks instead of 10 ms: more switches, shorter waits. (Only
    // the direction is asserted: on a loaded host QEMU delivers ticks late and numbers vary.)
    let switches = |r: &Value| r["context_switches"].as_u64().unwrap();
    assert!(switches(&after) > switches(&before), "before {before}\nafter {after}");
    let p50 = |r: &Value| r["classes"]["latency"]["latency_us"]["p50"].as_u64().unwrap();
    assert!(p50(&after) < p50(&before), "latency p50 did not drop:\nbefore {before}\nafter {after}");

    // Replace it with the assembly twin, same name: no reboot; the kernel swaps the hook to the
    // new program and unloads the old one, so one program is listed under the name.
    let twin = example("slice_latency.s");
    let report =
        push::push(&mut client, &key, Kind::Decision, Target::Decision(SCHED_SLICE), "slice_latency", &twin, 0, 0)
            .unwrap();
    let second_id = report["loaded"]["id"].as_u64().unwrap();
    assert_eq!(report["loaded"]["name"], "slice_latency", "no x_2 names: {report}");
    assert_eq!(report["attached"]["replaced"], first_id, "{report}");
    assert_eq!(report["replaced"], json!({"id": first_id, "hooks": ["sched_slice"]}), "{report}");
    assert_eq!(report["unloaded"], first_id, "{report}");
    let list = call(&mut client, "bpf_list", json!({}));
    let programs = list["programs"].as_array().unwrap();
    assert_eq!(programs.len(), 1, "{list}");
    assert_eq!(programs[0]["id"], second_id, "{list}");
    assert_eq!(programs[0]["attached"], json!(["sched_slice"]), "{list}");
    assert_eq!(programs[0]["engine"], "jit", "the JIT is the default engine: {list}");
    // A third push replaces the second the same way (the old client alternated x / x_2).
    let report =
        push::push(&mut client, &key, Kind::Decision, Target::Decision(SCHED_SLICE), "slice_latency", &twin, 0, 0)
            .unwrap();
    let third_id = report["loaded"]["id"].as_u64().unwrap();
    assert_eq!(
        (report["loaded"]["name"].as_str(), report["unloaded"].as_u64()),
        (Some("slice_latency"), Some(second_id))
    );
    let list = call(&mut client, "bpf_list", json!({}));
    assert_eq!(list["programs"].as_array().unwrap().len(), 1, "{list}");

    // `kingly agents`: real instruction counts under the JIT.
    let table = push::agents_table(&list);
    let row = table.lines().find(|l| l.contains("slice_latency")).unwrap_or_else(|| panic!("{table}"));
    let cells: Vec<&str> = row.split_whitespace().collect();
    let xlated = twin.bytecode.len() / 8;
    assert_eq!(cells[4..6], ["jit", xlated.to_string().as_str()], "{table}");
    let jited_bytes: u64 = cells[6].parse().unwrap_or_else(|_| panic!("{table}"));
    assert!(jited_bytes > 0 && jited_bytes.is_multiple_of(4), "{table}");
    assert_eq!(cells[7], (jited_bytes / 4).to_string(), "{table}");

    // `kingly agents dump`: the verified instructions, then the A64 code under each of them.
    let dumped = push::dump(&mut client, "slice_latency", push::DumpPart::Xlated).unwrap();
    let listing = dumped["listing"].as_str().unwrap();
    let expected = kingly_bpf::disasm::format_program(
        &kingly_bpf::isa::decode_program(kingly_bpf::isa::slots_from_bytes(&twin.bytecode).unwrap()).unwrap().insns,
    );
    assert_eq!(listing, expected, "the xlated dump is the program that was pushed");
    let dumped = push::dump(&mut client, &third_id.to_string(), push::DumpPart::Jited).unwrap();
    assert_eq!(dumped["jited_bytes"], jited_bytes, "{dumped}");
    let listing = dumped["listing"].as_str().unwrap();
    assert!(listing.starts_with("entry, exit and abort paths:"), "{listing}");
    assert!(listing.contains("exit"), "{listing}");
    let words =
        listing.lines().filter(|l| l.trim_start().split(':').nth(1).is_some_and(|w| w.trim().len() == 8)).count();
    assert_eq!(words as u64, jited_bytes / 4, "every word of the JIT's code is listed:\n{listing}");

    // Unload is refused while attached; detach, then unload. A wrong name lists what is loaded.
    let refused = push::unload(&mut client, "slice_latency", false).unwrap_err().to_string();
    assert!(refused.contains("detach it first") && refused.contains("--force"), "{refused}");
    let unknown = push::detach(&mut client, "nope", None).unwrap_err().to_string();
    assert!(unknown.contains(&format!("loaded: {third_id} slice_latency (sched_slice)")), "{unknown}");
    let detached = push::detach(&mut client, "slice_latency", Some("sched_slice")).unwrap();
    assert_eq!(detached["hooks"], json!(["sched_slice"]), "{detached}");
    let after_detach = workload(&mut client, 100);
    assert_eq!(after_detach["sched_slice"], Value::Null, "{after_detach}");
    let unloaded = push::unload(&mut client, "slice_latency", false).unwrap();
    assert_eq!(unloaded["unloaded"], third_id, "{unloaded}");
    assert_eq!(call(&mut client, "bpf_list", json!({}))["programs"], json!([]));

    // --force detaches and unloads in one go; the replaced policy runs in between.
    let report =
        push::push(&mut client, &key, Kind::Decision, Target::Decision(SCHED_SLICE), "slice_latency", &program, 0, 0)
            .unwrap();
    assert_eq!(report["replaced"], Value::Null, "{report}");
    // The decision cache answers the hook: a lookup after a workload finds the policy's value.
    workload(&mut client, 100);
    let cached = call(&mut client, "cache_lookup", json!({"hook": "sched_slice", "fields": {"class": 2, "task": 4}}));
    assert!(cached["value"].is_null() || cached["value"] == 500, "{cached}");
    let stats = call(&mut client, "cache_stats", json!({}));
    assert!(stats["l1_hits"].as_u64().unwrap() > 0, "{stats}");
    let forced = push::unload(&mut client, "slice_latency", true).unwrap();
    assert_eq!(forced["detached"], json!(["sched_slice"]), "{forced}");
    assert_eq!(call(&mut client, "bpf_list", json!({}))["programs"], json!([]));
}

#[test]
fn the_kernel_refuses_bad_programs_and_bad_signatures_and_stays_up() {
    let kernel = Booted::boot(Board::Raspi4b, "").unwrap();
    let mut client = kernel.client().unwrap();
    let key = key();
    let refuse = |client: &mut Client, source: &str, key: &ed25519_dalek::SigningKey| -> String {
        let slots = kingly_bpf::asm::assemble(source).unwrap();
        let program = AgentProgram { bytecode: kingly_bpf::isa::slots_to_bytes(&slots), maps: vec![] };
        // `push` itself does not verify: the host-side check is skipped on purpose.
        let error =
            push::push(client, key, Kind::Decision, Target::Decision(SCHED_SLICE), "bad", &program, 0, 0).unwrap_err();
        assert!(error.downcast_ref::<push::KernelRefused>().is_some(), "{error:#}");
        error.to_string()
    };
    let oob = refuse(&mut client, "ldxdw %r0, [%r1+4096]\nexit", &key);
    assert!(oob.contains("verifier"), "{oob}");
    let spin = refuse(&mut client, "mov %r0, 0\nja -1\nexit", &key);
    assert!(spin.contains("verifier"), "{spin}");
    let stranger = ed25519_dalek::SigningKey::from_bytes(&[42; 32]);
    let forged = refuse(&mut client, "mov %r0, 1000\nexit", &stranger);
    assert!(forged.contains("bad signature"), "{forged}");
    let unsigned = client
        .call_tool(
            "bpf_load",
            &json!({"type": "decision", "name": "x", "bytes_hex": "b700000001000000" }).to_string(),
            None,
        )
        .unwrap();
    assert!(unsigned.is_error, "{:?}", unsigned.content);
    assert!(content_json(&unsigned.content).to_string().contains("unsigned program refused"));
    // Still up, nothing loaded, the default policy still answers.
    assert_eq!(call(&mut client, "bpf_list", json!({}))["programs"], json!([]));
    assert_eq!(call(&mut client, "kernel_info", json!({}))["cpus"], 4);
}

#[test]
fn an_mcp_admit_rate_limiter_limits_tool_calls_and_tool_and_timer_agents_run() {
    let kernel = Booted::boot(Board::Raspi4b, "").unwrap();
    let mut client = kernel.client().unwrap();
    let key = key();

    // A tool extension: CRC-32 of its input, listed among the kernel's tools.
    push::push(&mut client, &key, Kind::Tool, Target::Tool, "crc32", &example("crc32.c"), 0, 0).unwrap();
    assert!(client.list_tools().unwrap().iter().any(|t| t.name == "crc32"));
    let crc = call(&mut client, "crc32", json!({"text": "123456789"}));
    assert_eq!(crc["r0"], 0xcbf4_3926u64, "{crc}");

    // A timer agent on core 1 every 10 ms counts its runs in its map.
    let timer =
        push::push(&mut client, &key, Kind::Timer, Target::Timer, "timer_stats", &example("timer_stats.c"), 10, 1)
            .unwrap();
    let timer_id = timer["loaded"]["id"].as_u64().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let map = call(&mut client, "map_read", json!({"id": timer_id, "key": "00000000"}));
    let runs = u64::from_str_radix(&map["value"].as_str().unwrap()[..2], 16).unwrap();
    assert!(runs >= 5, "{map}");
    // map_write refusals are words, not Rust enum names.
    let refused = client
        .call_tool("map_write", &json!({"id": timer_id, "key": "00", "value": "0000000000000000"}).to_string(), None)
        .unwrap();
    assert!(refused.is_error, "{:?}", refused.content);
    let said = content_json(&refused.content).to_string();
    assert!(said.contains("the key is 1 bytes but this map takes 4-byte keys"), "{said}");

    // The rate limiter: 5 calls per client per second, then "rate limited".
    let admit = push::push(
        &mut client,
        &key,
        Kind::Decision,
        Target::Decision(MCP_ADMIT),
        "admit_ratelimit",
        &example("admit_ratelimit.c"),
        0,
        0,
    )
    .unwrap();
    assert_eq!(admit["attached"]["hook"], "mcp_admit");
    let outcomes: Vec<bool> = (0..12).map(|_| client.call_tool("ping", "{}", None).unwrap().is_error).collect();
    let limited = outcomes.iter().filter(|e| **e).count();
    assert!(!outcomes[0], "{outcomes:?}");
    assert!(limited >= 1, "the limiter never limited: {outcomes:?}");
    assert!(limited <= 12 - 5, "more than the limit was refused: {outcomes:?}");
    let refused = client.call_tool("ping", "{}", None).unwrap();
    if refused.is_error {
        assert!(content_json(&refused.content).to_string().contains("rate limited"), "{:?}", refused.content);
    }
    // bpf_detach is never refused; afterwards every call goes through again.
    call(&mut client, "bpf_detach", json!({"hook": "mcp_admit"}));
    assert!((0..8).all(|_| !client.call_tool("ping", "{}", None).unwrap().is_error));
}

#[test]
fn an_agent_with_btf_defined_maps_is_pushed_and_retuned_through_its_map() {
    let kernel = Booted::boot(Board::Raspi4b, "").unwrap();
    let mut client = kernel.client().unwrap();
    client.request_timeout = Duration::from_secs(60);
    let key = key();
    // slice_tunable.c: slice_us (array, __type key/value) and decisions (per-CPU array,
    // __uint key_size/value_size), both in SEC(".maps"); the loader lists them in address order.
    let program = example("slice_tunable.c");
    assert_eq!(program.maps.len(), 2);
    let slice_us = program.maps.iter().position(|m| m.kind == kingly_bpf::MapKind::Array).unwrap();
    let report =
        push::push(&mut client, &key, Kind::Decision, Target::Decision(SCHED_SLICE), "slice_tunable", &program, 0, 0)
            .unwrap();
    let id = report["loaded"]["id"].as_u64().unwrap();
    assert_eq!(report["attached"]["hook"], "sched_slice", "{report}");
    // Retune latency tasks (class 2) to 700 µs while it runs; the kernel keeps the map's shape.
    let value = 700u64.to_le_bytes().iter().map(|b| format!("{b:02x}")).collect::<String>();
    call(&mut client, "map_write", json!({"id": id, "map": slice_us, "key": "02000000", "value": value}));
    let read = call(&mut client, "map_read", json!({"id": id, "map": slice_us, "key": "02000000"}));
    assert_eq!(read["value"], value, "{read}");
    call(&mut client, "cache_invalidate", json!({"hook": "sched_slice"}));
    let after = workload(&mut client, 200);
    assert_eq!(after["sched_slice"], id, "{after}");
    let cached = call(&mut client, "cache_lookup", json!({"hook": "sched_slice", "fields": {"class": 2, "task": 4}}));
    assert!(cached["value"].is_null() || cached["value"] == 700, "{cached}");
}
