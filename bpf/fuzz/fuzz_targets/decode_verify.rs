//! Fuzz decode + verify, then run whatever the verifier accepts: decoding and verification
//! must never panic, and an accepted program must run without a memory fault or budget
//! overrun within the verifier's worst-case instruction bound.
//!
//! `cargo +nightly fuzz run decode_verify` from `bpf/`.
#![no_main]

use kingly_bpf::{Env, FixedPlatform, Interpreter, Map, MapDef, MapKind, Program, ProgramType};
use libfuzzer_sys::fuzz_target;

const MAPS: [MapDef; 2] = [
    MapDef { kind: MapKind::Array, key_size_bytes: 4, value_size_bytes: 16, max_entries: 4 },
    MapDef { kind: MapKind::Hash, key_size_bytes: 4, value_size_bytes: 8, max_entries: 4 },
];

fuzz_target!(|data: &[u8]| {
    let Some((&mem_len, code)) = data.split_first() else { return };
    let mem_len = (mem_len % 33) as u32;
    let prog_type = ProgramType::conformance(mem_len);
    let options = kingly_bpf::Options { max_insns_processed: 50_000, ..Default::default() };
    let Ok(slots) = kingly_bpf::isa::slots_from_bytes(code) else { return };
    let Ok(prog) = Program::load_slots(slots, &prog_type, &MAPS, &options) else { return };
    let bound = prog.stats().worst_case_path_insns;
    let mut maps: Vec<Map> = MAPS.iter().map(|d| Map::new(*d, 1).unwrap()).collect();
    let mut mem = vec![0xa5u8; mem_len as usize];
    let mut platform = FixedPlatform::default();
    let mut env = Env { maps: &mut maps, platform: &mut platform, budget_insns: bound };
    let mut interp = Interpreter::new();
    if let Err(e) = interp.run(&prog, &mut mem, &mut env) {
        panic!("accepted program failed at run time: {e}");
    }
});
