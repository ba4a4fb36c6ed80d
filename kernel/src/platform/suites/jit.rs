//! In-kernel suites for the eBPF JIT: `bpf-jit-conformance` (the 313 bpf_conformance tests as
//! native code), `bpf-jit-diff` (JIT against the interpreter on random verified programs, then
//! the defences that do not trust the verifier: the budget guard and the cleared stack) and
//! `bpf-jit-bench` (retired instructions, JIT against interpreter; needs QEMU `-icount`).

use super::Tally;
use crate::agents::Compiled;
use crate::arch::aarch64::cpu::Aarch64Cpu;
use crate::arch::aarch64::jit::{self, JitProgram};
use crate::arch::aarch64::pmu;
use crate::cpu::CpuOps;
use crate::kprintln;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use kingly_bpf::conformance::{self, Expect};
use kingly_bpf::interp::DEFAULT_BUDGET_INSNS;
use kingly_bpf::memory::STACK_BYTES;
use kingly_bpf::ptrgen;
use kingly_bpf::testgen::{self, Rng, CTX_BYTES, HASH, MAP};
use kingly_bpf::verifier::Options;
use kingly_bpf::{
    asm as bpf_asm, isa, Env, FixedPlatform, Interpreter, Map, Program, ProgramType, RunError, RunErrorKind,
    VerifiedProgram,
};

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/bpf_conformance.rs"));
}

fn conformance_case(text: &str) -> Result<(), String> {
    let case = conformance::parse(text).map_err(|e| format!("parse: {e}"))?;
    let Expect::Result(want) = case.expect else { return Err(String::from("no expected result")) };
    let prog_type = ProgramType::conformance(case.mem.len() as u32);
    let prog = Program::load_slots(case.program, &prog_type, &[], &Options::default())
        .map_err(|e| format!("rejected: {e}"))?;
    let jit = JitProgram::compile(&prog).map_err(|e| format!("compile: {e}"))?;
    let mut mem = case.mem.clone();
    let mut platform = FixedPlatform::default();
    let mut env = Env { maps: &mut [], platform: &mut platform, budget_insns: DEFAULT_BUDGET_INSNS };
    let got = jit.run(&mut mem, &mut [], &mut env).map_err(|e| format!("run error: {e}"))?;
    if got != want {
        return Err(format!("r0 = {got:#x}, want {want:#x}"));
    }
    Ok(())
}

pub(super) fn conformance_suite() -> u32 {
    let mut tally = Tally::new("bpf-jit-conformance");
    if embedded::TESTS.is_empty() {
        tally.refuse(format_args!(
            "no bpf_conformance tests were embedded: the build found none in {}",
            embedded::SOURCE_DIR
        ));
        return tally.finish();
    }
    for (name, text) in embedded::TESTS {
        tally.case(name, conformance_case(text));
    }
    tally.cases(&[
        ("code_is_read_only_then_unmapped", code_is_read_only_then_unmapped),
        ("retired_code_is_freed_after_a_grace_period", retired_code_is_freed_after_a_grace_period),
        ("a_short_context_is_refused_not_overrun", a_short_context_is_refused_not_overrun),
    ]);
    tally.finish()
}

/// Native code has no bounds checks: a context shorter than the one the program was verified
/// for must be refused before the code runs, by the direct path (a leaf without stack, maps or
/// packet) and the general one (a program with a helper call) alike, with the interpreter's
/// error; a long enough one runs.
fn a_short_context_is_refused_not_overrun() -> Result<(), String> {
    let sources =
        [("direct", "ldxdw %r0, [%r1+56]\nexit"), ("general", "mov %r6, %r1\ncall 7\nldxdw %r0, [%r6+56]\nexit")];
    for (path, source) in sources {
        let bytes = isa::slots_to_bytes(&bpf_asm::assemble(source).map_err(|e| format!("{e}"))?);
        let prog = Program::load(&bytes, &ProgramType::conformance(64)).map_err(|e| format!("{path}: {e}"))?;
        let jit = JitProgram::compile(&prog).map_err(|e| format!("{path}: {e}"))?;
        let mut platform = FixedPlatform::default();
        let mut env = Env { maps: &mut [], platform: &mut platform, budget_insns: 1 << 10 };
        let want = RunErrorKind::ContextTooShort { len: 8, needed: 64 };
        let short = jit.run(&mut [0; 8], &mut [], &mut env).map_err(|e| e.kind);
        let interpreted = Interpreter::new().run(&prog, &mut [0; 8], &mut env).map_err(|e| e.kind);
        if short != Err(want) || interpreted != Err(want) {
            return Err(format!("{path}: 8 of 64 bytes: JIT {short:?}, interpreter {interpreted:?}, want {want:?}"));
        }
        let mut ctx = [0u8; 64];
        ctx[56] = 9;
        match jit.run(&mut ctx, &mut [], &mut env) {
            Ok(9) => {}
            other => return Err(format!("{path}: 64 bytes: {other:?}, want Ok(9)")),
        }
    }
    Ok(())
}

/// W^X: the window mapping of JIT code must refuse writes, allow reads, and vanish on drop.
fn code_is_read_only_then_unmapped() -> Result<(), String> {
    let bytes = isa::slots_to_bytes(&bpf_asm::assemble("mov %r0, 1\nexit").map_err(|e| format!("{e}"))?);
    let prog = Program::load(&bytes, &ProgramType::conformance(0)).map_err(|e| format!("{e}"))?;
    let program = JitProgram::compile(&prog).map_err(|e| format!("{e}"))?;
    let entry = program.entry_address();
    let (readable, writable) = (jit::probe(entry, false), jit::probe(entry, true));
    drop(program);
    let mapped_after_drop = jit::probe(entry, false);
    match (readable, writable, mapped_after_drop) {
        (true, false, false) => Ok(()),
        _ => Err(format!("read={readable} write={writable} after drop={mapped_after_drop} (want true, false, false)")),
    }
}

/// `retire` keeps the code mapped for running cores until an RCU grace period has passed, then
/// unmaps and frees it.
fn retired_code_is_freed_after_a_grace_period() -> Result<(), String> {
    let bytes = isa::slots_to_bytes(&bpf_asm::assemble("mov %r0, 2\nexit").map_err(|e| format!("{e}"))?);
    let prog = Program::load(&bytes, &ProgramType::conformance(0)).map_err(|e| format!("{e}"))?;
    let program = JitProgram::compile(&prog).map_err(|e| format!("{e}"))?;
    let entry = program.entry_address();
    let freed_before = crate::platform::state::RCU.stats();
    // With this core's interrupts masked it reports no quiescent state, so no grace period can
    // end: the code must still be mapped right after `retire`.
    let irqs = Aarch64Cpu::irq_save();
    program.retire(&crate::platform::state::RCU);
    let mapped_while_waiting = jit::probe(entry, false);
    Aarch64Cpu::irq_restore(irqs);
    if !mapped_while_waiting {
        return Err(String::from("unmapped before a grace period passed"));
    }
    // Two grace periods: the first moves the retired program to the waiting list's turn.
    for _ in 0..3 {
        crate::platform::state::RCU.synchronize();
    }
    let freed_after = crate::platform::state::RCU.stats();
    if jit::probe(entry, false) {
        return Err(format!("still mapped after three grace periods ({freed_before:?} -> {freed_after:?})"));
    }
    Ok(())
}

/// Programs generated for the differential run.
const DIFF_PROGRAMS: u64 = 1200;

fn fresh_maps() -> Vec<Map> {
    let mut maps: Vec<Map> = Vec::new();
    for def in [MAP, HASH] {
        if let Ok(map) = Map::new(def, 2) {
            maps.push(map);
        }
    }
    for k in 0..3u32 {
        let _ = maps[1].update(&k.to_le_bytes(), &[k as u8; 8], 0, 0);
    }
    maps
}

/// Everything a run can change that the caller can see.
fn map_state(maps: &[Map]) -> Vec<u8> {
    let mut state = Vec::new();
    for map in maps {
        state.extend_from_slice(&map.len().to_le_bytes());
        state.extend_from_slice(map.value_bytes());
        map.for_each(|k, v| {
            state.extend_from_slice(k);
            state.extend_from_slice(v);
        });
    }
    state
}

pub(super) fn differential_suite() -> u32 {
    let mut tally = Tally::new("bpf-jit-diff");
    tally.cases(&[
        ("random_programs_match_the_interpreter", random_programs_match_the_interpreter),
        ("pointer_programs_match_the_interpreter", pointer_programs_match_the_interpreter),
        // The JIT's defences against a verifier mistake (they compare the JIT with the
        // interpreter's contract).
        ("budget_stops_a_loop_at_its_back_edge", budget_stops_a_loop_at_its_back_edge),
        ("budget_counts_calls", budget_counts_calls),
        ("each_run_starts_with_its_frames_zeroed", each_run_starts_with_its_frames_zeroed),
    ]);
    tally.finish()
}

/// JIT against interpreter on random verified programs (buffer and packet contexts), on the
/// same inputs and maps.
fn random_programs_match_the_interpreter() -> Result<(), String> {
    let (buffer_type, packet_type) = (testgen::program_type(false), testgen::program_type(true));
    let mut rng = Rng(0x6a69_745f_6469_6666);
    let mut interp = Interpreter::new();
    let (mut accepted, mut runs, mut mismatches) = (0u64, 0u64, 0u64);
    for n in 0..DIFF_PROGRAMS {
        let packet = n % 2 == 1;
        let prog_type = if packet { packet_type } else { buffer_type };
        let bytes = testgen::generate_careful(&mut rng, packet);
        let Ok(slots) = isa::slots_from_bytes(&bytes) else { continue };
        let options = Options { max_insns_processed: 100_000, ..Options::default() };
        let Ok(prog) = Program::load_slots(slots, &prog_type, &[MAP, HASH], &options) else { continue };
        accepted += 1;
        let jit = match JitProgram::compile(&prog) {
            Ok(jit) => jit,
            Err(e) => {
                mismatches += 1;
                kprintln!("program {n}: compile failed: {e}");
                continue;
            }
        };
        let bound = prog.stats().worst_case_path_insns;
        let (mut maps_i, mut maps_j) = (fresh_maps(), fresh_maps());
        for round in 0..2u32 {
            let ctx: Vec<u8> = (0..CTX_BYTES as u8).map(|b| b.wrapping_mul(37).wrapping_add(round as u8)).collect();
            let packet_bytes: Vec<u8> = (0..rng.below(24) as u8).map(|b| b ^ 0x5a).collect();
            let skip = if packet { 16 } else { 0 };
            let run = Both { cpu: round, bound, skip };
            let (want, got, same_memory, same_maps) =
                run.compare(&mut interp, &prog, &jit, ctx, packet_bytes, &mut maps_i, &mut maps_j);
            runs += 1;
            if got != want || !same_memory || !same_maps {
                mismatches += 1;
                if mismatches <= 5 {
                    kprintln!(
                        "program {n} round {round}: interpreter {want:x?}, JIT {got:x?}, memory same: {same_memory}, \
                         maps same: {same_maps}"
                    );
                    kprintln!("{}", kingly_bpf::disasm::format_program(prog.insns()));
                }
            }
        }
    }
    kprintln!("bpf-jit-diff: programs={DIFF_PROGRAMS} accepted={accepted} runs={runs} mismatches={mismatches}");
    verdict(accepted, mismatches, DIFF_PROGRAMS)
}

/// A differential run passes with no mismatch and enough accepted programs (an eighth) for
/// the comparison to mean anything.
fn verdict(accepted: u64, mismatches: u64, programs: u64) -> Result<(), String> {
    if mismatches > 0 {
        return Err(format!("{mismatches} runs differed"));
    }
    if accepted < programs / 8 {
        return Err(format!("too few programs were accepted ({accepted} of {programs})"));
    }
    Ok(())
}

/// One input run by the interpreter and by the JIT, each on its own copy of the memory.
struct Both {
    cpu: u32,
    bound: u64,
    /// Leading context bytes not compared: a packet context's data/data_end pointers are tagged
    /// in the interpreter and real in the JIT.
    skip: usize,
}

impl Both {
    /// (interpreter result, JIT result, same context and packet after, same maps after).
    #[allow(clippy::too_many_arguments)] // the program twice, its input and both engines' maps
    fn compare(
        &self,
        interp: &mut Interpreter,
        prog: &VerifiedProgram,
        jit: &JitProgram,
        ctx: Vec<u8>,
        packet: Vec<u8>,
        maps_i: &mut [Map],
        maps_j: &mut [Map],
    ) -> (Result<u64, RunError>, Result<u64, RunError>, bool, bool) {
        let (mut ctx_i, mut ctx_j) = (ctx.clone(), ctx);
        let (mut pkt_i, mut pkt_j) = (packet.clone(), packet);
        let mut platform_i = FixedPlatform { cpu: self.cpu, ..FixedPlatform::default() };
        let mut platform_j = platform_i.clone();
        let mut env_i = Env { maps: maps_i, platform: &mut platform_i, budget_insns: self.bound };
        let want = interp.run_with_packet(prog, &mut ctx_i, &mut pkt_i, &mut env_i);
        let mut env_j = Env { maps: maps_j, platform: &mut platform_j, budget_insns: self.bound };
        let got = jit.run(&mut ctx_j, &mut pkt_j, &mut env_j);
        let same_memory = ctx_i[self.skip..] == ctx_j[self.skip..] && pkt_i == pkt_j;
        let same_maps = map_state(env_i.maps) == map_state(env_j.maps);
        (want, got, same_memory, same_maps)
    }
}

/// Pointer-heavy programs for the differential run (`kingly_bpf::ptrgen`).
const POINTER_DIFF_PROGRAMS: u64 = 600;

/// The pointer fuzzer's programs (lookups, pointer arithmetic and comparisons, spills, joins,
/// packet checks), JIT against interpreter on the same inputs and maps. Real addresses in the
/// JIT and tagged ones in the interpreter: any difference in r0, errors, the context, the
/// packet or the maps means an accepted program saw an address.
fn pointer_programs_match_the_interpreter() -> Result<(), String> {
    let interp = &mut Interpreter::new();
    let mut rng = Rng(0x7074_725f_6469_6666);
    let (mut accepted, mut runs, mut mismatches) = (0u64, 0u64, 0u64);
    for n in 0..POINTER_DIFF_PROGRAMS {
        let target = ptrgen::Target::ALL[n as usize % ptrgen::Target::ALL.len()];
        let shape = ptrgen::Shape::random(&mut rng, target);
        let generated = ptrgen::generate(&mut rng, &shape);
        let options = Options { max_insns_processed: 100_000, ..Options::default() };
        let prog_type = target.program_type();
        let Ok(prog) = Program::load_slots(generated.slots, &prog_type, &generated.maps, &options) else { continue };
        accepted += 1;
        let jit = match JitProgram::compile(&prog) {
            Ok(jit) => jit,
            Err(e) => {
                mismatches += 1;
                kprintln!("pointer program {n}: compile failed: {e}");
                continue;
            }
        };
        let bound = prog.stats().worst_case_path_insns;
        for round in 0..2u32 {
            let inputs = ptrgen::Inputs::random(&mut rng, target);
            let (Ok(mut maps_i), Ok(mut maps_j)) = (
                ptrgen::filled_maps(&generated.maps, inputs.map_seed),
                ptrgen::filled_maps(&generated.maps, inputs.map_seed),
            ) else {
                continue;
            };
            let skip = if target == ptrgen::Target::Tool { 16 } else { 0 };
            let run = Both { cpu: round, bound, skip };
            let (want, got, same_memory, same_maps) =
                run.compare(interp, &prog, &jit, inputs.ctx, inputs.packet, &mut maps_i, &mut maps_j);
            runs += 1;
            if got != want || !same_memory || !same_maps {
                mismatches += 1;
                if mismatches <= 5 {
                    kprintln!(
                        "pointer program {n} round {round}: interpreter {want:x?}, JIT {got:x?}, memory same: \
                         {same_memory}, maps same: {same_maps}\n{}",
                        generated.source
                    );
                }
            }
        }
    }
    kprintln!(
        "bpf-jit-diff: pointer programs={POINTER_DIFF_PROGRAMS} accepted={accepted} runs={runs} mismatches={mismatches}"
    );
    verdict(accepted, mismatches, POINTER_DIFF_PROGRAMS)
}

fn load(source: &str) -> Result<VerifiedProgram, String> {
    let bytes = isa::slots_to_bytes(&bpf_asm::assemble(source).map_err(|e| format!("{e}"))?);
    Program::load(&bytes, &ProgramType::conformance(0)).map_err(|e| format!("{e}"))
}

fn run_with_budget(jit: &JitProgram, budget_insns: u64) -> Result<u64, RunError> {
    let mut platform = FixedPlatform::default();
    let mut env = Env { maps: &mut [], platform: &mut platform, budget_insns };
    jit.run(&mut [], &mut [], &mut env)
}

/// A verified loop run with less budget than it needs stops with `BudgetExhausted` at its
/// back-edge; with enough, it returns what the interpreter returns. The budget counts each
/// execution of the back-edge, so 100 iterations need exactly 100.
fn budget_stops_a_loop_at_its_back_edge() -> Result<(), String> {
    let source = "mov %r0, 0\nmov %r2, 100\nloop:\nadd %r0, %r2\nsub %r2, 1\njne %r2, 0, loop\nexit";
    let prog = load(source)?;
    let jit = JitProgram::compile(&prog).map_err(|e| format!("{e}"))?;
    let exhausted = Err(RunError { pc: 4, kind: RunErrorKind::BudgetExhausted });
    for budget in [0, 1, 50, 99] {
        let got = run_with_budget(&jit, budget);
        if got != exhausted {
            return Err(format!("budget {budget}: {got:?}, want {exhausted:?}"));
        }
    }
    let mut platform = FixedPlatform::default();
    let mut env = Env { maps: &mut [], platform: &mut platform, budget_insns: DEFAULT_BUDGET_INSNS };
    let want = Interpreter::new().run(&prog, &mut [], &mut env);
    for budget in [100, DEFAULT_BUDGET_INSNS] {
        let got = run_with_budget(&jit, budget);
        if got != want || want != Ok(5050) {
            return Err(format!("budget {budget}: JIT {got:?}, interpreter {want:?}, want Ok(5050)"));
        }
    }
    Ok(())
}

/// Each bpf-to-bpf call takes one unit of budget (pc 1, 3 and 5 here); a program without
/// back-edges or calls has no guard and runs even with no budget.
fn budget_counts_calls() -> Result<(), String> {
    let source = "mov %r6, 0\ncall local f\nadd %r6, %r0\ncall local f\nadd %r6, %r0\ncall local f\n\
                  add %r6, %r0\nmov %r0, %r6\nexit\nf:\nmov %r0, 1\nexit";
    let jit = JitProgram::compile(&load(source)?).map_err(|e| format!("{e}"))?;
    for (budget, want) in [
        (0, Err(RunError { pc: 1, kind: RunErrorKind::BudgetExhausted })),
        (2, Err(RunError { pc: 5, kind: RunErrorKind::BudgetExhausted })),
        (3, Ok(3)),
    ] {
        let got = run_with_budget(&jit, budget);
        if got != want {
            return Err(format!("budget {budget}: {got:?}, want {want:?}"));
        }
    }
    let straight =
        JitProgram::compile(&load("mov %r0, 7\njeq %r0, 7, +1\nmov %r0, 0\nexit")?).map_err(|e| format!("{e}"))?;
    match run_with_budget(&straight, 0) {
        Ok(7) => Ok(()),
        other => Err(format!("a forward-only program with budget 0: {other:?}, want Ok(7)")),
    }
}

/// What a run leaves on this core's eBPF stack is gone before the next run, in every byte the
/// next program can reach (and only there: a program that never names r10 clears nothing).
fn each_run_starts_with_its_frames_zeroed() -> Result<(), String> {
    // Marks the top doubleword of frames 0 and 1 (frame 1 from inside the call).
    let writer = "stdw [%r10-8], 0x5a5a\ncall local f\nmov %r0, 0\nexit\nf:\nstdw [%r10-8], 0x5a5a\nmov %r0, 0\nexit";
    let quiet = "mov %r0, 0\nexit";
    // Reaches 16 bytes of frame 0 (cleared in a 256-byte group), not the mark's bytes itself.
    let toucher = "stb [%r10-16], 7\nmov %r0, 0\nexit";
    let quiet_call = "call local f\nmov %r0, 0\nexit\nf:\nmov %r0, 0\nexit";
    let [writer, quiet, toucher, quiet_call] = [writer, quiet, toucher, quiet_call]
        .map(|source| load(source).and_then(|p| JitProgram::compile(&p).map_err(|e| format!("{e}"))));
    let (writer, quiet, toucher, quiet_call) = (writer?, quiet?, toucher?, quiet_call?);
    let bytes = (writer.stack_bytes(), quiet.stack_bytes(), toucher.stack_bytes(), quiet_call.stack_bytes());
    if bytes != (1024, 0, 256, 1024) {
        return Err(format!("stack bytes {bytes:?}, want (1024, 0, 256, 1024)"));
    }
    let marks = || -> Result<[u64; 2], String> {
        let stack = jit::this_core_stack().ok_or("this core's stack is busy")?;
        let word = |at: usize| u64::from_le_bytes(stack[at..at + 8].try_into().unwrap_or_default());
        Ok([word(STACK_BYTES - 8), word(STACK_BYTES - 512 - 8)])
    };
    // Interrupts off: nothing else may run JIT code on this core between the steps.
    let irqs = Aarch64Cpu::irq_save();
    let steps = (|| {
        run_with_budget(&writer, 16).map_err(|e| format!("writer: {e}"))?;
        let after_writer = marks()?;
        run_with_budget(&quiet, 16).map_err(|e| format!("quiet: {e}"))?;
        let after_quiet = marks()?;
        run_with_budget(&toucher, 16).map_err(|e| format!("toucher: {e}"))?;
        let after_toucher = marks()?;
        run_with_budget(&quiet_call, 16).map_err(|e| format!("quiet_call: {e}"))?;
        Ok::<_, String>((after_writer, after_quiet, after_toucher, marks()?))
    })();
    Aarch64Cpu::irq_restore(irqs);
    match steps? {
        ([0x5a5a, 0x5a5a], [0x5a5a, 0x5a5a], [0, 0x5a5a], [0, 0]) => Ok(()),
        (w, q, t, c) => Err(format!(
            "frame marks after the writer {w:x?}, a run that never names r10 {q:x?}, a one-frame \
             run reaching 16 bytes {t:x?}, a two-frame run {c:x?}; \
             want [5a5a, 5a5a], [5a5a, 5a5a], [0, 5a5a], [0, 0]"
        )),
    }
}

const BENCHES: &[(&str, &str, usize)] = &[
    // Fixed cost of one run (checks, stack, entry and exit) for each engine.
    ("empty_program", "mov %r0, 0\nexit", 0),
    (
        "alu_loop",
        "mov %r0, 0\nmov %r2, 1000\nloop:\nadd %r0, %r2\nxor %r0, 0x5a5a\nlsh %r0, 3\nrsh %r0, 1\nor %r0, 7\nsub %r2, 1\njne %r2, 0, loop\nexit",
        0,
    ),
    (
        "byte_load_loop",
        "mov %r0, 0\nmov %r3, 0\nloop:\nmov %r4, %r1\nadd %r4, %r3\nldxb %r5, [%r4+0]\nadd %r0, %r5\nadd %r3, 1\njlt %r3, 256, loop\nexit",
        256,
    ),
    (
        "div_mul_loop",
        "mov %r0, 1\nmov %r2, 1000\nloop:\nmul %r0, 7\nadd %r0, %r2\ndiv %r0, 3\nmod %r0, 1000003\nmul32 %r0, 13\ndiv32 %r0, 5\nsub %r2, 1\njne %r2, 0, loop\nexit",
        0,
    ),
    // A bpf-to-bpf call per iteration: 1000 calls and 1000 back-edges.
    (
        "call_loop",
        "mov %r6, 0\nmov %r7, 1000\nloop:\ncall local add1\nadd %r6, %r0\nsub %r7, 1\njne %r7, 0, loop\nmov %r0, %r6\nexit\nadd1:\nmov %r0, 1\nexit",
        0,
    ),
];

pub(super) fn bench_suite() -> u32 {
    let mut tally = Tally::new("bpf-jit-bench");
    pmu::start_instruction_counter();
    let (_, probe) = pmu::count(|| core::hint::black_box(0u64));
    if probe == 0 {
        tally.refuse(
            "the PMU counts no instructions; run QEMU with -icount (kingly boot --icount 0 --test bpf-jit-bench)",
        );
        return tally.finish();
    }
    for (name, source, mem_bytes) in BENCHES {
        tally.bench(name, bench_one(source, *mem_bytes));
    }
    tally.bench("stack_clear", stack_clear_cost());
    tally.bench("compile_large", compile_cost_large());
    tally.finish()
}

fn bench_one(source: &str, mem_bytes: usize) -> Result<String, String> {
    let bytes = isa::slots_to_bytes(&bpf_asm::assemble(source).map_err(|e| format!("{e}"))?);
    let prog = Program::load(&bytes, &ProgramType::conformance(mem_bytes as u32)).map_err(|e| format!("{e}"))?;
    let slots = prog.raw().len() as u64;
    let (jit, compile_insns) = pmu::count(|| JitProgram::compile(&prog));
    let jit = jit.map_err(|e| format!("compile: {e}"))?;
    let mut interp = Interpreter::new();
    let mem: Vec<u8> = (0..mem_bytes).map(|i| (i * 7) as u8).collect();
    let mut platform = FixedPlatform::default();
    let (mut mem_i, mut mem_j) = (mem.clone(), mem);
    let mut env = Env { maps: &mut [], platform: &mut platform, budget_insns: 1 << 24 };
    // Interrupts masked, the fewest of three counts: a timer tick that lands in a measurement
    // would add its handler to the count. Each count is of `REPS` runs, divided: the counter
    // reads around one run of a short program were a fifth of its figure.
    const REPS: u64 = 64;
    let fewest = |run: &mut dyn FnMut() -> Result<u64, RunError>| {
        let irqs = Aarch64Cpu::irq_save();
        let counts = [(); 3].map(|()| {
            pmu::count(|| {
                let mut last = Ok(0);
                for _ in 0..REPS {
                    last = core::hint::black_box(run());
                }
                last
            })
        });
        Aarch64Cpu::irq_restore(irqs);
        let (result, insns) = counts.into_iter().min_by_key(|&(_, insns)| insns).unwrap_or((Ok(0), 0));
        (result, insns / REPS)
    };
    let (want, interp_insns) = fewest(&mut || interp.run(&prog, &mut mem_i, &mut env));
    let bpf_insns = interp.last_run_insns();
    // Through `dyn Compiled`, as the agent runtime calls it: inlined here, the run's cost moved
    // by up to 250 instructions with how the compiler happened to split the kernel into
    // codegen units.
    let engine: &dyn Compiled = core::hint::black_box(&jit);
    let (got, jit_insns) = fewest(&mut || engine.run(&mut mem_j, &mut [], &mut env));
    if want != got {
        return Err(format!("interpreter {want:x?} but JIT {got:x?}"));
    }
    // The measuring loop and closure call alone: `jit_insns - harness_insns` is the engine's.
    let (_, harness_insns) = fewest(&mut || Ok(core::hint::black_box(0)));
    Ok(format!(
        "bpf_insns={bpf_insns} interp_insns={interp_insns} jit_insns={jit_insns} harness_insns={harness_insns} \
         speedup={}.{}x compile_insns={compile_insns} slots={slots} compile_insns_per_slot={} code_bytes={}",
        interp_insns / jit_insns.max(1),
        (interp_insns * 10 / jit_insns.max(1)) % 10,
        compile_insns / slots.max(1),
        jit.code_bytes(),
    ))
}

/// What zeroing a run's frames costs: `jit::zero_top` (`dc zva`, what runs use) against plain
/// stores (`fill`), for one frame and for the whole stack.
fn stack_clear_cost() -> Result<String, String> {
    #[repr(C, align(512))]
    struct Aligned([u8; STACK_BYTES]);
    let mut stack = alloc::boxed::Box::new(Aligned([1; STACK_BYTES]));
    // Called through a pointer the compiler cannot see through, so the count is the call as
    // the JIT's run makes it, not whatever inlining this closure happened to get (the figure
    // moved from 47 to 56 with the code around it unchanged).
    let zero_top: fn(&mut kingly_bpf::jit::Stack, usize) = core::hint::black_box(jit::zero_top);
    let mut cost = |bytes: usize, zva: bool| {
        stack.0.fill(1);
        let irqs = Aarch64Cpu::irq_save();
        let (_, insns) = pmu::count(|| {
            let stack = core::hint::black_box(&mut stack.0);
            if zva {
                zero_top(stack, bytes);
            } else {
                stack[STACK_BYTES - bytes..].fill(0);
            }
        });
        Aarch64Cpu::irq_restore(irqs);
        (
            insns,
            stack.0[STACK_BYTES - bytes..].iter().all(|&b| b == 0)
                && stack.0[..STACK_BYTES - bytes].iter().all(|&b| b == 1),
        )
    };
    let mut line = String::new();
    for (name, bytes, zva) in [
        ("frame_zva", 512, true),
        ("frame_fill", 512, false),
        ("stack_zva", STACK_BYTES, true),
        ("stack_fill", STACK_BYTES, false),
    ] {
        let (insns, exact) = cost(bytes, zva);
        if !exact {
            return Err(format!("{name} did not zero exactly the top {bytes} bytes"));
        }
        line.push_str(&format!("{name}_insns={insns} "));
    }
    Ok(String::from(line.trim_end()))
}

/// Compile cost per slot on a 4001-slot straight-line program, where fixed costs (mapping,
/// cache maintenance) no longer dominate; verification cost beside it for scale.
fn compile_cost_large() -> Result<String, String> {
    let mut source = String::from("mov %r0, 0\n");
    for i in 0..1000 {
        source.push_str(&format!("add %r0, {i}\nxor %r0, 0x5a5a\nlsh %r0, 1\nmod %r0, 1000003\n"));
    }
    source.push_str("exit\n");
    let slots = bpf_asm::assemble(&source).map_err(|e| format!("{e}"))?;
    let count_slots = slots.len() as u64;
    let (prog, verify_insns) = pmu::count(|| Program::load(&isa::slots_to_bytes(&slots), &ProgramType::conformance(0)));
    let prog = prog.map_err(|e| format!("{e}"))?;
    let (jit, compile_insns) = pmu::count(|| JitProgram::compile(&prog));
    let jit = jit.map_err(|e| format!("{e}"))?;
    Ok(format!(
        "slots={count_slots} compile_insns={compile_insns} compile_insns_per_slot={} verify_insns_per_slot={} \
         code_bytes={}",
        compile_insns / count_slots,
        verify_insns / count_slots,
        jit.code_bytes()
    ))
}
