//! The BTF decoder reads outside input: a real clang-14 object (tests/c/btf_maps.c) with its
//! `.BTF` section mutated — bytes flipped, words replaced by edge values, the section cut short —
//! must load or fail with an error, never panic or hang.
#![cfg(feature = "elf")]

use std::sync::OnceLock;

mod common;

use kingly_bpf::btf::Btf;
use kingly_bpf::elf;
use proptest::prelude::*;

/// The object and the byte range of its `.BTF` section.
fn object() -> &'static (Vec<u8>, std::ops::Range<usize>) {
    static OBJECT: OnceLock<(Vec<u8>, std::ops::Range<usize>)> = OnceLock::new();
    OBJECT.get_or_init(|| {
        let bytes = common::compile_c("btf_maps.c", &[]);
        let range = section(&bytes, ".BTF").expect("clang -g writes .BTF");
        elf::load(&bytes).expect("the unmutated object loads");
        (bytes, range)
    })
}

/// The file range of the ELF64 little-endian section called `name`.
fn section(elf: &[u8], name: &str) -> Option<std::ops::Range<usize>> {
    let u16_at = |o: usize| u16::from_le_bytes(elf[o..o + 2].try_into().unwrap()) as usize;
    let u32_at = |o: usize| u32::from_le_bytes(elf[o..o + 4].try_into().unwrap()) as usize;
    let u64_at = |o: usize| u64::from_le_bytes(elf[o..o + 8].try_into().unwrap()) as usize;
    let (shoff, shentsize, shnum, shstrndx) = (u64_at(0x28), u16_at(0x3a), u16_at(0x3c), u16_at(0x3e));
    let header = |i: usize| shoff + i * shentsize;
    let strtab = u64_at(header(shstrndx) + 0x18);
    (0..shnum).find_map(|i| {
        let start = strtab + u32_at(header(i));
        let end = start + elf[start..].iter().position(|&b| b == 0)?;
        (&elf[start..end] == name.as_bytes()).then(|| {
            let offset = u64_at(header(i) + 0x18);
            offset..offset + u64_at(header(i) + 0x20)
        })
    })
}

fn persistence() -> Option<Box<dyn proptest::test_runner::FailurePersistence>> {
    Some(Box::new(proptest::test_runner::FileFailurePersistence::Direct("tests/btf_mutations.proptest-regressions")))
}

/// Words that break sizes, ids, counts and offsets.
fn edge_word() -> impl Strategy<Value = u32> {
    prop_oneof![
        Just(0u32),
        Just(1),
        Just(0xffff),
        Just(0x7fff_ffff),
        Just(0xffff_ffff),
        Just(0x0300_0001), // an ARRAY kind with vlen 1
        Just(0x0400_ffff), // a STRUCT with 65535 members
        Just(0x1f00_0000), // kind 31
        0u32..64,          // a type id or a small count
        any::<u32>(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: persistence(), ..ProptestConfig::default() })]

    #[test]
    fn flipped_btf_bytes_never_panic(edits in prop::collection::vec((any::<usize>(), any::<u8>()), 1..8)) {
        let (bytes, btf) = object();
        let mut mutated = bytes.clone();
        for (at, value) in edits {
            mutated[btf.start + at % btf.len()] = value;
        }
        let _ = elf::load(&mutated);
    }

    #[test]
    fn edge_words_in_btf_never_panic(edits in prop::collection::vec((any::<usize>(), edge_word()), 1..4)) {
        let (bytes, btf) = object();
        let mut mutated = bytes.clone();
        for (at, word) in edits {
            let at = btf.start + (at % (btf.len() / 4)) * 4;
            mutated[at..at + 4].copy_from_slice(&word.to_le_bytes());
        }
        let _ = elf::load(&mutated);
    }

    #[test]
    fn cut_or_mutated_btf_alone_never_panics(cut in any::<usize>(), edits in prop::collection::vec((any::<usize>(), any::<u8>()), 0..4)) {
        let (bytes, btf) = object();
        let mut section = bytes[btf.clone()].to_vec();
        for (at, value) in edits {
            let len = section.len();
            section[at % len] = value;
        }
        section.truncate(cut % (section.len() + 1));
        if let Ok(btf) = Btf::parse(&section) {
            let _ = btf.maps();
            for id in 0..=btf.type_count() as u32 + 1 {
                let _ = btf.size_of(id);
            }
        }
    }
}

#[test]
fn a_broken_header_is_an_error() {
    let (bytes, btf) = object();
    for (offset, value) in [(0usize, 0u8), (1, 0x9f), (2, 2), (7, 0x80), (11, 0x80), (15, 0x80), (19, 0x80), (23, 0x80)]
    {
        let mut mutated = bytes.clone();
        mutated[btf.start + offset] = value;
        let error = elf::load(&mutated).unwrap_err();
        assert!(error.to_string().contains(".BTF header"), "byte {offset} = {value}: {error}");
    }
}
