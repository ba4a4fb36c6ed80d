//! The loader's line-rate plumbing: `/chosen/bootargs` found in built trees and in the real
//! Raspberry Pi 4 tree, and no byte sequence (random, or a valid tree with bytes changed)
//! makes the device-tree walk or the `kingly.baud=` parser panic or return a rate the
//! loader does not offer.

use kingly_proto::line_rate::{
    baud_from_bootargs, baud_from_tree, chosen_bootargs, dtb_total_size, DtbError, LineRateError, SUPPORTED_BAUD_RATES,
};
use proptest::prelude::*;

const PI4_UART_CLOCK_HZ: u32 = 48_000_000;
const HEADER_BYTES: usize = 40;

/// A version-17 tree: `/` with `model` and a `/soc` node, `/chosen` with `chosen_props`, and
/// `/chosen/child`; both `/soc` and the child carry a `bootargs` that is not /chosen's.
fn tree(chosen_props: &[(&str, &[u8])]) -> Vec<u8> {
    fn pad(structure: &mut Vec<u8>) {
        while !structure.len().is_multiple_of(4) {
            structure.push(0);
        }
    }
    fn begin(structure: &mut Vec<u8>, name: &str) {
        structure.extend_from_slice(&1u32.to_be_bytes());
        structure.extend_from_slice(name.as_bytes());
        structure.push(0);
        pad(structure);
    }
    fn end(structure: &mut Vec<u8>) {
        structure.extend_from_slice(&2u32.to_be_bytes());
    }
    fn prop(structure: &mut Vec<u8>, strings: &mut Vec<u8>, name: &str, value: &[u8]) {
        let offset = strings.len() as u32;
        strings.extend_from_slice(name.as_bytes());
        strings.push(0);
        structure.extend_from_slice(&3u32.to_be_bytes());
        structure.extend_from_slice(&(value.len() as u32).to_be_bytes());
        structure.extend_from_slice(&offset.to_be_bytes());
        structure.extend_from_slice(value);
        pad(structure);
    }
    let (mut structure, mut strings) = (Vec::new(), Vec::new());
    begin(&mut structure, "");
    prop(&mut structure, &mut strings, "model", b"Raspberry Pi 4 Model B\0");
    begin(&mut structure, "soc");
    prop(&mut structure, &mut strings, "bootargs", b"kingly.baud=9600\0");
    end(&mut structure);
    begin(&mut structure, "chosen");
    for (name, value) in chosen_props {
        prop(&mut structure, &mut strings, name, value);
    }
    begin(&mut structure, "child");
    prop(&mut structure, &mut strings, "bootargs", b"kingly.baud=19200\0");
    end(&mut structure);
    structure.extend_from_slice(&4u32.to_be_bytes()); // a NOP
    end(&mut structure);
    end(&mut structure);
    structure.extend_from_slice(&9u32.to_be_bytes());

    let struct_offset = HEADER_BYTES + 16; // then an empty memory reservation map
    let strings_offset = struct_offset + structure.len();
    let total = strings_offset + strings.len();
    let mut blob = Vec::new();
    let header =
        [0xd00d_feed, total, struct_offset, strings_offset, HEADER_BYTES, 17, 16, 0, strings.len(), structure.len()];
    for word in header {
        blob.extend_from_slice(&(word as u32).to_be_bytes());
    }
    blob.extend_from_slice(&[0u8; 16]);
    blob.extend_from_slice(&structure);
    blob.extend_from_slice(&strings);
    blob
}

#[test]
fn bootargs_come_from_chosen_only() {
    let blob = tree(&[("stdout-path", b"serial0\0"), ("bootargs", b"console=x kingly.baud=921600\0")]);
    assert_eq!(chosen_bootargs(&blob), Ok(Some("console=x kingly.baud=921600")));
    assert_eq!(baud_from_tree(&blob, PI4_UART_CLOCK_HZ), Ok(Some(921_600)));
    let without = tree(&[("stdout-path", b"serial0\0")]);
    assert_eq!(chosen_bootargs(&without), Ok(None), "the /soc and /chosen/child bootargs are not /chosen's");
    assert_eq!(baud_from_tree(&without, PI4_UART_CLOCK_HZ), Ok(None));
    let refused = tree(&[("bootargs", b"kingly.baud=12345\0")]);
    assert_eq!(baud_from_tree(&refused, PI4_UART_CLOCK_HZ), Err(LineRateError::Unsupported { baud: 12345 }));
    let header: [u8; 8] = blob[..8].try_into().unwrap();
    assert_eq!(dtb_total_size(&header), Some(blob.len()));
}

#[test]
fn broken_trees_are_errors_not_panics() {
    let blob = tree(&[("bootargs", b"kingly.baud=921600\0")]);
    assert_eq!(chosen_bootargs(b"not a tree at all, not at all, not at all"), Err(DtbError::NotADeviceTree));
    assert_eq!(chosen_bootargs(&blob[..30]), Err(DtbError::Truncated));
    assert_eq!(chosen_bootargs(&blob[..blob.len() - 4]), Err(DtbError::Truncated));
    let mut bad_token = blob.clone();
    bad_token[HEADER_BYTES + 16 + 3] = 7;
    assert_eq!(chosen_bootargs(&bad_token), Err(DtbError::Malformed));
    let latin1 = tree(&[("bootargs", b"caf\xe9\0")]);
    assert_eq!(chosen_bootargs(&latin1), Err(DtbError::BootargsNotText));
    assert_eq!(dtb_total_size(&[0; 8]), None);
    assert!(LineRateError::Tree(DtbError::Truncated).to_string().contains("truncated"));
}

/// The tree the Raspberry Pi 4 firmware starts from (`scripts/fetch-dtbs.sh`): walked to the
/// end without an error, with /chosen but no bootargs (the firmware adds them from cmdline.txt).
#[test]
fn the_real_pi4_tree_walks_cleanly() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/dtb/bcm2711-rpi-4-b.dtb");
    let Ok(blob) = std::fs::read(&path) else {
        assert!(std::env::var_os("CI").is_none(), "{} is missing: run scripts/fetch-dtbs.sh", path.display());
        eprintln!("skipped: {} is missing (scripts/fetch-dtbs.sh)", path.display());
        return;
    };
    assert_eq!(chosen_bootargs(&blob), Ok(None));
    assert_eq!(dtb_total_size(&blob[..8].try_into().unwrap()), Some(blob.len()));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = chosen_bootargs(&bytes);
        if let Ok(Some(baud)) = baud_from_tree(&bytes, PI4_UART_CLOCK_HZ) {
            prop_assert!(SUPPORTED_BAUD_RATES.contains(&baud));
        }
    }

    #[test]
    fn a_damaged_tree_never_panics(changes in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)) {
        let mut blob = tree(&[("stdout-path", b"serial0\0"), ("bootargs", b"kingly.baud=921600\0")]);
        for (index, byte) in changes {
            let at = index.index(blob.len());
            blob[at] = byte;
        }
        if let Ok(Some(baud)) = baud_from_tree(&blob, PI4_UART_CLOCK_HZ) {
            prop_assert!(SUPPORTED_BAUD_RATES.contains(&baud));
        }
    }

    #[test]
    fn any_command_line_gives_an_offered_rate_or_a_reason(bootargs in "(kingly\\.baud=[0-9+]{0,12}| |[a-z.=0-9]{1,10}){0,6}") {
        match baud_from_bootargs(&bootargs, PI4_UART_CLOCK_HZ) {
            Ok(Some(baud)) => prop_assert!(SUPPORTED_BAUD_RATES.contains(&baud)),
            Ok(None) => prop_assert!(!bootargs.split_ascii_whitespace().any(|word| word.starts_with("kingly.baud="))),
            Err(error) => prop_assert!(!error.to_string().is_empty()),
        }
    }
}
