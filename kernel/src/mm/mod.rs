//! Memory management: translation tables (portable builder) and the kernel heap range.

pub mod translation;

const PAGE: u64 = 4096;

/// The larger free stretch of `[start, end)` once `hole` (address, size) is cut out, with its
/// start rounded up and end rounded down to pages.
pub fn free_range_above(start: u64, end: u64, hole: Option<(u64, u64)>) -> (u64, u64) {
    let round_up = |a: u64| a.div_ceil(PAGE) * PAGE;
    let round_down = |a: u64| a / PAGE * PAGE;
    let (start, end) = (round_up(start), round_down(end));
    let Some((hole_start, hole_size)) = hole else {
        return (start, end.max(start));
    };
    let (hole_start, hole_end) = (round_down(hole_start), round_up(hole_start + hole_size));
    if hole_end <= start || hole_start >= end {
        return (start, end.max(start));
    }
    let below = (start, hole_start.max(start));
    let above = (hole_end.min(end), end);
    if below.1 - below.0 >= above.1 - above.0 {
        below
    } else {
        above
    }
}

#[cfg(test)]
mod tests {
    use super::free_range_above;

    #[test]
    fn heap_avoids_the_device_tree() {
        // virt: kernel ends at 0x40100000, DTB at 0x48000000 (1 MiB), RAM ends at 0xC0000000.
        let r = free_range_above(0x4010_0000, 0xC000_0000, Some((0x4800_0000, 0x10_0000)));
        assert_eq!(r, (0x4810_0000, 0xC000_0000));
        // DTB right after the kernel: skip it.
        let r = free_range_above(0x10_0000, 0x4000_0000, Some((0x10_0000, 0x8123)));
        assert_eq!(r, (0x10_9000, 0x4000_0000));
        // DTB below the kernel or absent: the whole range.
        assert_eq!(free_range_above(0x10_0000, 0x20_0000, Some((0x100, 0x1000))), (0x10_0000, 0x20_0000));
        assert_eq!(free_range_above(0x10_0001, 0x20_0fff, None), (0x10_1000, 0x20_0000));
        // Never an inverted range.
        assert_eq!(free_range_above(0x30_0000, 0x20_0000, None), (0x30_0000, 0x30_0000));
    }
}
