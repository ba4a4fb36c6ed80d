use super::*;
use crate::cpu::host::HostCpu;
use crate::dcache::CacheConfig;
use crate::rcu::Rcu;
use ed25519_dalek::{Signer, SigningKey};
use kingly_bpf::hooks::{MCP_ADMIT, SCHED_CPU, SCHED_SLICE};
use kingly_bpf::FixedPlatform;

fn key() -> SigningKey {
    SigningKey::from_bytes(&[7u8; 32])
}

fn trust() -> Trust {
    Trust::Key(key().verifying_key())
}

fn bytecode(src: &str) -> Vec<u8> {
    kingly_bpf::asm::assemble(src).unwrap().iter().flat_map(|slot| slot.to_bytes()).collect()
}

fn sign(kind: Kind, name: &str, maps: &[MapDef], code: &[u8]) -> Vec<u8> {
    key().sign(&hooks::signed_message(kind, name, maps, code)).to_bytes().to_vec()
}

/// A fresh runtime on leaked statics (tests run in parallel, each with its own domain).
fn runtime() -> &'static Runtime<'static, HostCpu> {
    let rcu: &'static Rcu<HostCpu> = Box::leak(Box::new(Rcu::new()));
    let cache = Box::leak(Box::new(DecisionCache::new(rcu, CacheConfig::default())));
    Box::leak(Box::new(Runtime::new(cache, trust(), None)))
}

fn load(rt: &Runtime<'_, HostCpu>, kind: Kind, name: &str, src: &str) -> Result<Arc<Agent>, AgentError> {
    let code = bytecode(src);
    let signature = sign(kind, name, &[], &code);
    rt.load(&LoadRequest { kind, name, maps: &[], bytecode: &code, signature: Some(&signature) })
}

fn slice_field_prog(value: u64) -> String {
    format!("mov %r0, {value}\nexit")
}

#[test]
fn default_policies_answer_when_nothing_is_attached() {
    let rt = runtime();
    let mut p = FixedPlatform::default();
    let d = rt.decide(0, &SCHED_SLICE, [0, 1, 0, 0], 0, &mut p);
    assert_eq!(d, Decision { value: DEFAULT_SLICE_US, source: Source::Default });
    assert_eq!(rt.decide(0, &SCHED_SLICE, [0, 1, 0, 0], 1, &mut p).source, Source::Cache);
    assert_eq!(rt.decide(0, &SCHED_CPU, [0, 1, 3, 0], 0, &mut p).value, 3);
    assert_eq!(rt.decide(0, &MCP_ADMIT, [1, 2, 3, 0], 0, &mut p).value, hooks::admit::ALLOW);
}

#[test]
fn attached_program_decides_and_is_cached_until_replaced() {
    let rt = runtime();
    let mut p = FixedPlatform::default();
    let off = SCHED_SLICE.field_offset("class").unwrap();
    let a = load(rt, Kind::Decision, "by_class", &format!("ldxdw %r0, [%r1+{off}]\nmul %r0, 1000\nadd %r0, 500\nexit"))
        .unwrap();
    assert_eq!(rt.attach(a.id, &SCHED_SLICE).unwrap(), None);
    let d = rt.decide(1, &SCHED_SLICE, [2, 9, 0, 0], 5, &mut p);
    assert_eq!(d, Decision { value: 2500, source: Source::Agent(a.id) });
    assert_eq!(rt.decide(1, &SCHED_SLICE, [2, 9, 0, 0], 6, &mut p), Decision { value: 2500, source: Source::Cache });
    assert_eq!(a.stats.runs.load(Ordering::Relaxed), 1);
    let b = load(rt, Kind::Decision, "flat", &slice_field_prog(777)).unwrap();
    assert_eq!(rt.attach(b.id, &SCHED_SLICE).unwrap(), Some(a.id));
    assert_eq!(rt.decide(1, &SCHED_SLICE, [2, 9, 0, 0], 7, &mut p).value, 777, "no stale decision after a swap");
    assert_eq!(a.attachments(), Vec::<&str>::new());
    assert_eq!(b.attachments(), vec!["sched_slice"]);
    assert!(matches!(rt.unload(b.id), Err(AgentError::StillAttached { .. })));
    rt.unload(a.id).unwrap();
    assert_eq!(rt.detach(&SCHED_SLICE), Some(b.id));
    assert_eq!(rt.decide(1, &SCHED_SLICE, [2, 9, 0, 0], 8, &mut p).value, DEFAULT_SLICE_US);
    rt.unload(b.id).unwrap();
    assert!(rt.list().is_empty());
}

#[test]
fn ttl_expires_decisions() {
    let rt = runtime();
    let mut p = FixedPlatform::default();
    let a = load(rt, Kind::Decision, "flat", &slice_field_prog(1234)).unwrap();
    rt.attach(a.id, &SCHED_SLICE).unwrap();
    rt.decide(0, &SCHED_SLICE, [0; 4], 0, &mut p);
    assert_eq!(rt.decide(0, &SCHED_SLICE, [0; 4], u64::from(SCHED_SLICE.ttl_ticks) - 1, &mut p).source, Source::Cache);
    assert_eq!(
        rt.decide(0, &SCHED_SLICE, [0; 4], u64::from(SCHED_SLICE.ttl_ticks), &mut p).source,
        Source::Agent(a.id)
    );
}

#[test]
fn signatures_are_enforced() {
    let rt = runtime();
    let code: &'static [u8] = Box::leak(bytecode("mov %r0, 1\nexit").into_boxed_slice());
    let req = |signature: Option<&'static [u8]>| LoadRequest {
        kind: Kind::Decision,
        name: "p",
        maps: &[],
        bytecode: code,
        signature,
    };
    assert_eq!(rt.load(&req(None)).err(), Some(AgentError::Signature(SignatureError::Missing)));
    assert_eq!(rt.load(&req(Some(&[1, 2, 3]))).err(), Some(AgentError::Signature(SignatureError::Malformed)));
    // Signed for another name: the signature covers the name too.
    let other = Box::leak(sign(Kind::Decision, "q", &[], code).into_boxed_slice());
    assert_eq!(rt.load(&req(Some(other))).err(), Some(AgentError::Signature(SignatureError::Invalid)));
    let wrong_key = SigningKey::from_bytes(&[8u8; 32]).sign(&hooks::signed_message(Kind::Decision, "p", &[], code));
    let wrong_key: &'static [u8] = Box::leak(Box::new(wrong_key.to_bytes()));
    assert_eq!(rt.load(&req(Some(wrong_key))).err(), Some(AgentError::Signature(SignatureError::Invalid)));
    let good = Box::leak(sign(Kind::Decision, "p", &[], code).into_boxed_slice());
    assert!(rt.load(&req(Some(good))).is_ok());
    assert!(matches!(Trust::from_build("", false), Trust::NoKey));
    assert!(matches!(Trust::from_build("zz", false), Trust::NoKey));
    assert!(matches!(Trust::from_build("", true), Trust::Unsigned));
}

#[test]
fn the_kernel_verifier_refuses_what_the_host_might_not() {
    let rt = runtime();
    // Out-of-bounds context read (the decision context is 48 bytes).
    let e = load(rt, Kind::Decision, "oob", "ldxdw %r0, [%r1+48]\nexit").unwrap_err();
    assert!(matches!(e, AgentError::Verify(_)), "{e}");
    // Unbounded loop.
    let e = load(rt, Kind::Decision, "spin", "mov %r0, 0\nja -1\nexit").unwrap_err();
    assert!(matches!(e, AgentError::Verify(_)), "{e}");
    assert!(rt.list().is_empty());
}

#[test]
fn names_kinds_and_budgets_are_checked() {
    let rt = runtime();
    assert_eq!(load(rt, Kind::Tool, "Bad", "mov %r0, 0\nexit").unwrap_err(), AgentError::BadName);
    assert_eq!(load(rt, Kind::Tool, "ping", "mov %r0, 0\nexit").unwrap_err(), AgentError::NameTaken);
    assert_eq!(load(rt, Kind::Tool, "bpf_list", "mov %r0, 0\nexit").unwrap_err(), AgentError::NameTaken);
    let t = load(rt, Kind::Tool, "len", "ldxdw %r2, [%r1+0]\nldxdw %r0, [%r1+8]\nsub %r0, %r2\nexit").unwrap();
    assert_eq!(load(rt, Kind::Tool, "len", "mov %r0, 0\nexit").unwrap_err(), AgentError::NameTaken);
    assert!(matches!(rt.attach(t.id, &SCHED_SLICE), Err(AgentError::WrongKind { .. })));
    let mut p = FixedPlatform::default();
    assert_eq!(rt.run_tool(0, &rt.tool("len").unwrap(), b"hello", &mut p).unwrap(), 5);
    // A bounded loop of 5000 iterations is fine for a tool but over sched_slice's budget.
    let slow = load(rt, Kind::Decision, "slow", "mov %r0, 0\nmov %r2, 0\nadd %r2, 1\njlt %r2, 5000, -2\nexit").unwrap();
    assert!(matches!(rt.attach(slow.id, &SCHED_SLICE), Err(AgentError::OverBudget { .. })), "{:?}", slow.verify);
}

#[test]
fn out_of_range_decisions_fall_back_to_the_default() {
    let rt = runtime();
    let mut p = FixedPlatform::default();
    let a = load(rt, Kind::Decision, "huge", "mov %r0, 3\nexit").unwrap();
    rt.attach(a.id, &MCP_ADMIT).unwrap();
    assert_eq!(rt.decide(0, &MCP_ADMIT, [0; 4], 0, &mut p), Decision { value: 0, source: Source::Fallback });
}

#[test]
fn timers_run_on_their_cpu_when_due() {
    let rt = runtime();
    let mut p = FixedPlatform::default();
    let maps = [MapDef { kind: kingly_bpf::MapKind::Array, key_size_bytes: 4, value_size_bytes: 8, max_entries: 1 }];
    // Counts its runs in map 0[0].
    let src = "mov %r6, 0\nstxw [%r10-4], %r6\nlddw %r1, map:0\nmov %r2, %r10\nadd %r2, -4\ncall 1\njeq %r0, 0, +3\nldxdw %r1, [%r0+0]\nadd %r1, 1\nstxdw [%r0+0], %r1\nmov %r0, 0\nexit";
    let code = bytecode(src);
    let signature = sign(Kind::Timer, "count", &maps, &code);
    let agent = rt
        .load(&LoadRequest {
            kind: Kind::Timer,
            name: "count",
            maps: &maps,
            bytecode: &code,
            signature: Some(&signature),
        })
        .unwrap();
    rt.attach_timer(agent.id, TimerSlot { period_ms: 10, cpu: 1 }, 0).unwrap();
    for now_ms in 0..=100 {
        rt.run_timers(0, now_ms, &mut p);
        rt.run_timers(1, now_ms, &mut p);
    }
    let runs = agent.with_map::<HostCpu, _>(0, |m| u64::from_le_bytes(m.lookup(&[0; 4]).unwrap().try_into().unwrap()));
    assert_eq!(runs, Some(10));
    assert!(matches!(rt.attach_timer(agent.id, TimerSlot { period_ms: 0, cpu: 0 }, 0), Err(AgentError::BadTimer)));
    assert!(matches!(rt.unload(agent.id), Err(AgentError::StillAttached { .. })));
    rt.detach_timer(agent.id).unwrap();
    rt.unload(agent.id).unwrap();
}

#[test]
fn replaced_agents_are_freed_after_a_grace_period() {
    let rt = runtime();
    let a = load(rt, Kind::Decision, "a", &slice_field_prog(1)).unwrap();
    let weak = Arc::downgrade(&a);
    rt.attach(a.id, &SCHED_SLICE).unwrap();
    drop(a);
    let b = load(rt, Kind::Decision, "b", &slice_field_prog(2)).unwrap();
    let id_a = weak.upgrade().unwrap().id;
    rt.unload(id_a).unwrap_err();
    rt.attach(b.id, &SCHED_SLICE).unwrap();
    rt.unload(id_a).unwrap();
    // Only the retired slot holds it now; a grace period later it is gone.
    rt.cache().rcu().synchronize();
    rt.cache().rcu().reclaim();
    assert!(weak.upgrade().is_none());
}

#[test]
fn decision_keys_are_distinct_for_distinct_fields() {
    let wide = [1, 2, 3, u64::MAX];
    assert_eq!(decision_key(wide), Key::from_bytes(&hooks::decision_key(wide)).unwrap());
    assert_eq!(decision_key([1, 2, 3, 4]).len_bytes(), 8);
    let samples = [
        [0, 0, 0, 0],
        [1, 0, 0, 0],
        [0, 1, 0, 0],
        [0, 0, 0, 1],
        [0xffff, 0, 0, 0],
        [0x10000, 0, 0, 0],
        [0, 0x10000, 0, 0],
    ];
    for (i, a) in samples.iter().enumerate() {
        for b in &samples[i + 1..] {
            assert_ne!(decision_key(*a), decision_key(*b), "{a:?} {b:?}");
        }
    }
}

#[test]
fn wide_and_narrow_fields_both_cache() {
    let rt = runtime();
    let mut p = FixedPlatform::default();
    let a = load(rt, Kind::Decision, "flat", &slice_field_prog(4321)).unwrap();
    rt.attach(a.id, &SCHED_SLICE).unwrap();
    for fields in [[1, 2, 3, 4], [1 << 40, 2, 3, 4]] {
        assert_eq!(rt.decide(0, &SCHED_SLICE, fields, 0, &mut p).source, Source::Agent(a.id));
        assert_eq!(rt.decide(0, &SCHED_SLICE, fields, 1, &mut p), Decision { value: 4321, source: Source::Cache });
        assert_eq!(rt.cached(0, &SCHED_SLICE, fields, 2), Some(4321));
    }
}

/// Every parameter of every kernel tool (and of the maps `bpf_load` takes) says what it is:
/// MCP clients show these descriptions to the model choosing arguments.
#[test]
fn every_tool_parameter_has_a_description() {
    fn check(tool: &str, path: &str, schema: &serde_json::Value) {
        let Some(properties) = schema.get("properties").and_then(|p| p.as_object()) else { return };
        for (name, property) in properties {
            let described = property.get("description").and_then(|d| d.as_str()).is_some_and(|d| !d.is_empty());
            assert!(described, "{tool}: parameter {path}{name} has no description");
            if let Some(items) = property.get("items") {
                check(tool, &format!("{path}{name}[]."), items);
            }
        }
    }
    let rt = runtime();
    load(rt, Kind::Tool, "echo_len", "mov %r0, 0\nexit").unwrap();
    let mut tools = crate::port::tools::builtin();
    tools.extend(tools::descriptors(rt));
    assert!(tools.iter().any(|t| t.name == "echo_len"));
    for tool in &tools {
        let schema: serde_json::Value = serde_json::from_str(&tool.input_schema).unwrap();
        check(&tool.name, "", &schema);
    }
}
