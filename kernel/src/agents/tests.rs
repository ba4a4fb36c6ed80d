use super::*;
use crate::cpu::host::HostCpu;
use crate::dcache::CacheConfig;
use crate::port::ToolOutcome;
use crate::rcu::Rcu;
use ed25519_dalek::{Signer, SigningKey};
use kingly_bpf::hooks::{MCP_ADMIT, SCHED_CPU, SCHED_SLICE};
use kingly_bpf::FixedPlatform;
use serde_json::json;

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
    assert_eq!((d.value(), d.source), (DEFAULT_SLICE_US, Source::Default));
    assert_eq!(rt.decide(0, &SCHED_SLICE, [0, 1, 0, 0], 1, &mut p).source, Source::CacheGlobal);
    assert_eq!(rt.decide(0, &SCHED_CPU, [0, 1, 3, 0], 0, &mut p).value(), 3);
    assert_eq!(rt.decide(0, &MCP_ADMIT, [1, 2, 3, 0], 0, &mut p).value(), hooks::admit::ALLOW);
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
    assert_eq!(d, Decision::new(2500, Source::Agent(a.id), rt.policy(&SCHED_SLICE).generation));
    assert_eq!(rt.policy(&SCHED_SLICE).program, a.id);
    // The cached copy says which policy made it; the global table answers first, then the L1.
    assert_eq!(rt.decide(1, &SCHED_SLICE, [2, 9, 0, 0], 6, &mut p), Decision { source: Source::CacheGlobal, ..d });
    assert_eq!(rt.decide(1, &SCHED_SLICE, [2, 9, 0, 0], 6, &mut p), Decision { source: Source::CacheL1, ..d });
    assert_eq!(rt.provenance(&SCHED_SLICE, d.generation()).map(|p| p.program), Some(a.id));
    assert_eq!(a.stats.runs.load(Ordering::Relaxed), 1);
    let b = load(rt, Kind::Decision, "flat", &slice_field_prog(777)).unwrap();
    assert_eq!(rt.attach(b.id, &SCHED_SLICE).unwrap(), Some(a.id));
    let after = rt.decide(1, &SCHED_SLICE, [2, 9, 0, 0], 7, &mut p);
    assert_eq!(after.value(), 777, "no stale decision after a swap");
    assert!(after.generation() > d.generation());
    assert_eq!(rt.provenance(&SCHED_SLICE, d.generation()), None, "the old generation's program was replaced");
    assert_eq!(a.attachments(), Vec::<&str>::new());
    assert_eq!(b.attachments(), vec!["sched_slice"]);
    assert!(matches!(rt.unload(b.id), Err(AgentError::StillAttached { .. })));
    rt.unload(a.id).unwrap();
    assert_eq!(rt.detach(&SCHED_SLICE), Some(b.id));
    assert_eq!(rt.decide(1, &SCHED_SLICE, [2, 9, 0, 0], 8, &mut p).value(), DEFAULT_SLICE_US);
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
    assert_eq!(
        rt.decide(0, &SCHED_SLICE, [0; 4], u64::from(SCHED_SLICE.ttl_ticks) - 1, &mut p).source,
        Source::CacheGlobal
    );
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
    let d = rt.decide(0, &MCP_ADMIT, [0; 4], 0, &mut p);
    assert_eq!((d.value(), d.source), (0, Source::Fallback));
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
        let d = rt.decide(0, &SCHED_SLICE, fields, 1, &mut p);
        assert_eq!((d.value(), d.source), (4321, Source::CacheGlobal));
        assert_eq!(rt.cached(0, &SCHED_SLICE, fields, 2).map(|d| d.value()), Some(4321));
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
        check(&tool.name, "", &kingly_proto::contract::json::input_schema(&tool.name));
    }
}

/// A JIT that translates (so `bpf_list` and `bpf_dump` see real A64 code) but never runs:
/// on the host, the runtime falls back to the default policy when a run fails.
struct TranslateOnly;
struct Translated(kingly_bpf::jit::aarch64::Code);

impl Compiled for Translated {
    fn run(&self, _: &mut [u8], _: &mut [u8], _: &mut kingly_bpf::Env<'_>) -> Result<u64, RunError> {
        Err(RunError { pc: 0, kind: kingly_bpf::RunErrorKind::InvalidInstruction })
    }
    fn code(&self) -> &kingly_bpf::jit::aarch64::Code {
        &self.0
    }
}

impl Jit for TranslateOnly {
    fn compile(&self, program: &VerifiedProgram) -> Option<Box<dyn Compiled>> {
        kingly_bpf::jit::aarch64::compile(program).ok().map(|code| Box::new(Translated(code)) as Box<dyn Compiled>)
    }
}

fn jit_runtime() -> &'static Runtime<'static, HostCpu> {
    let rcu: &'static Rcu<HostCpu> = Box::leak(Box::new(Rcu::new()));
    let cache = Box::leak(Box::new(DecisionCache::new(rcu, CacheConfig::default())));
    Box::leak(Box::new(Runtime::new(cache, trust(), Some(&TranslateOnly))))
}

fn load_replacing(
    rt: &Runtime<'_, HostCpu>,
    kind: Kind,
    name: &str,
    src: &str,
) -> Result<(Arc<Agent>, Option<Replaced>), AgentError> {
    let code = bytecode(src);
    let signature = sign(kind, name, &[], &code);
    rt.load_replacing(&LoadRequest { kind, name, maps: &[], bytecode: &code, signature: Some(&signature) })
}

/// Calls a tool with wire arguments as the message port does; `None` for no such tool.
fn raw_tool(rt: &Runtime<'_, HostCpu>, name: &str, args: &kingly_proto::ToolArgs) -> Option<ToolOutcome> {
    let mut platform = FixedPlatform::default();
    let mut workload = |_, _| Err("no workload in unit tests".to_string());
    let mut cx = tools::CallContext {
        cpu: 0,
        now_ticks: 0,
        now_ms: 0,
        cpus: 4,
        platform: &mut platform,
        workload: &mut workload,
    };
    tools::call(rt, name, args, &mut cx)
}

/// Calls one of the runtime's tools as the host bridge and the message port do.
fn tool(rt: &Runtime<'_, HostCpu>, name: &str, args: serde_json::Value) -> ToolOutcome {
    // As the host bridge does: JSON to the typed request, the typed reply back to JSON.
    let args = match kingly_proto::contract::json::request(name, &args, None) {
        Ok(args) => args,
        Err(why) => return ToolOutcome::BadArguments(why),
    };
    match raw_tool(rt, name, &args).expect("a runtime tool") {
        ToolOutcome::Done(content) => ToolOutcome::Done(
            content
                .into_iter()
                .map(|item| match item {
                    kingly_proto::Content::Reply(bytes) => kingly_proto::Content::Json(
                        kingly_proto::contract::json::reply(name, &bytes).unwrap().to_string(),
                    ),
                    other => other,
                })
                .collect(),
        ),
        other => other,
    }
}

fn done_json(outcome: ToolOutcome) -> (serde_json::Value, Vec<u8>) {
    let ToolOutcome::Done(content) = outcome else { panic!("{outcome:?}") };
    let mut json = serde_json::Value::Null;
    let mut bytes = Vec::new();
    for item in content {
        match item {
            kingly_proto::Content::Json(text) => json = serde_json::from_str(&text).unwrap(),
            kingly_proto::Content::Bytes { data, .. } => bytes = data,
            kingly_proto::Content::Text(text) => panic!("text {text}"),
            kingly_proto::Content::Reply(_) => panic!("an unrendered reply"),
        }
    }
    (json, bytes)
}

fn failed_text(outcome: ToolOutcome) -> String {
    match outcome {
        ToolOutcome::Failed(text) => text,
        other => panic!("expected a failure: {other:?}"),
    }
}

#[test]
fn a_program_of_the_same_name_replaces_the_loaded_one_in_place() {
    let rt = runtime();
    let mut p = FixedPlatform::default();
    let old = load(rt, Kind::Decision, "policy", &slice_field_prog(111)).unwrap();
    rt.attach(old.id, &SCHED_SLICE).unwrap();
    rt.attach(old.id, &SCHED_CPU).unwrap();
    assert_eq!(rt.decide(0, &SCHED_SLICE, [1, 2, 0, 0], 0, &mut p).value(), 111);
    let weak = Arc::downgrade(&old);
    let old_id = old.id;
    drop(old);
    // Without replace the name is taken, as before.
    assert_eq!(load(rt, Kind::Decision, "policy", &slice_field_prog(222)).unwrap_err(), AgentError::NameTaken);
    // A refused replacement changes nothing.
    let e = load_replacing(rt, Kind::Decision, "policy", "mov %r0, 0\nja -1\nexit").unwrap_err();
    assert!(matches!(e, AgentError::Verify(_)), "{e}");
    let e = load_replacing(rt, Kind::Tool, "policy", "mov %r0, 0\nexit").unwrap_err();
    assert!(e.to_string().contains("a tool program cannot replace it"), "{e}");
    let slow = "mov %r0, 0\nmov %r2, 0\nadd %r2, 1\njlt %r2, 5000, -2\nexit";
    assert!(matches!(load_replacing(rt, Kind::Decision, "policy", slow), Err(AgentError::OverBudget { .. })));
    assert_eq!(rt.attached(0, &SCHED_SLICE), Some(old_id));
    assert_eq!(rt.list().len(), 1);

    let (new, replaced) = load_replacing(rt, Kind::Decision, "policy", &slice_field_prog(222)).unwrap();
    assert_eq!(replaced, Some(Replaced { id: old_id, hooks: vec!["sched_slice", "sched_cpu"] }));
    assert_ne!(new.id, old_id);
    assert_eq!(new.attachments(), vec!["sched_slice", "sched_cpu"]);
    assert_eq!(rt.attached(0, &SCHED_SLICE), Some(new.id));
    assert_eq!(rt.attached(0, &SCHED_CPU), Some(new.id));
    // One entry under the name, and no decision of the old program survives.
    let names: Vec<(u32, String)> = rt.list().iter().map(|a| (a.id, a.name.clone())).collect();
    assert_eq!(names, vec![(new.id, "policy".to_string())]);
    let d = rt.decide(0, &SCHED_SLICE, [1, 2, 0, 0], 1, &mut p);
    assert_eq!((d.value(), d.source), (222, Source::Agent(new.id)));
    assert_eq!(rt.provenance(&SCHED_SLICE, d.generation()).map(|p| p.program), Some(new.id));
    // The old one is gone once readers are done with it (CPU 0 decided, so it reports). Each
    // hook slot retired it separately: the second waits for the next grace period.
    for _ in 0..3 {
        rt.cache().rcu().synchronize_on(0);
    }
    assert!(weak.upgrade().is_none());
    // A first push under a new name just loads.
    let (fresh, replaced) = load_replacing(rt, Kind::Decision, "fresh", &slice_field_prog(5)).unwrap();
    assert_eq!((replaced, fresh.attachments()), (None, Vec::<&str>::new()));
}

#[test]
fn replacing_a_tool_or_a_timer_keeps_its_name_and_its_period() {
    let rt = runtime();
    let mut p = FixedPlatform::default();
    load(rt, Kind::Tool, "answer", "mov %r0, 1\nexit").unwrap();
    let (tool, replaced) = load_replacing(rt, Kind::Tool, "answer", "mov %r0, 2\nexit").unwrap();
    assert_eq!(replaced.unwrap().hooks, Vec::<&str>::new());
    assert_eq!(rt.tool("answer").unwrap().id, tool.id);
    assert_eq!(rt.run_tool(0, &rt.tool("answer").unwrap(), b"", &mut p).unwrap(), 2);

    let timer = load(rt, Kind::Timer, "tick", "mov %r0, 0\nexit").unwrap();
    rt.attach_timer(timer.id, TimerSlot { period_ms: 25, cpu: 1 }, 0).unwrap();
    let (new, replaced) = load_replacing(rt, Kind::Timer, "tick", "mov %r0, 1\nexit").unwrap();
    assert_eq!(replaced, Some(Replaced { id: timer.id, hooks: vec!["timer"] }));
    assert_eq!(new.timer(), Some(TimerSlot { period_ms: 25, cpu: 1 }));
    assert_eq!((timer.timer(), timer.attachments()), (None, Vec::<&str>::new()));
    for now_ms in 0..=100 {
        rt.run_timers(1, now_ms, &mut p);
    }
    assert_eq!(new.stats.runs.load(Ordering::Relaxed), 4);
    assert_eq!(timer.stats.runs.load(Ordering::Relaxed), 0);
}

#[test]
fn bpf_load_with_replace_answers_what_it_replaced() {
    let rt = runtime();
    let first = load(rt, Kind::Decision, "slice", &slice_field_prog(7)).unwrap();
    rt.attach(first.id, &SCHED_SLICE).unwrap();
    let code = bytecode(&slice_field_prog(8));
    let signature = kingly_proto::contract::encode_hex(&sign(Kind::Decision, "slice", &[], &code));
    let args = |replace: bool| json!({"type": "decision", "name": "slice", "signature": signature, "bytes_hex": kingly_proto::contract::encode_hex(&code), "replace": replace});
    assert!(failed_text(tool(rt, "bpf_load", args(false))).contains("replace: true"));
    let (answer, _) = done_json(tool(rt, "bpf_load", args(true)));
    assert_eq!(answer["replaced"], json!({"id": first.id, "hooks": ["sched_slice"]}), "{answer}");
    assert_eq!(answer["attached"], json!(["sched_slice"]), "{answer}");
    let (list, _) = done_json(tool(rt, "bpf_list", json!({})));
    assert_eq!(list["programs"].as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list["programs"][0]["id"], answer["id"], "{list}");
}

#[test]
fn bpf_detach_with_an_id_detaches_only_that_program() {
    let rt = runtime();
    let a = load(rt, Kind::Decision, "a", &slice_field_prog(1)).unwrap();
    let b = load(rt, Kind::Decision, "b", &slice_field_prog(2)).unwrap();
    rt.attach(a.id, &SCHED_SLICE).unwrap();
    let refused = failed_text(tool(rt, "bpf_detach", json!({"hook": "sched_slice", "id": b.id})));
    assert_eq!(refused, format!("program {} is not attached to sched_slice; see bpf_list", b.id));
    assert_eq!(rt.attached(0, &SCHED_SLICE), Some(a.id));
    let (answer, _) = done_json(tool(rt, "bpf_detach", json!({"hook": "sched_slice", "id": a.id})));
    assert_eq!(answer, json!({"detached": a.id, "hook": "sched_slice"}));
    assert_eq!(rt.attached(0, &SCHED_SLICE), None);
    assert!(a.attachments().is_empty());
    let missing = failed_text(tool(rt, "bpf_detach", json!({"hook": "sched_cpu", "id": 99})));
    assert!(missing.contains("no program with id 99"), "{missing}");
    rt.unload(a.id).unwrap();
}

#[test]
fn bpf_list_and_bpf_dump_show_the_xlated_and_the_jited_code() {
    let rt = jit_runtime();
    assert!(tools::descriptors(rt).iter().any(|d| d.name == "bpf_dump"));
    let src = "mov %r0, 1\nlddw %r1, 0x123456789\nadd %r0, %r1\nexit";
    let agent = load(rt, Kind::Decision, "dumped", src).unwrap();
    let code = agent.jited().expect("translated").clone();
    let (list, _) = done_json(tool(rt, "bpf_list", json!({})));
    let listed = &list["programs"][0];
    assert_eq!(listed["engine"], "jit", "{list}");
    assert_eq!(listed["xlated_insns"], 5, "{list}");
    assert_eq!(listed["jited_bytes"], code.words.len() * 4, "{list}");
    assert_eq!(listed["jited_insns"], code.words.len(), "{list}");

    let (meta, xlated) = done_json(tool(rt, "bpf_dump", json!({"id": agent.id, "part": "xlated"})));
    assert_eq!(xlated, bytecode(src));
    assert_eq!((meta["total_bytes"].as_u64(), meta["offset"].as_u64()), (Some(40), Some(0)), "{meta}");
    let (_, jited) = done_json(tool(rt, "bpf_dump", json!({"id": agent.id, "part": "jited"})));
    assert_eq!(jited, code.bytes());
    let (meta, slots) = done_json(tool(rt, "bpf_dump", json!({"id": agent.id, "part": "jited_slots"})));
    let offsets: Vec<u32> = slots.chunks(4).map(|c| u32::from_le_bytes(c.try_into().unwrap())).collect();
    assert_eq!(offsets, code.slot_offsets);
    assert_eq!(meta["stubs_offset"], code.stubs_offset, "{meta}");
    // Past the end: an empty chunk, not an error.
    let (meta, rest) = done_json(tool(rt, "bpf_dump", json!({"id": agent.id, "part": "xlated", "offset": 1000})));
    assert!(rest.is_empty() && meta["chunk_bytes"] == 0, "{meta}");

    // Under the interpreter there is no JIT code, and the answer says so.
    let interpreted = runtime();
    let agent = load(interpreted, Kind::Decision, "slow_path", src).unwrap();
    let why = failed_text(tool(interpreted, "bpf_dump", json!({"id": agent.id, "part": "jited"})));
    assert!(why.contains("runs in the interpreter"), "{why}");
    let (list, _) = done_json(tool(interpreted, "bpf_list", json!({})));
    assert_eq!(list["programs"][0]["jited_bytes"], serde_json::Value::Null, "{list}");
    let bad = tool(interpreted, "bpf_dump", json!({"id": agent.id, "part": "source"}));
    assert!(
        matches!(bad, ToolOutcome::BadArguments(ref e) if e.contains("expected one of `xlated`, `jited`, `jited_slots`")),
        "{bad:?}"
    );
}

#[test]
fn map_write_refusals_say_what_is_wrong_in_words() {
    let rt = runtime();
    let maps = [
        MapDef { kind: kingly_bpf::MapKind::Hash, key_size_bytes: 4, value_size_bytes: 8, max_entries: 1 },
        MapDef { kind: kingly_bpf::MapKind::Array, key_size_bytes: 4, value_size_bytes: 8, max_entries: 2 },
    ];
    let code = bytecode("mov %r0, 0\nexit");
    let signature = sign(Kind::Tool, "mapped", &maps, &code);
    let agent = rt
        .load(&LoadRequest {
            kind: Kind::Tool,
            name: "mapped",
            maps: &maps,
            bytecode: &code,
            signature: Some(&signature),
        })
        .unwrap();
    let write = |map: usize, key: &str, value: &str| {
        tool(rt, "map_write", json!({"id": agent.id, "map": map, "key": key, "value": value}))
    };
    let said = |outcome: ToolOutcome| {
        let text = failed_text(outcome);
        assert!(!text.contains("Size") && !text.contains("Full"), "a Rust enum name leaked: {text}");
        text
    };
    assert!(said(write(0, "01", "0000000000000000")).contains("the key is 1 bytes but this map takes 4-byte keys"));
    assert!(said(write(0, "01000000", "00")).contains("the value is 1 bytes but this map holds 8-byte values"));
    assert!(matches!(write(0, "01000000", "0000000000000000"), ToolOutcome::Done(_)));
    let full = said(write(0, "02000000", "0000000000000000"));
    assert!(full.contains("the map is full (1 entries)") && full.contains("larger max_entries"), "{full}");
    let range = said(write(1, "05000000", "0000000000000000"));
    assert!(range.contains("index out of range") && range.contains("keys 0 to 1"), "{range}");
}

#[test]
fn a_narrow_key_unpacks_to_its_fields() {
    for fields in [[0, 0, 0, 0], [2, 7, 0, 1], [0xFFFF, 1, 0xFFFF, 0xFFFF], [1, 0xFFFF, 2, 3]] {
        assert!(super::narrow_fields(fields));
        assert_eq!(super::narrow_fields_of(super::narrow_decision_key(fields).words[0]), fields);
    }
}

/// trace_set switches a hook, the hook's caller records through `trace_decision`, and
/// trace_read hands the records back as 80-byte records with what made each decision.
#[test]
fn traces_are_switched_per_hook_and_read_back_with_provenance() {
    let rt = runtime();
    let mut p = FixedPlatform::default();
    let a = load(rt, Kind::Decision, "traced", &slice_field_prog(1500)).unwrap();
    rt.attach(a.id, &SCHED_SLICE).unwrap();
    let fields = [2, 5, 0, 1];
    let d = rt.decide(0, &SCHED_SLICE, fields, 1, &mut p);
    rt.trace_decision(0, &SCHED_SLICE, fields, &d, false, [1, 2, 3, 4], 10);
    assert_eq!(rt.trace.counters().written, 0, "off by default: nothing is recorded");

    let (on, _) = done_json(tool(rt, "trace_set", serde_json::json!({"hook": "sched_slice", "on": true})));
    assert_eq!((on["on"].clone(), on["explore"].clone()), (serde_json::json!(true), serde_json::json!(false)));
    rt.trace_decision(0, &SCHED_SLICE, fields, &d, false, [1, 2, 3, 4], 10);
    let hit = rt.decide(0, &SCHED_SLICE, fields, 2, &mut p);
    rt.trace_decision(1, &SCHED_SLICE, fields, &hit, true, [5, 6, 7, 8], 11);
    rt.trace_decision(1, &SCHED_CPU, fields, &hit, false, [0; 4], 12);

    let (summary, bytes) = done_json(tool(rt, "trace_read", serde_json::json!({})));
    assert_eq!(summary["records"], 2, "{summary}");
    assert_eq!(summary["traced"], serde_json::json!(["sched_slice"]));
    let records: Vec<crate::trace::Record> =
        bytes.chunks(crate::trace::RECORD_BYTES).map(|c| crate::trace::Record::read_le(c).unwrap()).collect();
    assert_eq!(records[0].program, a.id);
    assert_eq!(records[0].source, crate::trace::Outcome::Miss as u8);
    assert_eq!((records[0].decision, records[0].outcome), (1500, [1, 2, 3, 4]));
    assert_eq!(records[1].program, a.id, "a cached decision names the program that made it");
    assert_eq!(records[1].generation, d.generation());
    assert_eq!(records[1].source, crate::trace::Outcome::Explore as u8);
    assert_eq!(records[1].cpu, 1);

    // cache_lookup says which policy made the cached decision.
    let (lookup, _) =
        done_json(tool(rt, "cache_lookup", serde_json::json!({"hook": "sched_slice", "fields": [2, 5, 0, 1]})));
    assert_eq!(lookup["made_by"]["program"], a.id);
    assert_eq!(lookup["made_by"]["generation"], d.generation());

    let bad = |args: serde_json::Value| match tool(rt, "trace_set", args) {
        ToolOutcome::BadArguments(why) => why,
        other => panic!("{other:?}"),
    };
    assert!(bad(serde_json::json!({"hook": "mcp_admit", "on": true, "explore": true})).contains("sched_slice only"));
    assert!(bad(serde_json::json!({"hook": "sched_slice"})).contains("missing field `on`"));
    assert!(bad(serde_json::json!({"hook": "sched_slice", "on": 1})).contains("expected a boolean"));
    assert!(matches!(tool(rt, "trace_read", serde_json::json!({"max": 0})), ToolOutcome::BadArguments(_)));
    done_json(tool(rt, "trace_set", serde_json::json!({"hook": "sched_slice", "on": false})));
    assert!(!rt.trace.on(SCHED_SLICE.id));
}

#[test]
fn every_tool_refuses_bytes_that_are_not_its_arguments_without_panicking() {
    // The kernel decodes typed arguments from untrusted bytes: random requests and
    // attachments, truncations of valid ones, and valid ones with a byte flipped.
    let rt = runtime();
    load(rt, Kind::Tool, "echo_len", "mov %r0, 0\nexit").unwrap();
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let valid = kingly_proto::contract::encode(&kingly_proto::contract::BpfAttachArgs {
        id: 1,
        hook: kingly_proto::contract::HookName::Timer,
        period_ms: Some(10),
        cpu: Some(0),
    });
    for round in 0..3000 {
        let request: Vec<u8> = match round % 3 {
            0 => (0..next() % 24).map(|_| next() as u8).collect(),
            1 => valid[..(next() as usize % valid.len())].to_vec(),
            _ => {
                let mut flipped = valid.clone();
                let at = next() as usize % flipped.len();
                flipped[at] ^= 1 << (next() % 8);
                flipped
            }
        };
        let attachment: Vec<u8> = (0..next() % 4).map(|_| next() as u8).collect();
        let args = kingly_proto::ToolArgs { request, attachment };
        for spec in kingly_proto::contract::AGENT_TOOLS {
            if spec.name == "workload_run" {
                continue;
            }
            let _ = raw_tool(rt, spec.name, &args).expect("a runtime tool");
        }
        let _ = raw_tool(rt, "echo_len", &args);
    }
    // Still serving: a well-formed call after the garbage works.
    assert!(matches!(tool(rt, "bpf_list", json!({})), ToolOutcome::Done(_)));
}
