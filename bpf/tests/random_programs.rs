//! Property: every program the verifier accepts runs in the interpreter without an
//! out-of-region access, an invalid instruction, a helper fault or a budget overrun, and
//! executes no more instructions than the verifier's worst-case path bound.
//!
//! A small run is part of `cargo test`; set `KINGLY_BPF_RANDOM_PROGRAMS=1000000` for a long run.

use kingly_bpf::isa;
use kingly_bpf::testgen::{self, generate, Rng, CTX_BYTES, HASH, MAP};
use kingly_bpf::verifier::Options;
use kingly_bpf::{Env, FixedPlatform, Interpreter, Map, Program, RunErrorKind};

fn check_many(count: u64, seed: u64) -> (u64, u64, u64) {
    let (buffer_type, packet_type) = (testgen::program_type(false), testgen::program_type(true));
    let defs = [MAP, HASH];
    let mut rng = Rng(seed);
    let mut interp = Interpreter::new();
    let (mut accepted, mut executed_insns, mut accepted_packet) = (0u64, 0u64, 0u64);
    for n in 0..count {
        let packet = n % 2 == 1;
        let prog_type = if packet { packet_type } else { buffer_type };
        let bytes = generate(&mut rng, packet);
        let options = Options { max_insns_processed: 100_000, ..Options::default() };
        let prog = match Program::load_slots(isa::slots_from_bytes(&bytes).unwrap(), &prog_type, &defs, &options) {
            Ok(p) => p,
            Err(e) => {
                if std::env::var("KINGLY_BPF_RANDOM_VERBOSE").is_ok() {
                    let k = format!("{:?}", e.kind);
                    println!("reject {}", k.split(['(', ' ']).next().unwrap());
                }
                continue;
            }
        };
        accepted += 1;
        accepted_packet += packet as u64;
        let bound = prog.stats().worst_case_path_insns;
        let mut maps: Vec<Map> = defs.iter().map(|d| Map::new(*d, 2).unwrap()).collect();
        // Pre-populate some hash entries so lookups can succeed.
        for k in 0..3u32 {
            maps[1].update(&k.to_le_bytes(), &[k as u8; 8], 0, 0).unwrap();
        }
        for round in 0..2u32 {
            let mut ctx: Vec<u8> = (0..CTX_BYTES as u8).map(|b| b.wrapping_mul(37).wrapping_add(round as u8)).collect();
            let mut platform = FixedPlatform { cpu: round, ..FixedPlatform::default() };
            let mut env = Env { maps: &mut maps, platform: &mut platform, budget_insns: bound };
            let mut packet_bytes = vec![0x5au8; rng.below(24) as usize];
            let result = interp.run_with_packet(&prog, &mut ctx, &mut packet_bytes, &mut env);
            executed_insns += interp.last_run_insns();
            if let Err(e) = result {
                let text = kingly_bpf::disasm::format_program(prog.insns());
                panic!(
                    "program {n} (seed {seed}) accepted but failed: {e:?} ({})\n{text}",
                    match e.kind {
                        RunErrorKind::BudgetExhausted => "worst-case bound too small",
                        _ => "unsafe",
                    }
                );
            }
            assert!(interp.last_run_insns() <= bound);
        }
    }
    (accepted, accepted_packet, executed_insns)
}

#[test]
fn accepted_random_programs_run_safely_within_their_bound() {
    let count = std::env::var("KINGLY_BPF_RANDOM_PROGRAMS").ok().and_then(|v| v.parse().ok()).unwrap_or(5_000);
    let seed = std::env::var("KINGLY_BPF_RANDOM_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(1);
    let start = std::time::Instant::now();
    let (accepted, accepted_packet, executed) = check_many(count, seed);
    println!(
        "random programs: {count} generated, {accepted} accepted ({accepted_packet} with a packet context), \
         {executed} instructions executed, {:?}",
        start.elapsed()
    );
    assert!(accepted_packet > 0);
    assert!(accepted > count / 50, "the generator should produce some accepted programs ({accepted})");
}
