//! Compiles a C program with clang-14 (map, bounded loop, local call, atomic), loads the ELF
//! object, verifies it and runs it twice against the same map.
#![cfg(feature = "elf")]

mod common;

use kingly_bpf::{elf, isa, Env, FixedPlatform, Interpreter, Map, Program, ProgramType};

fn compile(source: &str, mcpu: &str) -> Vec<u8> {
    common::compile_c(source, &[&format!("-mcpu={mcpu}")])
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

/// Compiles C `source` (written to a temporary file named after `name`) with clang-14 and `-g`,
/// which is what puts the `.BTF` section describing `SEC(".maps")` maps into the object.
fn compile_source(name: &str, source: &str, debug: bool) -> Vec<u8> {
    let dir = std::env::temp_dir().join(format!("kingly-elf-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let src = dir.join(format!("{name}.c"));
    std::fs::write(&src, source).unwrap();
    common::compile_file(&src, &[if debug { "-g" } else { "-g0" }])
}

fn map<'a>(object: &'a elf::ElfObject, name: &str) -> (usize, &'a elf::ElfMap) {
    object.maps.iter().enumerate().find(|(_, m)| m.name == name).unwrap_or_else(|| panic!("no map {name}"))
}

#[test]
fn clang_btf_maps_beside_a_legacy_map_load_verify_and_run() {
    use kingly_bpf::{MapDef, MapKind};
    for mcpu in ["v1", "v2", "v3"] {
        let object = elf::load(&compile("btf_maps.c", mcpu)).unwrap_or_else(|e| panic!("-mcpu={mcpu}: {e}"));
        assert_eq!(object.maps.len(), 3, "{:?}", object.maps);
        let (sums, sums_map) = map(&object, "sums");
        let (last, last_map) = map(&object, "last");
        let (calls, calls_map) = map(&object, "calls");
        assert_eq!(
            sums_map.def,
            MapDef { kind: MapKind::Hash, key_size_bytes: 4, value_size_bytes: 16, max_entries: 8 }
        );
        assert_eq!(
            last_map.def,
            MapDef { kind: MapKind::Array, key_size_bytes: 4, value_size_bytes: 8, max_entries: 4 }
        );
        assert_eq!(
            calls_map.def,
            MapDef { kind: MapKind::Array, key_size_bytes: 4, value_size_bytes: 8, max_entries: 2 }
        );

        let prog = object.program("prog").expect("prog section");
        let prog_type = ProgramType::with_struct_context("test", 8);
        let defs = object.map_defs();
        let verified = Program::load_with_maps(&isa::slots_to_bytes(&prog.slots), &prog_type, &defs)
            .unwrap_or_else(|e| panic!("-mcpu={mcpu}: {e}"));
        let mut maps: Vec<Map> = defs.iter().map(|d| Map::new(*d, 1).unwrap()).collect();
        let mut platform = FixedPlatform::default();
        let mut interp = Interpreter::new();
        let mut run = |maps: &mut Vec<Map>, key: u32, sample: u32| {
            let mut ctx = [0u8; 8];
            ctx[0..4].copy_from_slice(&key.to_le_bytes());
            ctx[4..8].copy_from_slice(&sample.to_le_bytes());
            let mut env = Env { maps, platform: &mut platform, budget_insns: 1 << 20 };
            interp.run(&verified, &mut ctx, &mut env).unwrap()
        };
        // Each relocation reached its own map: the hash sums per key, the array keeps the last
        // sample per slot, the legacy array counts calls.
        assert_eq!(run(&mut maps, 5, 10), 10);
        assert_eq!(run(&mut maps, 5, 7), 17);
        assert_eq!(run(&mut maps, 6, 3), 3);
        let mut pair = [0u8; 16];
        pair[0..8].copy_from_slice(&17u64.to_le_bytes());
        pair[8..16].copy_from_slice(&2u64.to_le_bytes());
        assert_eq!(maps[sums].lookup(&5u32.to_le_bytes()), Some(&pair[..]), "-mcpu={mcpu}");
        assert_eq!(maps[last].lookup(&1u32.to_le_bytes()), Some(&7u64.to_le_bytes()[..]));
        assert_eq!(maps[last].lookup(&2u32.to_le_bytes()), Some(&3u64.to_le_bytes()[..]));
        assert_eq!(maps[calls].lookup(&0u32.to_le_bytes()), Some(&3u64.to_le_bytes()[..]));
    }
}

/// A one-map program around `map_body` (the members of a `SEC(".maps")` struct).
fn btf_map_source(map_body: &str) -> String {
    format!(
        "typedef unsigned int u32;\n\
         typedef unsigned long long u64;\n\
         #define SEC(n) __attribute__((section(n), used))\n\
         #define __uint(name, val) int (*name)[val]\n\
         #define __type(name, val) typeof(val) *name\n\
         static void *(*bpf_map_lookup_elem)(void *map, const void *key) = (void *)1;\n\
         struct undefined;\n\
         struct {{ {map_body} }} m SEC(\".maps\");\n\
         SEC(\"prog\") int f(void *ctx) {{ u32 k = 0; return bpf_map_lookup_elem(&m, &k) != 0; }}\n"
    )
}

#[test]
fn btf_maps_that_kingly_cannot_use_are_refused_with_the_reason() {
    let cases = [
        (
            "lru",
            "__uint(type, 9); __uint(max_entries, 4); __type(key, u32); __type(value, u64);",
            "map m: map type 9 (lru_hash) is not supported; Kingly has hash (1), array (2) and percpu_array (6)",
        ),
        ("ringbuf", "__uint(type, 27); __uint(max_entries, 4096);", "map type 27 (ringbuf) is not supported"),
        (
            "map_in_map",
            "__uint(type, 12); __uint(max_entries, 1); __type(key, u32); __type(values, u32);",
            "map m: map type 12 (array_of_maps) is not supported",
        ),
        (
            "no_max",
            "__uint(type, 1); __type(key, u32); __type(value, u64);",
            "map m: it has no max_entries: add __uint(max_entries, N)",
        ),
        ("no_type", "__uint(max_entries, 4); __type(key, u32); __type(value, u64);", "map m: it has no type"),
        (
            "no_value",
            "__uint(type, 2); __uint(max_entries, 4); __type(key, u32);",
            "map m: it has no value: add __type(value, TYPE) or __uint(value_size, N)",
        ),
        (
            "void_key",
            "__uint(type, 1); __uint(max_entries, 4); __type(key, void); __type(value, u64);",
            "map m: the key type has no size",
        ),
        (
            "fwd_value",
            "__uint(type, 1); __uint(max_entries, 4); __type(key, u32); __type(value, struct undefined);",
            "map m: the value type has no size",
        ),
        (
            "mismatch",
            "__uint(type, 1); __uint(max_entries, 4); __type(key, u64); __uint(key_size, 4); __type(value, u64);",
            "map m: the key type is 8 bytes but key_size says 4",
        ),
        (
            "flags",
            "__uint(type, 1); __uint(max_entries, 4); __type(key, u32); __type(value, u64); __uint(map_flags, 1);",
            "map m: map_flags 0x1 is not supported",
        ),
        (
            "pinned",
            "__uint(type, 1); __uint(max_entries, 4); __type(key, u32); __type(value, u64); __uint(pinning, 1);",
            "map m: pinning 1 is not supported: Kingly has no BPF filesystem",
        ),
        (
            "numa",
            "__uint(type, 1); __uint(max_entries, 4); __type(key, u32); __type(value, u64); __uint(numa_node, 0);",
            "map m: member numa_node is not supported",
        ),
        (
            "plain_int",
            "int type; __uint(max_entries, 4); __type(key, u32); __type(value, u64);",
            "map m: member type must be written __uint(type, N)",
        ),
        (
            "value_not_type",
            "__uint(type, 1); __uint(max_entries, 4); __type(key, u32); u64 value;",
            "map m: member value must be written __type(value, TYPE)",
        ),
    ];
    for (name, body, expected) in cases {
        let error = elf::load(&compile_source(name, &btf_map_source(body), true)).map(|o| o.maps).unwrap_err();
        assert!(error.to_string().contains(expected), "{name}: {error}");
    }
    // Legacy definitions: map_flags refused the same way, and unsupported types named.
    let legacy = |name: &str, def: &str| {
        let source = format!(
            "struct bpf_map_def {{ unsigned type, key_size, value_size, max_entries, map_flags; }};\n\
             struct bpf_map_def __attribute__((section(\"maps\"), used)) m = {{ {def} }};\n\
             static void *(*lookup)(void *map, const void *key) = (void *)1;\n\
             __attribute__((section(\"prog\"), used)) int f(void *ctx) {{ int k = 0; return lookup(&m, &k) != 0; }}\n"
        );
        elf::load(&compile_source(name, &source, false)).unwrap_err().to_string()
    };
    let error = legacy("legacy_flags", "1, 4, 8, 4, 1");
    assert!(error.contains("map m: map_flags 0x1 is not supported"), "{error}");
    let error = legacy("legacy_lru", "9, 4, 8, 4, 0");
    assert!(error.contains("map m: map type 9 (lru_hash) is not supported"), "{error}");
    // Global variables are not maps: say so instead of "an unknown symbol".
    for (name, declaration, expected) in [
        ("global", "unsigned long long counter;", "prog uses global variable counter in .bss"),
        ("static_global", "static unsigned long long counter = 3;", "prog uses global variable at offset 0 in .data"),
    ] {
        let source = format!(
            "{declaration}\n__attribute__((section(\"prog\"), used)) int f(void *ctx) {{ return ++counter; }}\n"
        );
        let error = elf::load(&compile_source(name, &source, true)).unwrap_err().to_string();
        assert!(error.contains(expected), "{name}: {error}");
        assert!(error.contains("keep state only in maps"), "{name}: {error}");
    }

    // Without -g there is no .BTF to describe `.maps`: say how to get one.
    let body = "__uint(type, 1); __uint(max_entries, 4); __type(key, u32); __type(value, u64);";
    let error = elf::load(&compile_source("no_g", &btf_map_source(body), false)).unwrap_err();
    assert_eq!(error, elf::ElfError::MapsNeedBtf);
    assert!(error.to_string().contains("compile with -g"), "{error}");
    // The same map compiled with -g loads, and a `static` one is reached through its section symbol.
    let object = elf::load(&compile_source("ok", &btf_map_source(body), true)).unwrap();
    assert_eq!(object.maps[0].def.kind, kingly_bpf::MapKind::Hash);
    let static_source = btf_map_source(body).replace("struct {", "static struct {");
    let object = elf::load(&compile_source("static", &static_source, true)).unwrap();
    assert_eq!((object.maps.len(), object.maps[0].name.as_str()), (1, "m"));
    let prog = object.program("prog").unwrap();
    assert!(prog.slots.iter().any(|s| s.opcode == 0x18 && s.src == isa::PSEUDO_MAP_INDEX && s.imm == 0));
}
