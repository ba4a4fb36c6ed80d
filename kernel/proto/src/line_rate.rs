//! The chainloader's line rate, as the SD card chooses it.
//!
//! `kingly image --chainload --baud N` writes `kingly.baud=N` into `cmdline.txt`; the firmware
//! copies `cmdline.txt` into the device tree's `/chosen/bootargs` and hands the tree to the
//! loader in x0; the loader reads the token back ([`baud_from_tree`]) and divides its UART
//! clock down to that rate. Host and loader share this module, so the card can only name
//! rates the loader accepts and the loader's refusal says why.
//!
//! [`chosen_bootargs`] is a minimal walk of a flattened device tree: no heap, no recursion,
//! and any byte sequence is a valid input that never panics (the kernel's full parser in
//! `kernel/src/dtb.rs` would double the loader's size for this one property).
//!
//! # Resources
//! - Devicetree Specification v0.4, chapter 5 "Flattened Devicetree (DTB) Format".
//! - ARM PrimeCell UART (PL011) TRM r1p5, §3.3.6: the 16.6 fixed-point baud-rate divisor.
//! - Raspberry Pi documentation, "cmdline.txt" and "config.txt" (`init_uart_baud`).

use core::fmt;

/// The `cmdline.txt` token that sets the loader's rate: `kingly.baud=921600`.
pub const BAUD_KEY: &str = "kingly.baud";
/// The rate without a token, or with one the loader refuses.
pub const DEFAULT_BAUD: u32 = 115_200;
/// The rates the loader accepts: the common ones USB–serial adapters offer. A board's UART
/// clock may rule out the fastest (see [`check_baud`]).
pub const SUPPORTED_BAUD_RATES: [u32; 14] = [
    9_600, 19_200, 38_400, 57_600, 115_200, 230_400, 460_800, 500_000, 576_000, 921_600, 1_000_000, 1_500_000,
    2_000_000, 3_000_000,
];
/// Largest error between the rate asked for and the rate the divisor makes, in parts per
/// thousand: the receiver samples mid-bit, so both ends together may be off by about 4%
/// over a 10-bit character; 1.5% leaves the adapter the rest.
pub const MAX_RATE_ERROR_PER_MILLE: u64 = 15;

/// Most bytes the loader believes a device tree may take (the Pi 4's is about 55 KB).
pub const MAX_DTB_BYTES: usize = 1 << 20;

const FDT_MAGIC: u32 = 0xd00d_feed;
const FDT_BEGIN_NODE: u32 = 1;
const FDT_END_NODE: u32 = 2;
const FDT_PROP: u32 = 3;
const FDT_NOP: u32 = 4;
const FDT_END: u32 = 9;
const FDT_HEADER_BYTES: usize = 40;

/// What is wrong with a device tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DtbError {
    /// The blob does not start with the magic `0xd00dfeed`.
    NotADeviceTree,
    /// The header names blocks outside the blob, or a property runs past its block.
    Truncated,
    /// The structure block holds an unknown token or unbalanced nodes.
    Malformed,
    /// `/chosen/bootargs` is not UTF-8 text.
    BootargsNotText,
}

impl fmt::Display for DtbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NotADeviceTree => "the device tree in x0 has no 0xd00dfeed magic",
            Self::Truncated => "the device tree in x0 is truncated (a block or property runs past its end)",
            Self::Malformed => "the device tree in x0 is malformed (an unknown token or unbalanced nodes)",
            Self::BootargsNotText => "/chosen/bootargs in the device tree is not UTF-8 text",
        })
    }
}

/// Why the card's rate was not taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineRateError {
    /// The device tree could not be read.
    Tree(DtbError),
    /// `kingly.baud=` is not followed by a decimal number that fits 32 bits.
    NotANumber,
    /// A rate outside [`SUPPORTED_BAUD_RATES`].
    Unsupported {
        /// The rate asked for.
        baud: u32,
    },
    /// The board's UART clock cannot make this rate within [`MAX_RATE_ERROR_PER_MILLE`].
    BeyondClock {
        /// The rate asked for.
        baud: u32,
        /// The UART's reference clock.
        clock_hz: u32,
    },
}

impl fmt::Display for LineRateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Tree(error) => error.fmt(f),
            Self::NotANumber => {
                write!(f, "{BAUD_KEY}= in cmdline.txt is not a rate (decimal digits, e.g. {BAUD_KEY}=921600)")
            }
            Self::Unsupported { baud } => {
                write!(f, "{BAUD_KEY}={baud} in cmdline.txt is not a rate the loader offers (")?;
                for (index, rate) in SUPPORTED_BAUD_RATES.iter().enumerate() {
                    let separator = if index == 0 { "" } else { ", " };
                    write!(f, "{separator}{rate}")?;
                }
                f.write_str("): write the card again with `kingly image --chainload --baud N`")
            }
            Self::BeyondClock { baud, clock_hz } => write!(
                f,
                "{BAUD_KEY}={baud} is beyond this board's UART: its {clock_hz} Hz clock makes at most {} baud; \
                 write the card again with a lower `kingly image --chainload --baud N`",
                clock_hz / 16
            ),
        }
    }
}

/// The PL011's divisor for `baud` from a `clock_hz` reference, as `(IBRD, FBRD)`:
/// `clock / (16 × baud)` in 16.6 fixed point, rounded to nearest (TRM §3.3.6). The same
/// formula as `kingly_drivers::pl011::baud_divisors`, which programs it.
pub const fn divisors(clock_hz: u32, baud: u32) -> (u32, u32) {
    if baud == 0 {
        return (0, 0);
    }
    let scaled = (4 * clock_hz as u64 + baud as u64 / 2) / baud as u64;
    ((scaled >> 6) as u32, (scaled & 0x3f) as u32)
}

/// The rate the divisor for `baud` really makes from `clock_hz` (0 if there is no divisor).
pub const fn achieved_baud(clock_hz: u32, baud: u32) -> u32 {
    let (integer, fraction) = divisors(clock_hz, baud);
    let scaled = ((integer as u64) << 6) | fraction as u64;
    if integer == 0 || integer > 0xffff {
        return 0;
    }
    ((4 * clock_hz as u64 + scaled / 2) / scaled) as u32
}

/// `baud` if the loader offers it and a UART clocked at `clock_hz` can make it.
pub fn check_baud(baud: u32, clock_hz: u32) -> Result<u32, LineRateError> {
    if !SUPPORTED_BAUD_RATES.contains(&baud) {
        return Err(LineRateError::Unsupported { baud });
    }
    let achieved = u64::from(achieved_baud(clock_hz, baud));
    let error = achieved.abs_diff(u64::from(baud));
    if achieved == 0 || error * 1000 > u64::from(baud) * MAX_RATE_ERROR_PER_MILLE {
        return Err(LineRateError::BeyondClock { baud, clock_hz });
    }
    Ok(baud)
}

/// The rate a kernel command line asks for: the last `kingly.baud=N` token, checked against
/// `clock_hz`; `None` without one.
pub fn baud_from_bootargs(bootargs: &str, clock_hz: u32) -> Result<Option<u32>, LineRateError> {
    let Some(value) =
        bootargs.split_ascii_whitespace().filter_map(|word| word.strip_prefix(BAUD_KEY)?.strip_prefix('=')).next_back()
    else {
        return Ok(None);
    };
    if value.is_empty() || !value.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(LineRateError::NotANumber);
    }
    let baud = value.parse().map_err(|_| LineRateError::NotANumber)?;
    check_baud(baud, clock_hz).map(Some)
}

/// The rate the card asks for in the device tree `dtb` (its `/chosen/bootargs`); `None`
/// when the tree has no bootargs or they carry no `kingly.baud=`.
pub fn baud_from_tree(dtb: &[u8], clock_hz: u32) -> Result<Option<u32>, LineRateError> {
    match chosen_bootargs(dtb).map_err(LineRateError::Tree)? {
        Some(bootargs) => baud_from_bootargs(bootargs, clock_hz),
        None => Ok(None),
    }
}

/// The size a device tree's header claims (`totalsize`), if `header` starts with the magic.
/// The loader reads these 8 bytes first to know how much of memory is the tree.
pub fn dtb_total_size(header: &[u8; 8]) -> Option<usize> {
    let magic = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
    let size = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
    (magic == FDT_MAGIC && size >= FDT_HEADER_BYTES).then_some(size)
}

/// The value of `/chosen/bootargs` without its closing NUL; `None` if the tree has no such
/// property.
pub fn chosen_bootargs(dtb: &[u8]) -> Result<Option<&str>, DtbError> {
    let word = |at: usize| be32(dtb, at).ok_or(DtbError::Truncated);
    if word(0)? != FDT_MAGIC {
        return Err(DtbError::NotADeviceTree);
    }
    let total = (word(4)? as usize).min(dtb.len());
    let dtb = &dtb[..total];
    let (struct_offset, strings_offset) = (word(8)? as usize, word(12)? as usize);
    let (version, strings_size, struct_size) = (word(20)?, word(32)? as usize, word(36)? as usize);
    // Before version 17 the header has no structure size: the block runs to the end.
    let struct_end = if version >= 17 { struct_offset.checked_add(struct_size) } else { Some(total) };
    let structure = struct_end.and_then(|end| dtb.get(struct_offset..end)).ok_or(DtbError::Truncated)?;
    let strings = strings_offset
        .checked_add(strings_size)
        .and_then(|end| dtb.get(strings_offset..end))
        .ok_or(DtbError::Truncated)?;

    let mut at = 0usize;
    let mut depth = 0usize;
    // The depth of /chosen while the walk is inside it (the root is depth 1).
    let mut chosen_depth = None;
    loop {
        let token = be32(structure, at).ok_or(DtbError::Truncated)?;
        at += 4;
        match token {
            FDT_BEGIN_NODE => {
                let name = c_string(structure.get(at..).ok_or(DtbError::Truncated)?)?;
                at = align4(at + name.len() + 1);
                depth += 1;
                if depth == 2 && (name == b"chosen" || name.starts_with(b"chosen@")) {
                    chosen_depth = Some(depth);
                }
            }
            FDT_END_NODE => {
                if chosen_depth == Some(depth) {
                    chosen_depth = None;
                }
                depth = depth.checked_sub(1).ok_or(DtbError::Malformed)?;
            }
            FDT_PROP => {
                let length = be32(structure, at).ok_or(DtbError::Truncated)? as usize;
                let name_offset = be32(structure, at + 4).ok_or(DtbError::Truncated)? as usize;
                let value_start = at + 8;
                let value = value_start
                    .checked_add(length)
                    .and_then(|end| structure.get(value_start..end))
                    .ok_or(DtbError::Truncated)?;
                at = align4(value_start + length);
                if depth == 0 {
                    return Err(DtbError::Malformed);
                }
                if chosen_depth != Some(depth) {
                    continue;
                }
                let name = c_string(strings.get(name_offset..).ok_or(DtbError::Truncated)?)?;
                if name == b"bootargs" {
                    let text = value.split(|&byte| byte == 0).next().unwrap_or_default();
                    return core::str::from_utf8(text).map(Some).map_err(|_| DtbError::BootargsNotText);
                }
            }
            FDT_NOP => {}
            FDT_END if depth == 0 => return Ok(None),
            _ => return Err(DtbError::Malformed),
        }
    }
}

fn be32(bytes: &[u8], at: usize) -> Option<u32> {
    let word = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([word[0], word[1], word[2], word[3]]))
}

/// The bytes before the first NUL; the NUL must be there.
fn c_string(bytes: &[u8]) -> Result<&[u8], DtbError> {
    let end = bytes.iter().position(|&byte| byte == 0).ok_or(DtbError::Truncated)?;
    Ok(&bytes[..end])
}

const fn align4(offset: usize) -> usize {
    (offset + 3) & !3
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_token_wins_and_only_offered_rates_pass() {
        let pi4 = 48_000_000;
        assert_eq!(baud_from_bootargs("", pi4), Ok(None));
        assert_eq!(baud_from_bootargs("kingly.bauds=9600 xkingly.baud=9600", pi4), Ok(None));
        assert_eq!(baud_from_bootargs("kingly.baud=9600 kingly.baud=921600", pi4), Ok(Some(921_600)));
        assert_eq!(baud_from_bootargs("kingly.baud=", pi4), Err(LineRateError::NotANumber));
        assert_eq!(baud_from_bootargs("kingly.baud=+9600", pi4), Err(LineRateError::NotANumber));
        assert_eq!(baud_from_bootargs("kingly.baud=12345", pi4), Err(LineRateError::Unsupported { baud: 12345 }));
        assert_eq!(baud_from_bootargs("kingly.baud=99999999999", pi4), Err(LineRateError::NotANumber));
        for rate in SUPPORTED_BAUD_RATES {
            assert_eq!(check_baud(rate, pi4), Ok(rate), "the Pi 4's 48 MHz clock makes every offered rate");
        }
        let message = LineRateError::Unsupported { baud: 12345 }.to_string();
        assert!(message.contains("12345") && message.contains("921600") && message.contains("--baud"), "{message}");
    }

    #[test]
    fn divisors_match_the_pl011_formula() {
        // 48 MHz / (16 × 115200) = 26.042: IBRD 26, FBRD round(0.042 × 64) = 3.
        assert_eq!(divisors(48_000_000, 115_200), (26, 3));
        // 48 MHz / (16 × 921600) = 3.2552: IBRD 3, FBRD round(0.2552 × 64 = 16.33) = 16,
        // which makes 923,077 baud (+0.16%); FBRD 17 would make 918,660 (-0.32%).
        assert_eq!(divisors(48_000_000, 921_600), (3, 16));
        assert_eq!(achieved_baud(48_000_000, 921_600), 923_077);
        // The Pi 5's 9.216 MHz debug UART clock divides to 115200 exactly but tops out at 576000.
        assert_eq!(divisors(9_216_000, 115_200), (5, 0));
        assert_eq!(check_baud(576_000, 9_216_000), Ok(576_000));
        assert_eq!(
            check_baud(921_600, 9_216_000),
            Err(LineRateError::BeyondClock { baud: 921_600, clock_hz: 9_216_000 })
        );
        assert_eq!(divisors(48_000_000, 0), (0, 0));
    }
}
