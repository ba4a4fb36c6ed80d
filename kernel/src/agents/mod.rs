//! The agent runtime: verified eBPF programs ("agents") loaded while the kernel runs, attached
//! to hooks, their decisions served through the decision cache.
//!
//! ```text
//! bpf_load   bytes ─► signature (signing.rs) ─► verifier (kingly-bpf, never trust the host)
//!            ─► Agent { program, maps, stats }, listed by id
//! bpf_attach hook slot ◄─ RCU publish (RcuPtr) ─► cache.invalidate(hook): no stale decision
//!            survives; the replaced agent is freed only after a grace period
//! decide     per-CPU L1 ─► global table ─► miss: run the attached agent inside an RCU
//!            read-side section (or the hook's default policy) ─► insert with the hook's TTL
//! ```
//!
//! Portable: generic over [`CpuOps`], so the same code runs on host threads in tests and on the
//! cores in the kernel. Program runs take the CPU's interpreter and the agent's maps with
//! interrupts masked, so a timer-tick decision cannot deadlock against the code it interrupted.
// The runtime is safe code: RCU-published agents go through `rcu::RcuPtr`, whose unsafe
// invariant is argued once, in `rcu/owned.rs`; compiled code runs behind the `Jit` trait.
#![forbid(unsafe_code)]

pub mod signing;
pub mod tools;

use crate::cpu::{CpuOps, MAX_CPUS};
use crate::dcache::{DecisionCache, HookId, Key, L1Outcome, Lookup};
use crate::rcu::sync::IrqsMasked;
use crate::rcu::RcuPtr;
use alloc::boxed::Box;
use alloc::string::{String, ToString};
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use kingly_bpf::hooks::{self, Hook, Kind, HOOKS};
use kingly_bpf::{
    Env, Interpreter, Map, MapDef, Platform, Program, RunError, VerifiedProgram, VerifyError, VerifyStats,
};
use signing::{SignatureError, Trust};

/// Most programs loaded at once.
pub const MAX_AGENTS: usize = 64;
/// Largest program accepted, in bytes of bytecode (8 bytes per instruction slot).
pub const MAX_BYTECODE_BYTES: usize = 64 * 1024;
/// Agent names (tool programs are listed under theirs) follow the contract's rules.
pub use kingly_proto::contract::{valid_name, MAX_NAME_BYTES};
/// Shortest and longest timer period.
pub const TIMER_PERIOD_MS: core::ops::RangeInclusive<u32> = 1..=60_000;

const ALIVE: u64 = 0x4b49_4e47_4c59_a11e;
const POISON: u64 = 0xdead_beef_dead_beef;

/// A compiled form of a program (the JIT's), run instead of the interpreter.
pub trait Compiled: Send + Sync {
    fn run(&self, ctx: &mut [u8], packet: &mut [u8], env: &mut Env<'_>) -> Result<u64, RunError>;
    /// The native code as the JIT produced it (what `bpf_dump` returns), with the word offset
    /// of each eBPF slot's translation.
    fn code(&self) -> &kingly_bpf::jit::aarch64::Code;
}

/// A compiler the platform offers; `None` from `compile` means "interpret this one".
pub trait Jit: Sync {
    fn compile(&self, program: &VerifiedProgram) -> Option<Box<dyn Compiled>>;
}

/// Per-program accounting, updated after every run.
#[derive(Default)]
pub struct AgentStats {
    pub runs: AtomicU64,
    pub errors: AtomicU64,
    pub total_insns: AtomicU64,
    pub max_insns: AtomicU64,
    pub total_ns: AtomicU64,
}

/// Where a `timer` agent runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimerSlot {
    pub period_ms: u32,
    pub cpu: u32,
}

/// A loaded program.
pub struct Agent {
    pub id: u32,
    pub name: String,
    pub kind: Kind,
    program: VerifiedProgram,
    compiled: Option<Box<dyn Compiled>>,
    maps: spin::Mutex<Vec<Map>>,
    pub verify: VerifyStats,
    pub stats: AgentStats,
    /// [`ALIVE`] while the agent exists; [`POISON`] once dropped (the torture test's detector
    /// for a program run after it was freed).
    alive: AtomicU64,
    /// Bit `h` set while attached to hook `h`; bit 31 while a timer.
    attached: AtomicU32,
    timer_runs: AtomicU64,
    timer_next_ms: AtomicU64,
    timer: spin::Mutex<Option<TimerSlot>>,
}

const TIMER_BIT: u32 = 1 << 31;

impl fmt::Debug for Agent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Agent({} {} {})", self.id, self.kind.name(), self.name)
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.alive.store(POISON, Ordering::SeqCst);
    }
}

impl Agent {
    /// Instructions (slots) in the program.
    pub fn insns(&self) -> usize {
        self.program.raw().len()
    }

    /// Which engine runs it.
    pub fn engine(&self) -> &'static str {
        if self.compiled.is_some() {
            "jit"
        } else {
            "interpreter"
        }
    }

    /// The verified program's instruction slots as bytecode (what `bpf_dump` calls xlated).
    pub fn xlated_bytes(&self) -> Vec<u8> {
        kingly_bpf::isa::slots_to_bytes(self.program.raw())
    }

    /// The JIT's code, when the JIT runs this agent.
    pub fn jited(&self) -> Option<&kingly_bpf::jit::aarch64::Code> {
        self.compiled.as_deref().map(Compiled::code)
    }

    /// Bytes of native code the JIT produced (`None` under the interpreter).
    pub fn jited_bytes(&self) -> Option<usize> {
        self.jited().map(|code| code.words.len() * 4)
    }

    /// Map definitions, in the program's order.
    pub fn map_defs(&self) -> &[MapDef] {
        self.program.maps()
    }

    /// False once the agent was dropped (read by the torture test through a still-held pointer,
    /// which only a broken grace period would allow).
    pub fn is_alive(&self) -> bool {
        self.alive.load(Ordering::Acquire) == ALIVE
    }

    /// Hooks (and "timer") it is attached to.
    pub fn attachments(&self) -> Vec<&'static str> {
        let bits = self.attached.load(Ordering::Relaxed);
        let mut names: Vec<&'static str> = HOOKS.iter().filter(|h| bits & (1 << h.id) != 0).map(|h| h.name).collect();
        if bits & TIMER_BIT != 0 {
            names.push("timer");
        }
        names
    }

    /// The timer slot, for a `timer` agent that is attached.
    pub fn timer(&self) -> Option<TimerSlot> {
        *self.timer.lock()
    }

    /// Reads a map: `f` sees the map with interrupts masked.
    pub fn with_map<C: CpuOps, R>(&self, index: usize, f: impl FnOnce(&mut Map) -> R) -> Option<R> {
        let _irqs = IrqsMasked::<C>::new();
        let mut maps = self.maps.lock();
        maps.get_mut(index).map(f)
    }
}

/// What `bpf_load` receives.
pub struct LoadRequest<'a> {
    pub kind: Kind,
    pub name: &'a str,
    pub maps: &'a [MapDef],
    pub bytecode: &'a [u8],
    pub signature: Option<&'a [u8]>,
}

/// What [`Runtime::load_replacing`] replaced: the old program's id and the hooks (and
/// "timer") the new one took over.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Replaced {
    pub id: u32,
    pub hooks: Vec<&'static str>,
}

/// Why a load, attach, detach or unload was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AgentError {
    Signature(SignatureError),
    Verify(VerifyError),
    TooLarge { bytes: usize },
    Empty,
    BadName,
    NameTaken,
    TooMany,
    BadMap,
    NoSuchAgent(u32),
    NoSuchHook,
    NotAttached { id: u32, hook: &'static str },
    ReplaceKind { name: String, old: Kind, new: Kind },
    WrongKind { kind: Kind, hook: &'static str },
    OverBudget { worst_case_insns: u64, budget_insns: u64, hook: &'static str },
    StillAttached { hooks: String },
    BadTimer,
}

impl fmt::Display for AgentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AgentError::Signature(e) => write!(f, "{e}"),
            AgentError::Verify(e) => write!(f, "rejected by the kernel's verifier: {e}"),
            AgentError::TooLarge { bytes } => {
                write!(f, "program of {bytes} bytes is larger than the {MAX_BYTECODE_BYTES}-byte limit")
            }
            AgentError::Empty => f.write_str("empty program: bytecode must be a non-empty multiple of 8 bytes"),
            AgentError::BadName => write!(
                f,
                "bad name: use 1-{MAX_NAME_BYTES} characters from a-z, 0-9 and '_', starting with a letter"
            ),
            AgentError::NameTaken => f.write_str(
                "name taken: a loaded program or a built-in tool already has it (bpf_load with replace: true replaces a loaded program)",
            ),
            AgentError::TooMany => write!(f, "{MAX_AGENTS} programs are loaded already; bpf_unload one first"),
            AgentError::BadMap => f.write_str("a map definition is invalid (zero sizes or too many entries)"),
            AgentError::NoSuchAgent(id) => write!(f, "no program with id {id}; see bpf_list"),
            AgentError::NoSuchHook => {
                f.write_str("no such hook; hooks are sched_slice, sched_cpu, mcp_admit and timer")
            }
            AgentError::NotAttached { id, hook } => write!(f, "program {id} is not attached to {hook}; see bpf_list"),
            AgentError::ReplaceKind { name, old, new } => write!(
                f,
                "'{name}' is a {} program and a {} program cannot replace it; bpf_unload it first or pick another name",
                old.name(),
                new.name()
            ),
            AgentError::WrongKind { kind, hook } => {
                write!(f, "a {} program cannot attach to {hook}", kind.name())
            }
            AgentError::OverBudget { worst_case_insns, budget_insns, hook } => write!(
                f,
                "too slow for {hook}: the verifier's worst case is {worst_case_insns} instructions, the hook allows {budget_insns}"
            ),
            AgentError::StillAttached { hooks } => write!(f, "still attached to {hooks}; bpf_detach it first"),
            AgentError::BadTimer => write!(
                f,
                "timer needs period_ms in {}..={} and a cpu that exists",
                TIMER_PERIOD_MS.start(),
                TIMER_PERIOD_MS.end()
            ),
        }
    }
}

// Per-hook tables (`hooks`, `policies`) are indexed by `Hook::id`: the ids are the positions
// in `HOOKS`.
const _: () = {
    let mut i = 0;
    while i < HOOKS.len() {
        assert!(HOOKS[i].id as usize == i, "hook ids must be their index in HOOKS");
        i += 1;
    }
};

/// Runtime-wide counters.
#[derive(Default)]
pub struct RuntimeStats {
    /// Decisions answered by a hook's default policy (nothing attached).
    pub defaults: AtomicU64,
    /// Runs that failed or returned an out-of-range decision (the default policy answered).
    pub fallbacks: AtomicU64,
    pub swaps: AtomicU64,
    /// Runs refused because the agent was already freed (only a broken grace period allows it).
    pub dead_runs: AtomicU64,
    /// Timer ticks skipped because interrupted code held the agent list.
    pub timer_skips: AtomicU64,
}

/// The agent runtime.
pub struct Runtime<'r, C: CpuOps> {
    cache: &'r DecisionCache<'r, C>,
    trust: Trust,
    jit: Option<&'static dyn Jit>,
    agents: spin::Mutex<Vec<Arc<Agent>>>,
    next_id: AtomicU32,
    hooks: [RcuPtr<'r, Arc<Agent>, C>; HOOKS.len()],
    interpreters: [spin::Mutex<Option<Interpreter>>; MAX_CPUS],
    /// Serializes attach/detach so that "replaced" is reported exactly.
    writer: spin::Mutex<()>,
    /// Per hook: the policy generation (high 32 bits) and the program id (low 32; 0 for the
    /// default policy) of what runs there now. Changed under `writer`, before the hook's
    /// slot, so a decision labelled with a generation was made by that generation's program
    /// or (for the instant of the swap) its predecessor, whose cached decisions the swap's
    /// invalidation then removes.
    policies: [AtomicU64; HOOKS.len()],
    /// The last generation handed out.
    generation: AtomicU32,
    /// What the hooks' callers record about each decision (off until `trace_set`).
    pub trace: crate::trace::Trace,
    pub stats: RuntimeStats,
}

/// The answer of [`Runtime::decide`], where it came from, and which policy made it.
///
/// The value and the policy generation share one word, as the cache stores them (every hook's
/// `max_decision` fits in 32 bits): a hit hands the cached word over unchanged, and the
/// struct stays two registers wide.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    word: u64,
    pub source: Source,
}

impl Decision {
    /// A decision of `value` (at most `u32::MAX`; larger is clamped) made under `generation`.
    pub fn new(value: u64, source: Source, generation: u32) -> Decision {
        Decision { word: value.min(u64::from(u32::MAX)) | u64::from(generation) << 32, source }
    }

    /// The decision.
    #[inline(always)]
    pub fn value(&self) -> u64 {
        self.word & 0xffff_ffff
    }

    /// The policy generation that made it (see [`Runtime::policy`]); a cached decision
    /// carries the generation of the run that made it.
    pub fn generation(&self) -> u32 {
        (self.word >> 32) as u32
    }

    /// The same decision with another value (a caller overriding it, e.g. exploring).
    pub fn with_value(&self, value: u64) -> Decision {
        Decision::new(value, self.source, self.generation())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// The CPU's L1 answered.
    CacheL1,
    /// The global table answered.
    CacheGlobal,
    Agent(u32),
    Default,
    Fallback,
}

impl Source {
    pub fn name(&self) -> &'static str {
        match self {
            Source::CacheL1 => "l1",
            Source::CacheGlobal => "global",
            Source::Agent(_) => "miss",
            Source::Default => "default",
            Source::Fallback => "fallback",
        }
    }
}

/// Which policy made a decision: the program id (0 for the hook's default policy) and the
/// runtime's policy generation when it ran.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Provenance {
    pub program: u32,
    pub generation: u32,
}

#[inline(always)]
fn from_cached(word: u64, source: Source) -> Decision {
    Decision { word, source }
}

impl<'r, C: CpuOps> Runtime<'r, C> {
    /// An empty runtime deciding through `cache` (whose RCU domain protects the hook slots).
    pub fn new(cache: &'r DecisionCache<'r, C>, trust: Trust, jit: Option<&'static dyn Jit>) -> Self {
        let rcu = cache.rcu();
        Self {
            cache,
            trust,
            jit,
            agents: spin::Mutex::new(Vec::new()),
            next_id: AtomicU32::new(1),
            hooks: core::array::from_fn(|_| RcuPtr::new(rcu, None)),
            interpreters: core::array::from_fn(|_| spin::Mutex::new(None)),
            writer: spin::Mutex::new(()),
            policies: core::array::from_fn(|_| AtomicU64::new(0)),
            generation: AtomicU32::new(0),
            trace: crate::trace::Trace::new(crate::trace::RING_RECORDS),
            stats: RuntimeStats::default(),
        }
    }

    pub fn trust(&self) -> &Trust {
        &self.trust
    }

    pub fn cache(&self) -> &'r DecisionCache<'r, C> {
        self.cache
    }

    /// Checks the signature, verifies and registers a program.
    pub fn load(&self, request: &LoadRequest<'_>) -> Result<Arc<Agent>, AgentError> {
        let agent = self.prepare(request)?;
        let mut agents = self.agents.lock();
        if agents.len() >= MAX_AGENTS {
            return Err(AgentError::TooMany);
        }
        if agents.iter().any(|a| a.name == request.name) || kingly_proto::contract::is_kernel_tool(request.name) {
            return Err(AgentError::NameTaken);
        }
        let agent = self.number(agent);
        agents.push(agent.clone());
        Ok(agent)
    }

    fn number(&self, mut agent: Agent) -> Arc<Agent> {
        agent.id = self.next_id.fetch_add(1, Ordering::Relaxed);
        Arc::new(agent)
    }

    /// As [`Runtime::load`], but a loaded program of the same name is replaced in place: the
    /// new one is verified and compiled first, takes the old one's place in the list (so a
    /// `tool` of that name answers with the new code from then on), is published at each hook
    /// the old one was attached to (one RCU pointer store per hook, so every decision is made
    /// by the old program or the new one, never by the default policy), takes over its timer,
    /// and the old one is unloaded (freed after a grace period). Nothing changes when the new
    /// program is refused. Returns the new agent and what it replaced.
    pub fn load_replacing(&self, request: &LoadRequest<'_>) -> Result<(Arc<Agent>, Option<Replaced>), AgentError> {
        let agent = self.prepare(request)?;
        // The writer lock first, as attach and detach take it: nothing re-points a hook between
        // reading the old agent's attachments and moving them.
        let _writer = self.writer.lock();
        let mut agents = self.agents.lock();
        let Some(index) = agents.iter().position(|a| a.name == request.name) else {
            if agents.len() >= MAX_AGENTS {
                return Err(AgentError::TooMany);
            }
            if kingly_proto::contract::is_kernel_tool(request.name) {
                return Err(AgentError::NameTaken);
            }
            let agent = self.number(agent);
            agents.push(agent.clone());
            return Ok((agent, None));
        };
        let old = agents[index].clone();
        if old.kind != agent.kind {
            return Err(AgentError::ReplaceKind { name: old.name.clone(), old: old.kind, new: agent.kind });
        }
        let bits = old.attached.load(Ordering::Relaxed);
        let hooks: Vec<&'static Hook> = HOOKS.iter().filter(|h| bits & (1 << h.id) != 0).collect();
        if let Some(hook) = hooks.iter().find(|h| agent.verify.worst_case_path_insns > h.budget_insns) {
            return Err(AgentError::OverBudget {
                worst_case_insns: agent.verify.worst_case_path_insns,
                budget_insns: hook.budget_insns,
                hook: hook.name,
            });
        }
        let agent = self.number(agent);
        agents[index] = agent.clone();
        drop(agents);
        for hook in &hooks {
            agent.attached.fetch_or(1 << hook.id, Ordering::Relaxed);
            self.new_generation(hook, agent.id);
            self.slot(hook).replace_and(Some(Box::new(agent.clone())), |previous| {
                previous.attached.fetch_and(!(1 << hook.id), Ordering::Relaxed);
            });
            self.invalidate_hook(hook);
            self.stats.swaps.fetch_add(1, Ordering::Relaxed);
        }
        let timer = old.timer.lock().take();
        if let Some(slot) = timer {
            agent.timer_next_ms.store(old.timer_next_ms.load(Ordering::Relaxed), Ordering::Relaxed);
            *agent.timer.lock() = Some(slot);
            agent.attached.fetch_or(TIMER_BIT, Ordering::Relaxed);
            old.attached.fetch_and(!TIMER_BIT, Ordering::Relaxed);
        }
        let mut moved: Vec<&'static str> = hooks.iter().map(|h| h.name).collect();
        if timer.is_some() {
            moved.push("timer");
        }
        Ok((agent, Some(Replaced { id: old.id, hooks: moved })))
    }

    /// Everything [`Runtime::load`] checks before the list: size, name, signature, verifier,
    /// maps; then the JIT.
    fn prepare(&self, request: &LoadRequest<'_>) -> Result<Agent, AgentError> {
        if request.bytecode.len() > MAX_BYTECODE_BYTES {
            return Err(AgentError::TooLarge { bytes: request.bytecode.len() });
        }
        if request.bytecode.is_empty() {
            return Err(AgentError::Empty);
        }
        if !valid_name(request.name) {
            return Err(AgentError::BadName);
        }
        let message = hooks::signed_message(request.kind, request.name, request.maps, request.bytecode);
        self.trust.check(&message, request.signature).map_err(AgentError::Signature)?;
        let program = Program::load_with_maps(request.bytecode, &request.kind.program_type(), request.maps)
            .map_err(AgentError::Verify)?;
        let maps = request
            .maps
            .iter()
            .map(|def| Map::new(*def, MAX_CPUS as u32))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| AgentError::BadMap)?;
        let verify = *program.stats();
        let compiled = self.jit.and_then(|jit| jit.compile(&program));
        Ok(Agent {
            // Numbered when it enters the list: a refused program takes no id.
            id: 0,
            name: request.name.to_string(),
            kind: request.kind,
            program,
            compiled,
            maps: spin::Mutex::new(maps),
            verify,
            stats: AgentStats::default(),
            alive: AtomicU64::new(ALIVE),
            attached: AtomicU32::new(0),
            timer_runs: AtomicU64::new(0),
            timer_next_ms: AtomicU64::new(0),
            timer: spin::Mutex::new(None),
        })
    }

    /// The agent with this id.
    pub fn get(&self, id: u32) -> Option<Arc<Agent>> {
        self.agents.lock().iter().find(|a| a.id == id).cloned()
    }

    /// The `tool` agent named `name`.
    pub fn tool(&self, name: &str) -> Option<Arc<Agent>> {
        self.agents.lock().iter().find(|a| a.kind == Kind::Tool && a.name == name).cloned()
    }

    /// Every loaded agent, by id.
    pub fn list(&self) -> Vec<Arc<Agent>> {
        self.agents.lock().clone()
    }

    /// Attaches agent `id` to a decision hook, replacing what was there; returns the replaced
    /// agent's id. Decisions of the old agent are invalidated before this returns.
    pub fn attach(&self, id: u32, hook: &Hook) -> Result<Option<u32>, AgentError> {
        let agent = self.get(id).ok_or(AgentError::NoSuchAgent(id))?;
        if agent.kind != Kind::Decision {
            return Err(AgentError::WrongKind { kind: agent.kind, hook: hook.name });
        }
        if agent.verify.worst_case_path_insns > hook.budget_insns {
            return Err(AgentError::OverBudget {
                worst_case_insns: agent.verify.worst_case_path_insns,
                budget_insns: hook.budget_insns,
                hook: hook.name,
            });
        }
        let _writer = self.writer.lock();
        let mut replaced = None;
        agent.attached.fetch_or(1 << hook.id, Ordering::Relaxed);
        self.new_generation(hook, agent.id);
        self.slot(hook).replace_and(Some(Box::new(agent)), |old| {
            old.attached.fetch_and(!(1 << hook.id), Ordering::Relaxed);
            replaced = Some(old.id);
        });
        self.invalidate_hook(hook);
        self.stats.swaps.fetch_add(1, Ordering::Relaxed);
        Ok(replaced)
    }

    /// Detaches whatever runs at `hook`; returns its id. The default policy answers afterwards.
    pub fn detach(&self, hook: &Hook) -> Option<u32> {
        let _writer = self.writer.lock();
        let mut detached = None;
        self.new_generation(hook, 0);
        self.slot(hook).replace_and(None, |old| {
            old.attached.fetch_and(!(1 << hook.id), Ordering::Relaxed);
            detached = Some(old.id);
        });
        self.invalidate_hook(hook);
        detached
    }

    /// Detaches agent `id` from `hook`, and only it: refused when another program (or none)
    /// runs there, so a client acting on an earlier `bpf_list` never detaches a newer program.
    pub fn detach_agent(&self, id: u32, hook: &Hook) -> Result<(), AgentError> {
        let agent = self.get(id).ok_or(AgentError::NoSuchAgent(id))?;
        let _writer = self.writer.lock();
        // Attachment bits change only under the writer lock: this check holds until the store.
        if agent.attached.load(Ordering::Relaxed) & (1 << hook.id) == 0 {
            return Err(AgentError::NotAttached { id, hook: hook.name });
        }
        self.new_generation(hook, 0);
        self.slot(hook).replace_and(None, |old| {
            old.attached.fetch_and(!(1 << hook.id), Ordering::Relaxed);
        });
        self.invalidate_hook(hook);
        Ok(())
    }

    /// Makes a `timer` agent run every `slot.period_ms` on core `slot.cpu`.
    pub fn attach_timer(&self, id: u32, slot: TimerSlot, now_ms: u64) -> Result<(), AgentError> {
        let agent = self.get(id).ok_or(AgentError::NoSuchAgent(id))?;
        if agent.kind != Kind::Timer {
            return Err(AgentError::WrongKind { kind: agent.kind, hook: "timer" });
        }
        if !TIMER_PERIOD_MS.contains(&slot.period_ms) || slot.cpu as usize >= MAX_CPUS {
            return Err(AgentError::BadTimer);
        }
        agent.timer_next_ms.store(now_ms + u64::from(slot.period_ms), Ordering::Relaxed);
        *agent.timer.lock() = Some(slot);
        agent.attached.fetch_or(TIMER_BIT, Ordering::Relaxed);
        Ok(())
    }

    /// Stops a timer agent.
    pub fn detach_timer(&self, id: u32) -> Result<(), AgentError> {
        let agent = self.get(id).ok_or(AgentError::NoSuchAgent(id))?;
        *agent.timer.lock() = None;
        agent.attached.fetch_and(!TIMER_BIT, Ordering::Relaxed);
        Ok(())
    }

    /// Removes a detached agent; it is freed once no reader can hold it.
    pub fn unload(&self, id: u32) -> Result<(), AgentError> {
        let mut agents = self.agents.lock();
        let index = agents.iter().position(|a| a.id == id).ok_or(AgentError::NoSuchAgent(id))?;
        let hooks = agents[index].attachments();
        if !hooks.is_empty() {
            return Err(AgentError::StillAttached { hooks: hooks.join(", ") });
        }
        agents.remove(index);
        Ok(())
    }

    /// The id of the agent attached at `hook`, if any.
    pub fn attached(&self, cpu: usize, hook: &Hook) -> Option<u32> {
        let guard = self.cache.rcu().read(cpu);
        self.slot(hook).load(&guard).map(|a| a.id)
    }

    /// The hot path: the decision for `fields` at `hook` on CPU `cpu`. An L1 hit stays in this
    /// small function, inlined into the caller (as a call, its prologue, epilogue and argument
    /// moves were a third of the hit); the rest (global table, running the agent) is out of line.
    #[inline(always)]
    pub fn decide(
        &self,
        cpu: usize,
        hook: &Hook,
        fields: [u64; hooks::DECISION_FIELDS],
        now_ticks: u64,
        platform: &mut dyn Platform,
    ) -> Decision {
        if hook.ttl_ticks == 0 {
            return self.evaluate(cpu, hook, fields, platform);
        }
        // Only the common 8-byte key is looked up here: its length is then a constant, so the
        // L1's long-key path and the key's memory copy fold away. A 32-byte key goes straight
        // to the out-of-line path, which does the whole lookup.
        if !narrow_fields(fields) {
            return self.decide_wide(cpu, hook, fields, now_ticks, platform);
        }
        let key = narrow_decision_key(fields);
        let id = hook_id(hook);
        let l1 = self.cache.lookup_l1(cpu, id, &key, now_ticks);
        if let L1Outcome::Hit(word) = l1.outcome {
            return from_cached(word, Source::CacheL1);
        }
        let (word, version) = (key.words[0], l1.version());
        match self.cache.lookup_global_word(cpu, id, word, key.hash_value(), now_ticks, l1.miss_word(), version) {
            Some(word) => from_cached(word, Source::CacheGlobal),
            None => self.decide_miss_word(cpu, hook, word, version, now_ticks, platform),
        }
    }

    /// [`Runtime::decide`] for fields that need the 32-byte key: the whole lookup, out of line.
    #[inline(never)]
    fn decide_wide(
        &self,
        cpu: usize,
        hook: &Hook,
        fields: [u64; hooks::DECISION_FIELDS],
        now_ticks: u64,
        platform: &mut dyn Platform,
    ) -> Decision {
        match self.cache.lookup(cpu, hook_id(hook), &wide_decision_key(fields), now_ticks) {
            Lookup::Hit(word) => from_cached(word, Source::CacheGlobal),
            Lookup::Miss(ticket) => self.decide_miss(cpu, hook, fields, &ticket, platform),
        }
    }

    /// [`Runtime::decide`] after a miss of an 8-byte key in both tables: the agent runs. The
    /// packed key, the version and the clock come in registers; the fields unpack from the key.
    #[inline(never)]
    #[cold]
    fn decide_miss_word(
        &self,
        cpu: usize,
        hook: &Hook,
        key_word: u64,
        version: u64,
        now_ticks: u64,
        platform: &mut dyn Platform,
    ) -> Decision {
        let ticket = self.cache.ticket_after_miss(hook_id(hook), &Key::from_u64(key_word), version, now_ticks);
        self.decide_miss(cpu, hook, narrow_fields_of(key_word), &ticket, platform)
    }

    #[inline(never)]
    #[cold]
    fn decide_miss(
        &self,
        cpu: usize,
        hook: &Hook,
        fields: [u64; hooks::DECISION_FIELDS],
        ticket: &crate::dcache::Ticket,
        platform: &mut dyn Platform,
    ) -> Decision {
        let decision = self.evaluate(cpu, hook, fields, platform);
        // Refused when the hook changed since the lookup: the next caller re-runs it.
        let _ = self.cache.insert(ticket, decision.word, u64::from(hook.ttl_ticks));
        decision
    }

    /// What is cached for `fields` at `hook`, without running anything: the decision and
    /// the generation of the policy that made it.
    pub fn cached(
        &self,
        cpu: usize,
        hook: &Hook,
        fields: [u64; hooks::DECISION_FIELDS],
        now_ticks: u64,
    ) -> Option<Decision> {
        match self.cache.lookup(cpu, hook_id(hook), &decision_key(fields), now_ticks) {
            Lookup::Hit(word) => Some(from_cached(word, Source::CacheGlobal)),
            Lookup::Miss(_) => None,
        }
    }

    /// Forgets every cached decision of `hook`.
    pub fn invalidate_hook(&self, hook: &Hook) {
        self.cache.invalidate(hook_id(hook));
    }

    /// Forgets the cached decision for `fields` at `hook`; true if one was cached globally.
    pub fn invalidate_key(&self, hook: &Hook, fields: [u64; hooks::DECISION_FIELDS]) -> bool {
        self.cache.invalidate_key(hook_id(hook), &decision_key(fields))
    }

    /// Runs the attached agent (or the default policy) without the cache.
    #[inline(never)]
    pub fn evaluate(
        &self,
        cpu: usize,
        hook: &Hook,
        fields: [u64; hooks::DECISION_FIELDS],
        platform: &mut dyn Platform,
    ) -> Decision {
        let guard = self.cache.rcu().read(cpu);
        let agent = self.slot(hook).load(&guard);
        // Read after the slot: the generation is the loaded program's, or a newer one during
        // the instant of a swap (see `policies`).
        let generation = self.policy(hook).generation;
        let Some(agent) = agent else {
            self.stats.defaults.fetch_add(1, Ordering::Relaxed);
            return Decision::new(default_policy(hook, fields), Source::Default, generation);
        };
        let now_ns = platform.ktime_get_ns();
        let mut ctx = hooks::decision_context(hook.id, cpu as u32, now_ns, fields);
        match self.run(cpu, agent, &mut ctx, &mut [], platform) {
            Ok(value) if value <= hook.max_decision => Decision::new(value, Source::Agent(agent.id), generation),
            _ => {
                self.stats.fallbacks.fetch_add(1, Ordering::Relaxed);
                Decision::new(default_policy(hook, fields), Source::Fallback, generation)
            }
        }
    }

    /// Runs a `tool` agent on `input`; r0 is its result.
    pub fn run_tool(
        &self,
        cpu: usize,
        agent: &Agent,
        input: &[u8],
        platform: &mut dyn Platform,
    ) -> Result<u64, RunError> {
        let mut packet = input.to_vec();
        let mut ctx = [0u8; hooks::TOOL_CTX_BYTES];
        self.run(cpu, agent, &mut ctx, &mut packet, platform)
    }

    /// Runs the timer agents of `cpu` that are due at `now_ms` (from the tick; never blocks).
    pub fn run_timers(&self, cpu: usize, now_ms: u64, platform: &mut dyn Platform) {
        // Interrupted code on this core may hold the list (it is not taken with interrupts
        // masked): skip this tick rather than spin on our own lock.
        let Some(agents) = self.agents.try_lock() else {
            self.stats.timer_skips.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let due: Vec<Arc<Agent>> = agents
            .iter()
            .filter(|a| {
                a.kind == Kind::Timer
                    && a.timer.try_lock().is_some_and(|t| t.is_some_and(|t| t.cpu as usize == cpu))
                    && a.timer_next_ms.load(Ordering::Relaxed) <= now_ms
            })
            .cloned()
            .collect();
        drop(agents);
        for agent in due {
            let Some(period_ms) = agent.timer.try_lock().and_then(|t| t.map(|t| t.period_ms)) else { continue };
            agent.timer_next_ms.store(now_ms + u64::from(period_ms), Ordering::Relaxed);
            let runs = agent.timer_runs.fetch_add(1, Ordering::Relaxed);
            let mut ctx = hooks::timer_context(cpu as u32, period_ms, platform.ktime_get_ns(), runs);
            let _ = self.run(cpu, &agent, &mut ctx, &mut [], platform);
        }
    }

    fn run(
        &self,
        cpu: usize,
        agent: &Agent,
        ctx: &mut [u8],
        packet: &mut [u8],
        platform: &mut dyn Platform,
    ) -> Result<u64, RunError> {
        let _irqs = IrqsMasked::<C>::new();
        if !agent.is_alive() {
            // Only a broken grace period gets here; refuse rather than run freed code.
            self.stats.dead_runs.fetch_add(1, Ordering::Relaxed);
            return Err(RunError { pc: 0, kind: kingly_bpf::RunErrorKind::InvalidInstruction });
        }
        let start_ns = platform.ktime_get_ns();
        let mut maps = agent.maps.lock();
        let budget_insns = agent.verify.worst_case_path_insns.saturating_mul(2).max(1024);
        let mut env = Env { maps: &mut maps, platform: &mut *platform, budget_insns };
        let (result, insns) = match &agent.compiled {
            Some(code) => (code.run(ctx, packet, &mut env), 0),
            None => {
                let mut slot = self.interpreters[cpu].lock();
                let interpreter = slot.get_or_insert_with(Interpreter::new);
                let result = interpreter.run_with_packet(&agent.program, ctx, packet, &mut env);
                (result, interpreter.last_run_insns())
            }
        };
        drop(maps);
        let elapsed_ns = platform.ktime_get_ns().saturating_sub(start_ns);
        let s = &agent.stats;
        s.runs.fetch_add(1, Ordering::Relaxed);
        s.total_insns.fetch_add(insns, Ordering::Relaxed);
        s.max_insns.fetch_max(insns, Ordering::Relaxed);
        s.total_ns.fetch_add(elapsed_ns, Ordering::Relaxed);
        if result.is_err() {
            s.errors.fetch_add(1, Ordering::Relaxed);
        }
        result
    }

    /// Records a call of `hook` in the trace, if the hook is traced: its fields, the decision
    /// and where it came from (`explored`: the caller replaced it by a random safe one), which
    /// program made it, and `outcome`, what the caller observed.
    /// Inlined: when the hook is not traced this is one load and a branch.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    pub fn trace_decision(
        &self,
        cpu: usize,
        hook: &Hook,
        fields: [u64; hooks::DECISION_FIELDS],
        decision: &Decision,
        explored: bool,
        outcome: [u32; 4],
        time_ns: u64,
    ) {
        if self.trace.on(hook.id) {
            self.record_decision(cpu, hook, fields, decision, explored, outcome, time_ns);
        }
    }

    #[inline(never)]
    #[allow(clippy::too_many_arguments)]
    fn record_decision(
        &self,
        cpu: usize,
        hook: &Hook,
        fields: [u64; hooks::DECISION_FIELDS],
        decision: &Decision,
        explored: bool,
        outcome: [u32; 4],
        time_ns: u64,
    ) {
        use crate::trace::{Outcome, Record};
        let (source, program) = match decision.source {
            Source::CacheL1 | Source::CacheGlobal => {
                let program = self.provenance(hook, decision.generation()).map_or(u32::MAX, |p| p.program);
                (if decision.source == Source::CacheL1 { Outcome::L1 } else { Outcome::Global }, program)
            }
            Source::Agent(id) => (Outcome::Miss, id),
            Source::Default => (Outcome::Default, 0),
            Source::Fallback => (Outcome::Fallback, 0),
        };
        let record = Record {
            time_ns,
            hook: hook.id as u8,
            cpu: cpu as u8,
            source: if explored { Outcome::Explore } else { source } as u8,
            program,
            generation: decision.generation(),
            fields,
            decision: decision.value(),
            outcome,
        };
        self.trace.record(cpu, &record);
    }

    /// Starts a new policy generation at `hook` for `program` (0: the default policy); called
    /// under the writer lock, before the hook's slot changes.
    fn new_generation(&self, hook: &Hook, program: u32) {
        let generation = self.generation.fetch_add(1, Ordering::Relaxed).wrapping_add(1);
        self.policies[hook.id as usize].store(u64::from(generation) << 32 | u64::from(program), Ordering::Release);
    }

    /// What runs at `hook` now: its program (0 for the default policy) and generation.
    pub fn policy(&self, hook: &Hook) -> Provenance {
        let word = self.policies[hook.id as usize].load(Ordering::Acquire);
        Provenance { program: word as u32, generation: (word >> 32) as u32 }
    }

    /// Which program made a decision of `generation` at `hook`: `None` when that generation
    /// is not the hook's current one (its program was replaced since).
    pub fn provenance(&self, hook: &Hook, generation: u32) -> Option<Provenance> {
        let now = self.policy(hook);
        (now.generation == generation).then_some(now)
    }

    /// The slot of `hook`. Indexed by id, never reduced modulo the table: a hook outside
    /// [`HOOKS`] is a bug that must stop here, not share another hook's slot.
    fn slot(&self, hook: &Hook) -> &RcuPtr<'r, Arc<Agent>, C> {
        &self.hooks[hook.id as usize]
    }

    /// Runs `f` on the agent attached at `hook` inside a read-side section (torture checks).
    pub fn with_attached<R>(&self, cpu: usize, hook: &Hook, f: impl FnOnce(Option<&Agent>) -> R) -> R {
        let guard = self.cache.rcu().read(cpu);
        f(self.slot(hook).load(&guard).map(|a| &**a))
    }
}

/// The policy each hook follows when no agent is attached (or the agent failed).
pub fn default_policy(hook: &Hook, fields: [u64; hooks::DECISION_FIELDS]) -> u64 {
    match hook.id {
        id if id == hooks::SCHED_SLICE.id => DEFAULT_SLICE_US,
        // Stay where the task ran last.
        id if id == hooks::SCHED_CPU.id => fields[2],
        _ => hooks::admit::ALLOW,
    }
}

/// The `sched_slice` default: 10 ms for every task.
pub const DEFAULT_SLICE_US: u64 = 10_000;

fn hook_id(hook: &Hook) -> HookId {
    // Hook ids are 0..3, far below MAX_HOOKS.
    HookId::new(hook.id as usize).unwrap_or(HookId::MCP_ADMIT)
}

/// The cache key of a decision: its four fields. When each fits in 16 bits (class, task ids,
/// cores, small counts: the usual case) they pack into one 8-byte key, which takes the L1's
/// one-word path; otherwise the key is all 32 bytes. The lengths differ, so the two forms never
/// collide.
#[inline(always)]
fn decision_key(fields: [u64; hooks::DECISION_FIELDS]) -> Key {
    if narrow_fields(fields) {
        narrow_decision_key(fields)
    } else {
        wide_decision_key(fields)
    }
}

/// Whether every field fits in 16 bits (the 8-byte key).
#[inline(always)]
fn narrow_fields(fields: [u64; hooks::DECISION_FIELDS]) -> bool {
    (fields[0] | fields[1] | fields[2] | fields[3]) >> 16 == 0
}

/// [`decision_key`] when [`narrow_fields`].
#[inline(always)]
fn narrow_decision_key(fields: [u64; hooks::DECISION_FIELDS]) -> Key {
    Key::from_u64(fields[0] | fields[1] << 16 | fields[2] << 32 | fields[3] << 48)
}

/// The fields [`narrow_decision_key`] packed into `word`.
#[inline(always)]
fn narrow_fields_of(word: u64) -> [u64; hooks::DECISION_FIELDS] {
    [word & 0xFFFF, word >> 16 & 0xFFFF, word >> 32 & 0xFFFF, word >> 48]
}

/// [`decision_key`]'s 32-byte form, out of line: inlined, the compiler computed both forms'
/// hashes on every call and picked one (about 30 instructions of a global hit).
#[cold]
#[inline(never)]
fn wide_decision_key(fields: [u64; hooks::DECISION_FIELDS]) -> Key {
    Key::from_words(fields)
}

#[cfg(test)]
mod tests;
