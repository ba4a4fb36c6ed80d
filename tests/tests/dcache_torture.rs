//! The decision-cache torture suite on four emulated cores (issue: dcache torture in QEMU).

use kingly::board::Board;
use kingly_tests::{fields, Booted};
use std::time::Duration;

#[test]
fn dcache_torture_on_four_cores_finds_no_violation() {
    for board in [Board::Raspi4b, Board::Virt] {
        let mut kernel = Booted::start(board, "test=dcache-torture").unwrap();
        let status = kernel.wait_exit(Duration::from_secs(300)).unwrap();
        let line = kernel
            .output
            .lines()
            .find(|l| l.starts_with("dcache torture: "))
            .unwrap_or_else(|| panic!("{board}: no summary line:\n{}", kernel.output))
            .to_string();
        let f = fields(&line);
        assert_eq!(f["cpus"], 4, "{line}");
        assert_eq!(f["violations"], 0, "{line}");
        assert!(f["lookups"] >= 4_000_000 && f["swaps"] >= 10_000, "{line}");
        assert_eq!(status, 0, "{board}:\n{}", kernel.output);
    }
}
