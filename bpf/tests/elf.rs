//! Compiles a C program with clang-14 (map, bounded loop, local call, atomic), loads the ELF
//! object, verifies it and runs it twice against the same map.
#![cfg(feature = "elf")]

use std::path::Path;
use std::process::Command;

use kingly_bpf::{elf, isa, Env, FixedPlatform, Interpreter, Map, Program, ProgramType};

fn compile(source: &str, mcpu: &str) -> Vec<u8> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/c").join(source);
    let out = std::env::temp_dir().join(format!("kingly-{}-{mcpu}-{}.o", source, std::process::id()));
    let status = Command::new("clang-14")
        .args(["-O2", "-g", "-target", "bpf", &format!("-mcpu={mcpu}"), "-c"])
        .arg(&src)
        .arg("-o")
        .arg(&out)
        .status()
        .expect("clang-14 is required (installed by .ci/run)");
    assert!(status.success());
    std::fs::read(&out).unwrap()
}

#[test]
fn clang_program_with_map_and_loop_loads_verifies_and_runs() {
    for mcpu in ["v1", "v2", "v3"] {
        let object = elf::load(&compile("counter.c", mcpu)).unwrap();
        assert_eq!(object.maps.len(), 1);
        let prog = object.program("prog").expect("prog section");
        let prog_type = ProgramType::with_struct_context("test", 64);
        let defs = object.map_defs();
        let verified = Program::load_with_maps(&isa::slots_to_bytes(&prog.slots), &prog_type, &defs)
            .unwrap_or_else(|e| panic!("-mcpu={mcpu}: {e}"));
        let stats = verified.stats().unwrap();
        println!("-mcpu={mcpu}: {stats:?}");
        assert!(stats.worst_case_path_insns > 10 * 5, "the loop runs ten times");

        let mut maps: Vec<Map> = defs.iter().map(|d| Map::new(*d, 1).unwrap()).collect();
        let mut ctx = [0u8; 64];
        let mut platform = FixedPlatform::default();
        let mut interp = Interpreter::new();
        let mut run = |maps: &mut Vec<Map>| {
            let mut env = Env { maps, platform: &mut platform, budget_insns: 1 << 20 };
            interp.run(&verified, &mut ctx, &mut env).unwrap()
        };
        // Squares 0..10 sum to 285; the second run sees every counter doubled.
        assert_eq!(run(&mut maps), 285);
        assert_eq!(run(&mut maps), 570);
        assert_eq!(maps[0].lookup(&3u32.to_le_bytes()), Some(&18u64.to_le_bytes()[..]));
    }
}

#[test]
fn clang_histogram_with_computed_indices_verifies_and_runs() {
    for mcpu in ["v2", "v3"] {
        let object = elf::load(&compile("histogram.c", mcpu)).unwrap();
        let prog = object.program("prog").expect("prog section");
        let prog_type = ProgramType::with_struct_context("test", 40);
        let defs = object.map_defs();
        let verified =
            Program::load_with_maps(&isa::slots_to_bytes(&prog.slots), &prog_type, &defs).unwrap_or_else(|e| {
                let decoded = isa::decode_program(prog.slots.clone()).unwrap();
                panic!("-mcpu={mcpu}: {e}\n{}", kingly_bpf::disasm::format_program(&decoded.insns))
            });
        println!("-mcpu={mcpu}: {:?}", verified.stats().unwrap());
        let mut maps: Vec<Map> = defs.iter().map(|d| Map::new(*d, 1).unwrap()).collect();
        let mut ctx = [0u8; 40];
        ctx[0..4].copy_from_slice(&7u32.to_le_bytes());
        ctx[4..8].copy_from_slice(&5u32.to_le_bytes());
        ctx[8..13].copy_from_slice(&[0x10, 0x20, 0x21, 0xff, 0x30]);
        let mut platform = FixedPlatform::default();
        let mut env = Env { maps: &mut maps, platform: &mut platform, budget_insns: 1 << 20 };
        let r0 = Interpreter::new().run(&verified, &mut ctx, &mut env).unwrap();
        assert_eq!(r0, 0x10 + 0x20 + 0x21);
    }
}

#[test]
fn clang_packet_program_checks_data_end_and_runs() {
    use kingly_bpf::ContextKind;
    for mcpu in ["v2", "v3"] {
        let object = elf::load(&compile("checksum.c", mcpu)).unwrap();
        let prog = object.program("tool").expect("tool section");
        let prog_type = ProgramType {
            context: ContextKind::Packet { size_bytes: 16, data_offset: 0, data_end_offset: 8, writable_packet: false },
            // C `int` results arrive zero-extended: -1 is 0xffffffff.
            return_range: Some((0, u32::MAX as i64)),
            ..ProgramType::with_struct_context("tool", 16)
        };
        let verified = Program::load(&isa::slots_to_bytes(&prog.slots), &prog_type).unwrap_or_else(|e| {
            let decoded = isa::decode_program(prog.slots.clone()).unwrap();
            panic!("-mcpu={mcpu}: {e}\n{}", kingly_bpf::disasm::format_program(&decoded.insns))
        });
        println!("-mcpu={mcpu}: {:?}", verified.stats().unwrap());
        let mut platform = FixedPlatform::default();
        let mut interp = Interpreter::new();
        let mut run = |packet: &mut [u8]| {
            let mut env = Env { maps: &mut [], platform: &mut platform, budget_insns: 1 << 20 };
            interp.run_with_packet(&verified, &mut [0u8; 16], packet, &mut env).unwrap() as u32 as i32
        };
        assert_eq!(run(&mut [1]), -1);
        assert_eq!(run(&mut [3, 0, 1, 2, 3]), (31 + 2) * 31 + 3);
        // The count claims more bytes than the packet holds: the data_end check stops the loop.
        assert_eq!(run(&mut [9, 0, 1, 2]), 31 + 2);
    }
}
