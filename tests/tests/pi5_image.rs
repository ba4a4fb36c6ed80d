//! The Pi 5 kernel cannot boot in QEMU (no machine emulates the BCM2712), so its build is
//! checked at the ELF and image level: linked where `config.txt` loads it, carrying the BCM2712
//! addresses and not the Pi 4's, and put on the card by `kingly image --board pi5` as
//! `kernel_2712.img`, byte for byte.

use kingly::board::Board;
use kingly::image::{ImageArgs, ImageBoard};
use std::path::{Path, PathBuf};
use std::process::Command;

fn contains_u64(image: &[u8], value: u64) -> bool {
    image.windows(8).any(|w| w == value.to_le_bytes())
}

/// `e_entry` of an ELF64 little-endian file.
fn elf_entry(elf: &[u8]) -> u64 {
    assert_eq!(&elf[..6], b"\x7fELF\x02\x01", "a 64-bit little-endian ELF");
    u64::from_le_bytes(elf[24..32].try_into().unwrap())
}

#[test]
fn pi5_kernel_is_linked_for_the_bcm2712() {
    // Built once per test process (the tests share the output files).
    let pi5 = kingly_tests::kernel(Board::Pi5);
    let pi4 = kingly_tests::kernel(Board::Raspi4b);
    // config.txt's kernel_address=0x80000; TF-A owns 0x0-0x80000 on the Pi 5.
    assert_eq!(elf_entry(&std::fs::read(&pi5.elf).unwrap()), 0x80000);
    let image = std::fs::read(&pi5.image).unwrap();
    let pi4_image = std::fs::read(&pi4.image).unwrap();
    // The board table's MMIO addresses: debug UART, GIC-400 distributor and CPU interface,
    // always-on GPIO (ACT LED) — all above 64 GiB, where the Pi 4 has nothing.
    for address in [0x10_7D00_1000u64, 0x10_7FFF_9000, 0x10_7FFF_A000, 0x10_7D51_7C00] {
        assert!(contains_u64(&image, address), "the Pi 5 kernel lacks {address:#x}");
        assert!(!contains_u64(&pi4_image, address), "the Pi 4 kernel has {address:#x}");
    }
    // ...and none of the Pi 4's, which the Pi 4 kernel has.
    for address in [0xFE20_1000u64, 0xFF84_1000, 0xFF84_2000] {
        assert!(!contains_u64(&image, address), "the Pi 5 kernel has the Pi 4's {address:#x}");
        assert!(contains_u64(&pi4_image, address), "the Pi 4 kernel lacks {address:#x}");
    }
}

#[test]
fn image_for_pi5_carries_the_built_pi5_kernel() {
    // SD cards carry the production kernel (no test suites), the one `kingly image` builds;
    // built here first, so the card's copy can be compared with it (the other test boots
    // nothing and builds the suites variant, in its own directory).
    let built = kingly::kernel_build::build(Board::Pi5, kingly::kernel_build::Variant::Production, true)
        .expect("building the production Pi 5 kernel");
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("pi5-image-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let output = dir.join("kingly.img");
    let dtb = std::env::var_os("KINGLY_DTB_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/dtb"));
    let args = ImageArgs {
        board: ImageBoard::Pi5,
        firmware: None,
        dtb: Some(dtb),
        size: 64,
        kernel_pi4: None,
        kernel_pi5: None,
        chainload: false,
        baud: None,
        output: output.clone(),
        write: None,
        yes: false,
    };
    assert_eq!(kingly::image::run(&args).expect("kingly image --board pi5"), 0);
    let copy = dir.join("kernel_2712.img");
    let status = Command::new("mcopy")
        .args(["-n", "-i", &format!("{}@@1M", output.display()), "::/kernel_2712.img"])
        .arg(&copy)
        .status()
        .expect("running mcopy (mtools; .ci/setup installs it)");
    assert!(status.success());
    assert_eq!(std::fs::read(&copy).unwrap(), std::fs::read(&built.image).unwrap());
    let _ = std::fs::remove_dir_all(&dir);
}
