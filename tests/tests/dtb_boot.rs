//! The device-tree boot path: QEMU `raspi4b` given the real `bcm2711-rpi-4-b.dtb` (`-dtb`)
//! passes it in x0 like the Pi firmware does; the kernel must take its devices and its RAM from
//! it. Without one, or with one it cannot use, it must say so and boot from the board table.
//!
//! The tree comes from `scripts/fetch-dtbs.sh` (CI's setup runs it) or `KINGLY_DTB_DIR`.

use kingly::board::Board;
use kingly::qemu::RunConfig;
use kingly_tests::{fields, Booted};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

/// One QEMU at a time: the machine is shared and the boots are timing-sensitive.
static ONE_QEMU: Mutex<()> = Mutex::new(());

fn pi4_dtb() -> PathBuf {
    let dir = std::env::var_os("KINGLY_DTB_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/dtb"));
    let path = dir.join("bcm2711-rpi-4-b.dtb");
    assert!(path.is_file(), "{} is missing: run scripts/fetch-dtbs.sh or set KINGLY_DTB_DIR", path.display());
    path
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("dtb-boot-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The tree exactly as QEMU hands it to the kernel (it fills in `/memory`, drops devices it
/// does not emulate): QEMU's `dumpdtb` writes it after those changes and exits.
fn tree_qemu_passes(dtb: &Path) -> Vec<u8> {
    let out = scratch("dump").join("passed.dtb");
    let mut config = RunConfig::new(Board::Raspi4b, kingly_tests::kernel(Board::Raspi4b).image);
    config.dtb = Some(dtb.to_path_buf());
    config.extra_args = vec!["-machine".into(), format!("dumpdtb={}", out.display())];
    let status = config.command().output().expect("running QEMU").status;
    assert!(status.success(), "QEMU dumpdtb failed: {status}");
    std::fs::read(&out).unwrap()
}

fn hex_field(line: &str, key: &str) -> u64 {
    let value = line.split_whitespace().find_map(|w| w.strip_prefix(key)).unwrap_or_else(|| panic!("{key} in {line}"));
    let digits = value.trim_start_matches("0x").trim_end_matches([',', ')']);
    u64::from_str_radix(digits, 16).unwrap_or_else(|e| panic!("{key}{value}: {e}"))
}

#[test]
fn raspi4b_takes_devices_and_heap_from_the_real_device_tree() {
    let _one = ONE_QEMU.lock().unwrap_or_else(|e| e.into_inner());
    let dtb = pi4_dtb();
    let passed = tree_qemu_passes(&dtb);
    let tree = kingly_kernel::dtb::probe(&passed).expect("the tree QEMU passes probes");
    let &[(ram_base, ram_size)] = tree.memory.as_slice() else { panic!("one RAM region: {:x?}", tree.memory) };

    let mut kernel = Booted::start_with_dtb(Board::Raspi4b, &dtb, "").unwrap();
    let ready = kernel.wait_for_line(|l| l.starts_with("kingly ready:"), Duration::from_secs(90)).unwrap();
    let output = kernel.output.clone();
    let line = |prefix: &str| {
        output.lines().find(|l| l.starts_with(prefix)).unwrap_or_else(|| panic!("no '{prefix}' line in:\n{output}"))
    };
    let banner = line("Kingly ");
    let dtb_address = hex_field(banner, "dtb=");
    assert_ne!(dtb_address, 0, "x0 must hold the tree: {banner}");

    let devices = line("devices:");
    assert!(
        devices.starts_with(&format!("devices: from the device tree at {dtb_address:#x} (Raspberry Pi 4 Model B)")),
        "{devices}"
    );
    assert!(devices.contains("uart 0xfe201000 intid 153, gic 0xff841000/0xff842000, timer intid 30"), "{devices}");

    // The RAM is the tree's memory node, and the heap is what lies above the tree in it.
    let memory = line("memory:");
    assert!(memory.contains(&format!("{} MiB RAM at {ram_base:#x} (from device tree)", ram_size >> 20)), "{memory}");
    let page_up = |a: u64| a.div_ceil(4096) * 4096;
    let heap_start = page_up(dtb_address + passed.len() as u64);
    assert!(memory.ends_with(&format!("at {heap_start:#x}")), "the heap starts right above the tree: {memory}");
    assert_eq!(fields(&ready)["heap"], ram_base + ram_size - heap_start, "{ready}");
    assert_eq!(fields(&ready)["cpus"], 4, "{ready}");

    // The kernel serves its console as usual.
    assert!(kernel.ask("info", "info:").unwrap().contains("board=raspi4b"));
}

#[test]
fn without_a_usable_device_tree_the_board_table_is_used() {
    let _one = ONE_QEMU.lock().unwrap_or_else(|e| e.into_inner());
    let kernel = Booted::boot(Board::Raspi4b, "").unwrap();
    let devices = kernel.output.lines().find(|l| l.starts_with("devices:")).unwrap_or_default().to_string();
    assert_eq!(devices, "devices: from the raspi4b board table (no device tree)", "{}", kernel.output);
    assert!(kernel.output.contains("(from mailbox)"), "{}", kernel.output);
    drop(kernel);

    // A tree without a GIC (its compatible renamed; QEMU passes it on unchecked) cannot
    // describe the board: the kernel says why and boots from the table and the mailbox.
    let real = std::fs::read(pi4_dtb()).unwrap();
    let at = real.windows(11).position(|w| w == b"arm,gic-400").expect("the Pi 4 tree names its GIC");
    let mut blob = real.clone();
    blob[at..at + 11].copy_from_slice(b"arm,gic-4x0");
    let bad = scratch("bad").join("garbage.dtb");
    std::fs::write(&bad, &blob).unwrap();
    let mut kernel = Booted::start_with_dtb(Board::Raspi4b, &bad, "").unwrap();
    let ready = kernel.wait_for_line(|l| l.starts_with("kingly ready:"), Duration::from_secs(90));
    let devices = kernel.output.lines().find(|l| l.starts_with("devices:")).unwrap_or_default().to_string();
    assert!(ready.is_ok(), "{}", kernel.output);
    assert!(devices.starts_with("devices: from the raspi4b board table: the device tree at "), "{}", kernel.output);
    assert!(devices.ends_with("is unusable: device tree has no arm,gic-400 interrupt controller"), "{devices}");
    assert!(kernel.output.contains("(from mailbox)"), "{}", kernel.output);
}
