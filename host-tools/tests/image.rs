//! `kingly image` checked by the real tools: `sfdisk` reads the partition table, `fsck.fat`
//! checks the file system, `mdir`/`mtype`/`mcopy` read the files back; the same inputs give the
//! same sha256; bad inputs fail with errors that say what to do.
//!
//! Kernels, firmware and device trees are small stand-ins made here, so the test needs no
//! kernel build; `real_firmware_and_device_trees` uses the real ones when they are installed.

use kingly::kernel_build::Variant;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const KINGLY: &str = env!("CARGO_BIN_EXE_kingly");

/// A fresh scratch directory under cargo's per-test temporary directory.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("image-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Marks stand-in bytes as an arm64 Linux `Image` (magic "ARM\x64" at byte 56), the least
/// `kingly image` takes for a raw kernel.
fn arm64_image(mut bytes: Vec<u8>) -> Vec<u8> {
    bytes[56..60].copy_from_slice(b"ARM\x64");
    bytes
}

/// Stand-in inputs: two kernels, the Pi 4 firmware with its licence, two device trees.
struct Inputs {
    dir: PathBuf,
}

impl Inputs {
    fn new(name: &str) -> Inputs {
        let dir = scratch(name);
        let pattern =
            |seed: u8, len: usize| (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect::<Vec<u8>>();
        std::fs::write(dir.join("kernel-pi4.img"), arm64_image(pattern(4, 300_000))).unwrap();
        std::fs::write(dir.join("kernel-pi5.img"), arm64_image(pattern(5, 200_001))).unwrap();
        std::fs::create_dir_all(dir.join("firmware")).unwrap();
        std::fs::write(dir.join("firmware/start4.elf"), pattern(7, 2_000_000)).unwrap();
        std::fs::write(dir.join("firmware/fixup4.dat"), pattern(8, 5_399)).unwrap();
        std::fs::write(dir.join("firmware/LICENCE.broadcom"), "Copyright (c) 2006, Broadcom Corporation.\n").unwrap();
        std::fs::create_dir_all(dir.join("dtb")).unwrap();
        for (name, seed) in [("bcm2711-rpi-4-b.dtb", 11), ("bcm2712-rpi-5-b.dtb", 12)] {
            let mut blob = vec![0xd0, 0x0d, 0xfe, 0xed];
            blob.extend(pattern(seed, 4_000));
            std::fs::write(dir.join("dtb").join(name), blob).unwrap();
        }
        Inputs { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// `kingly image` with every input given, plus `extra`.
    fn image(&self, board: &str, output: &Path, extra: &[&str]) -> Output {
        let mut command = Command::new(KINGLY);
        command.args(["image", "--board", board, "-o"]).arg(output);
        for (option, default) in [
            ("--firmware", "firmware"),
            ("--dtb", "dtb"),
            ("--kernel-pi4", "kernel-pi4.img"),
            ("--kernel-pi5", "kernel-pi5.img"),
        ] {
            if !extra.contains(&option) {
                command.arg(option).arg(self.path(default));
            }
        }
        command.args(extra);
        command.output().unwrap()
    }
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn run(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .env("MTOOLS_SKIP_CHECK", "1")
        .output()
        .unwrap_or_else(|error| panic!("{program} is needed ({error}): apt-get install dosfstools mtools fdisk"))
}

fn ok(program: &str, args: &[&str]) -> String {
    let output = run(program, args);
    assert!(
        output.status.success(),
        "{program} {args:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        stderr(&output)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn sha256(path: &Path) -> String {
    ok("sha256sum", &[path.to_str().unwrap()]).split_whitespace().next().unwrap().to_string()
}

/// Runs `fsck.fat -n` on the partition, cut out of the image at 1 MiB (sparse, so it is quick).
fn fsck_partition(image: &Path) -> String {
    let partition = image.with_extension("partition");
    let _ = std::fs::remove_file(&partition);
    ok(
        "dd",
        &[
            &format!("if={}", image.display()),
            &format!("of={}", partition.display()),
            "bs=1M",
            "skip=1",
            "conv=sparse",
            "status=none",
        ],
    );
    let report = ok("fsck.fat", &["-n", "-v", partition.to_str().unwrap()]);
    let _ = std::fs::remove_file(&partition);
    // fsck.fat -n exits 0 for some complaints (an unset free-cluster count, a dirty bit): none allowed.
    for complaint in ["should be", "dirty", "wrong", "Wrong", "differ", "Fix", "?"] {
        assert!(!report.contains(complaint), "fsck.fat complains ({complaint:?}):\n{report}");
    }
    report
}

fn mtools_image(image: &Path) -> String {
    format!("{}@@1M", image.display())
}

#[test]
fn both_boards_image_passes_sfdisk_fsck_and_mtools() {
    let inputs = Inputs::new("both");
    let image = inputs.path("kingly.img");
    let output = inputs.image("both", &image, &[]);
    assert!(output.status.success(), "kingly image failed: {}", stderr(&output));
    assert_eq!(std::fs::metadata(&image).unwrap().len(), 64 << 20, "default size is 64 MiB");

    let dump = ok("sfdisk", &["--dump", image.to_str().unwrap()]);
    let partition = dump.lines().find(|l| l.contains(": start=")).unwrap_or_else(|| panic!("no partition:\n{dump}"));
    let fields: Vec<String> = partition.split(':').nth(1).unwrap().split(',').map(|f| f.replace(' ', "")).collect();
    assert!(fields.contains(&"start=2048".to_string()), "{partition}");
    assert!(fields.contains(&format!("size={}", (64 << 20) / 512 - 2048)), "{partition}");
    assert!(fields.contains(&"type=c".to_string()), "{partition}");
    assert!(dump.contains("label: dos"), "{dump}");
    ok("sfdisk", &["--verify", image.to_str().unwrap()]);

    fsck_partition(&image);
    let mtools = mtools_image(&image);
    let info = ok("minfo", &["-i", &mtools]);
    assert!(info.contains("disk type=\"FAT32   \""), "not FAT32:\n{info}");

    let listing = ok("mdir", &["-b", "-i", &mtools, "::/"]);
    let mut names: Vec<&str> = listing.lines().map(|l| l.trim_start_matches("::/")).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "LICENCE.broadcom",
            "bcm2711-rpi-4-b.dtb",
            "bcm2712-rpi-5-b.dtb",
            "config.txt",
            "fixup4.dat",
            "kernel8.img",
            "kernel_2712.img",
            "start4.elf"
        ]
    );

    let config = ok("mtype", &["-i", &mtools, "::/config.txt"]);
    let lines: Vec<&str> = config.lines().map(str::trim).collect();
    for line in ["arm_64bit=1", "kernel_address=0x80000", "enable_uart=1", "os_check=0"] {
        assert!(lines.contains(&line), "config.txt lacks {line}:\n{config}");
    }
    let section = |name: &str| config.split(name).nth(1).and_then(|s| s.split("\n[").next()).unwrap_or("").to_string();
    assert!(section("[pi4]").lines().any(|l| l.trim() == "kernel=kernel8.img"), "{config}");
    assert!(section("[pi5]").lines().any(|l| l.trim() == "kernel=kernel_2712.img"), "{config}");
    assert!(section("[pi5]").lines().any(|l| l.trim() == "os_check=0"), "{config}");

    for (on_card, source) in [
        ("kernel8.img", "kernel-pi4.img"),
        ("kernel_2712.img", "kernel-pi5.img"),
        ("start4.elf", "firmware/start4.elf"),
        ("fixup4.dat", "firmware/fixup4.dat"),
        ("LICENCE.broadcom", "firmware/LICENCE.broadcom"),
        ("bcm2712-rpi-5-b.dtb", "dtb/bcm2712-rpi-5-b.dtb"),
    ] {
        let copy = inputs.path(&format!("copy-{on_card}"));
        ok("mcopy", &["-n", "-i", &mtools, &format!("::/{on_card}"), copy.to_str().unwrap()]);
        assert!(
            std::fs::read(&copy).unwrap() == std::fs::read(inputs.path(source)).unwrap(),
            "{on_card} differs from {source}"
        );
    }
}

#[test]
fn pi5_only_image_has_no_pi4_files() {
    let inputs = Inputs::new("pi5");
    let image = inputs.path("pi5.img");
    let output = inputs.image("pi5", &image, &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    let listing = ok("mdir", &["-b", "-i", &mtools_image(&image), "::/"]);
    assert!(listing.contains("kernel_2712.img") && listing.contains("bcm2712-rpi-5-b.dtb"), "{listing}");
    assert!(!listing.contains("start4.elf") && !listing.contains("kernel8.img"), "{listing}");
    fsck_partition(&image);
}

#[test]
fn larger_images_use_larger_clusters_and_stay_clean() {
    let inputs = Inputs::new("large");
    let image = inputs.path("large.img");
    let output = inputs.image("pi4", &image, &["--size", "512"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(std::fs::metadata(&image).unwrap().len(), 512 << 20);
    let info = ok("minfo", &["-i", &mtools_image(&image)]);
    assert!(info.contains("cluster size: 8 sectors"), "expected 4 KiB clusters:\n{info}");
    let report = fsck_partition(&image);
    assert!(report.contains("4096 bytes per cluster"), "{report}");
}

#[test]
fn same_inputs_give_the_same_sha256() {
    let inputs = Inputs::new("repro");
    let (first, second) = (inputs.path("first.img"), inputs.path("second.img"));
    assert!(inputs.image("both", &first, &[]).status.success());
    std::thread::sleep(std::time::Duration::from_millis(1100)); // a clock leak would show
    assert!(inputs.image("both", &second, &[]).status.success());
    assert_eq!(sha256(&first), sha256(&second));
    // `raspi4b`, `kingly boot`'s name for the Pi 4, names the same card.
    let (by_boot_name, by_image_name) = (inputs.path("by-boot-name.img"), inputs.path("by-image-name.img"));
    assert!(inputs.image("raspi4b", &by_boot_name, &[]).status.success());
    assert!(inputs.image("pi4", &by_image_name, &[]).status.success());
    assert_eq!(sha256(&by_boot_name), sha256(&by_image_name));

    // And a different kernel gives a different image.
    std::fs::write(inputs.path("kernel-pi4.img"), arm64_image(vec![7; 4096])).unwrap();
    let third = inputs.path("third.img");
    assert!(inputs.image("both", &third, &[]).status.success());
    assert_ne!(sha256(&first), sha256(&third));
}

/// `--chainload`: the card carries the serial loader in each board's kernel file, built here
/// (a few seconds once cached), and is as reproducible and as clean as any other card.
#[test]
fn chainload_images_carry_the_loader_reproducibly_and_pass_sfdisk_and_fsck() {
    let inputs = Inputs::new("chainload");
    let chainload_with = |board: &str, output: &Path, extra: &[&str]| {
        Command::new(KINGLY)
            .args(["image", "--chainload", "--board", board, "-o"])
            .arg(output)
            .arg("--firmware")
            .arg(inputs.path("firmware"))
            .arg("--dtb")
            .arg(inputs.path("dtb"))
            .args(extra)
            .output()
            .unwrap()
    };
    let chainload = |board: &str, output: &Path| chainload_with(board, output, &[]);
    for (board, on_card) in [("pi4", "kernel8.img"), ("pi5", "kernel_2712.img")] {
        let (first, second) = (inputs.path(&format!("{board}-1.img")), inputs.path(&format!("{board}-2.img")));
        let output = chainload(board, &first);
        assert!(output.status.success(), "kingly image --chainload --board {board} failed: {}", stderr(&output));
        std::thread::sleep(std::time::Duration::from_millis(1100)); // a clock leak would show
        assert!(chainload(board, &second).status.success());
        assert_eq!(sha256(&first), sha256(&second), "--chainload --board {board} is not reproducible");
        ok("sfdisk", &["--verify", first.to_str().unwrap()]);
        fsck_partition(&first);

        let mtools = mtools_image(&first);
        let loader = inputs.path(&format!("loader-{board}.img"));
        ok("mcopy", &["-n", "-i", &mtools, &format!("::/{on_card}"), loader.to_str().unwrap()]);
        let loader = std::fs::read(&loader).unwrap();
        let built = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(format!("../target/kingly/{}/loader8.img", if board == "pi4" { "raspi4b" } else { "pi5" }));
        assert!(loader == std::fs::read(&built).unwrap(), "{on_card} is not {}", built.display());
        assert!(loader.len() < 64 << 10, "the loader grew to {} bytes", loader.len());
        let announcement = kingly_proto::chainload::ANNOUNCE_MAGIC.as_bytes();
        assert!(loader.windows(announcement.len()).any(|w| w == announcement), "{on_card} is not the loader");
        let config = ok("mtype", &["-i", &mtools, "::/config.txt"]);
        assert!(config.lines().any(|l| l.trim() == "uart_2ndstage=1"), "{config}");
        assert!(config.lines().any(|l| l.trim() == "init_uart_baud=115200"), "{config}");
        let cmdline = ok("mtype", &["-i", &mtools, "::/cmdline.txt"]);
        assert_eq!(cmdline.trim(), "kingly.baud=115200", "the loader's rate, where the firmware hands it over");
    }
    // --baud: the loader's rate in cmdline.txt, the firmware's log at the same rate.
    let fast = inputs.path("pi4-921600.img");
    let output = chainload_with("pi4", &fast, &["--baud", "921600"]);
    assert!(output.status.success(), "--baud 921600 failed: {}", stderr(&output));
    ok("sfdisk", &["--verify", fast.to_str().unwrap()]);
    fsck_partition(&fast);
    let mtools = mtools_image(&fast);
    assert_eq!(ok("mtype", &["-i", &mtools, "::/cmdline.txt"]).trim(), "kingly.baud=921600");
    let config = ok("mtype", &["-i", &mtools, "::/config.txt"]);
    assert!(config.lines().any(|l| l.trim() == "init_uart_baud=921600"), "{config}");
    assert_ne!(sha256(&fast), sha256(&inputs.path("pi4-1.img")));
    // Rates the loader cannot listen at are refused before anything is built.
    for (board, baud, reason) in [
        ("pi4", "12345", "not a rate the loader offers: one of 9600, 19200"),
        ("pi5", "921600", "beyond the pi5 loader's UART: its 9216000 Hz clock makes at most 576000 baud"),
        ("both", "1000000", "beyond the pi5 loader's UART"),
    ] {
        let refused = inputs.path("refused-baud.img");
        let output = chainload_with(board, &refused, &["--baud", baud]);
        assert!(!output.status.success(), "--board {board} --baud {baud} was accepted");
        assert!(stderr(&output).contains(reason), "--board {board} --baud {baud}: {}", stderr(&output));
        assert!(!refused.exists());
    }
    refused(&inputs, "pi4", &["--baud", "921600"], &["--baud", "needs --chainload"]);
    // A card with a kernel differs from a card with the loader.
    let with_kernel = inputs.path("with-kernel.img");
    assert!(inputs.image("pi4", &with_kernel, &[]).status.success());
    assert_ne!(sha256(&with_kernel), sha256(&inputs.path("pi4-1.img")));
}

/// Runs a failing `kingly image`; checks the message and that no output (or partial file) is left.
fn refused(inputs: &Inputs, board: &str, extra: &[&str], with: &[&str]) {
    let image = inputs.path("refused.img");
    let output = inputs.image(board, &image, extra);
    let message = stderr(&output);
    assert!(!output.status.success(), "{extra:?} was accepted");
    for part in with {
        assert!(message.contains(part), "the error for {extra:?} should mention {part:?}: {message}");
    }
    assert!(!image.exists(), "a failed run left {}", image.display());
    let leftovers: Vec<_> = std::fs::read_dir(&inputs.dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".partial"))
        .collect();
    assert!(leftovers.is_empty(), "partial files left: {leftovers:?}");
}

#[test]
fn bad_inputs_give_clear_errors_and_no_image() {
    let inputs = Inputs::new("bad");
    refused(&inputs, "pi4", &["--size", "32"], &["too small", "64 MiB"]);
    refused(&inputs, "pi4", &["--size", "100"], &["not a power of two"]);
    refused(&inputs, "pi4", &["--firmware", "/nonexistent/firmware"], &["raspi-firmware", "/nonexistent/firmware"]);
    let empty = inputs.path("empty");
    std::fs::create_dir_all(&empty).unwrap();
    refused(&inputs, "pi4", &["--firmware", empty.to_str().unwrap()], &["start4.elf", "raspi-firmware"]);
    refused(
        &inputs,
        "pi5",
        &["--dtb", empty.to_str().unwrap()],
        &["bcm2712-rpi-5-b.dtb", "fetch-dtbs.sh", "linux-image"],
    );
    refused(&inputs, "pi4", &["--kernel-pi4", "/nonexistent/kernel8.img"], &["/nonexistent/kernel8.img"]);
    refused(&inputs, "pi4", &["--write", "/proc/self/status"], &["not a block device"]);
    // Files that cannot fit: a 70 MiB "kernel" on a 64 MiB card.
    let huge = inputs.path("huge.img");
    std::fs::File::create(&huge).unwrap().set_len(70 << 20).unwrap();
    refused(&inputs, "pi4", &["--kernel-pi4", huge.to_str().unwrap()], &["64 MiB"]);
    // Random bytes, text, or the boot partition's own firmware are not a kernel the firmware
    // could start: refused, where the card used to be written with exit 0.
    let random = inputs.path("random.img");
    std::fs::write(&random, (0..300_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect::<Vec<u8>>())
        .unwrap();
    refused(&inputs, "pi4", &["--kernel-pi4", random.to_str().unwrap()], &["not an AArch64 kernel", "random.img"]);
    let text = inputs.path("notes.txt");
    std::fs::write(&text, "kernel8.img goes here\n".repeat(100)).unwrap();
    refused(&inputs, "pi5", &["--kernel-pi5", text.to_str().unwrap()], &["not an AArch64 kernel", "ELF"]);
}

/// The kernel `kingly boot` builds is accepted as a raw image: it carries no Linux header, but
/// its boot-argument area marks it as Kingly's.
#[test]
fn a_built_kingly_kernel_is_a_raw_kernel() {
    let built = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/kingly/raspi4b/kernel8.img");
    let bytes = match std::fs::read(&built) {
        Ok(bytes) => bytes,
        // Built by the QEMU tests; build it here when this test runs first.
        Err(_) => std::fs::read(build(Variant::Production).image).unwrap(),
    };
    assert_eq!(kingly::image::raw_kernel_kind(&bytes), Some("Kingly kernel"));
    assert_eq!(kingly::image::raw_kernel_kind(&bytes[..0x800]), None, "the area is past the first 2 KiB");
}

fn build(variant: Variant) -> kingly::kernel_build::KernelArtifacts {
    kingly::kernel_build::build(kingly::board::Board::Raspi4b, variant, true).unwrap()
}

/// What boards run carries no test suites and no bpf_conformance corpus; the kernel the
/// integration tests boot carries both (the suite's name and a line of a corpus file).
#[test]
fn production_kernels_carry_no_suites_and_no_conformance_corpus() {
    let contains = |haystack: &[u8], needle: &[u8]| haystack.windows(needle.len()).any(|w| w == needle);
    let production = std::fs::read(build(Variant::Production).image).unwrap();
    let suites = std::fs::read(build(Variant::Suites).image).unwrap();
    let corpus_line: &[u8] = b"-- asm";
    for (what, needle) in [("a suite's name", &b"bpf-jit-conformance"[..]), ("the corpus", corpus_line)] {
        assert!(contains(&suites, needle), "the suites kernel lacks {what}");
        assert!(!contains(&production, needle), "the production kernel carries {what}");
    }
    assert!(
        production.len() * 4 < suites.len() * 3,
        "production {} bytes, with suites {} bytes",
        production.len(),
        suites.len()
    );
}

/// Without `--kernel-pi5` the Pi 5 kernel is built (`tests/tests/pi5_image.rs` checks that
/// image); a given one must be an AArch64 kernel.
#[test]
fn pi5_kernel_that_is_not_aarch64_is_refused() {
    let inputs = Inputs::new("wrongarch");
    let image = inputs.path("wrongarch.img");
    // This host tool is an ELF too, for the wrong machine.
    let output = inputs.image("pi5", &image, &["--kernel-pi5", KINGLY]);
    let message = stderr(&output);
    assert!(!output.status.success());
    assert!(message.contains("not AArch64") && message.contains(KINGLY), "{message}");
    assert!(!image.exists());
}

/// With Debian's raspi-firmware installed and the device trees fetched (`.ci/setup`), an image
/// from the real files passes the same checks.
#[test]
fn real_firmware_and_device_trees() {
    let dtbs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/dtb");
    assert!(
        Path::new("/usr/lib/raspi-firmware/start4.elf").is_file() && dtbs.join("bcm2711-rpi-4-b.dtb").is_file(),
        "needs raspi-firmware and the device trees: run .ci/setup (scripts/test-all.sh runs it when they are missing)"
    );
    let inputs = Inputs::new("real");
    let image = inputs.path("real.img");
    let output = Command::new(KINGLY)
        .args(["image", "--board", "pi4", "-o"])
        .arg(&image)
        .arg("--kernel-pi4")
        .arg(inputs.path("kernel-pi4.img"))
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    fsck_partition(&image);
    let start4 = inputs.path("start4.copy");
    ok("mcopy", &["-n", "-i", &mtools_image(&image), "::/start4.elf", start4.to_str().unwrap()]);
    assert!(std::fs::read(start4).unwrap() == std::fs::read("/usr/lib/raspi-firmware/start4.elf").unwrap());
    let licence = ok("mtype", &["-i", &mtools_image(&image), "::/LICENCE.broadcom"]);
    assert!(licence.contains("Broadcom"), "{licence}");
}

/// `--write` to a real block device (a loop device over a file): the card is written, read back
/// and compared, and then holds exactly the image. Needs root and loop devices, which CI has;
/// a machine without them says so and runs nothing (the read-back compare itself is unit-tested
/// in `image::write`).
#[test]
fn write_copies_to_a_block_device_and_reads_it_back() {
    let inputs = Inputs::new("write");
    let card = inputs.path("card.bin");
    std::fs::File::create(&card).unwrap().set_len(80 << 20).unwrap();
    let attach = Command::new("losetup").args(["--find", "--show"]).arg(&card).output();
    let device = match attach {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).trim().to_string(),
        other => {
            eprintln!("not run: no loop device here (losetup: {other:?}); needs root");
            return;
        }
    };
    struct Detach(String);
    impl Drop for Detach {
        fn drop(&mut self) {
            let _ = Command::new("losetup").args(["--detach", &self.0]).status();
        }
    }
    let _detach = Detach(device.clone());
    let image = inputs.path("written.img");
    let output = inputs.image("pi4", &image, &["--write", &device, "--yes"]);
    let said = stderr(&output);
    assert!(output.status.success(), "{said}");
    assert!(said.contains(&format!("{device} is ready")), "{said}");
    let written = std::fs::read(&image).unwrap();
    let on_card = std::fs::read(&card).unwrap();
    assert_eq!(&on_card[..written.len()], &written[..], "the card does not hold the image");
}
