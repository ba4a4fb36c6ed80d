//! Boot arguments: a fixed, magic-tagged area of the kernel image that the host tool fills in
//! (`semihosting=1 test=dcache-torture`), so a raw image needs no bootloader to take options.
//!
//! The area is [`AREA_BYTES`] long and starts with [`MAGIC`]; the arguments follow as
//! NUL-terminated, space-separated `key=value` text. `kingly boot` finds the magic in the
//! raw image and writes the text after it.

/// Marks the start of the area in the image.
pub const MAGIC: &[u8; 16] = b"KINGLY-BOOTARGS:";
/// Size of the whole area, magic included.
pub const AREA_BYTES: usize = 256;
/// Longest argument text.
pub const MAX_TEXT: usize = AREA_BYTES - MAGIC.len() - 1;

/// The in-kernel test suites `test=NAME` selects (`kingly boot --test NAME`). The host checks a
/// name against this list before it builds a kernel; the kernel answers any other name with
/// `error: no test suite named '…'` and exit status 2.
pub const TEST_SUITES: &[&str] = &[
    "smoke",
    "fault",
    "panic",
    "dcache-torture",
    "hotswap-torture",
    "decide-bench",
    "hotpath-bench",
    "bpf-jit-conformance",
    "bpf-jit-diff",
    "bpf-jit-bench",
    "verify-bench",
];

/// Options the kernel understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BootArgs<'a> {
    /// QEMU was started with `-semihosting`: exit and report status through it.
    pub semihosting: bool,
    /// Run this in-kernel test suite instead of the console, then exit.
    pub test: Option<&'a str>,
}

/// Why an argument was not understood.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BootArgError<'a> {
    /// Not valid UTF-8.
    NotText,
    /// A key the kernel does not know.
    UnknownKey(&'a str),
    /// A known key with an unusable value.
    BadValue(&'a str),
}

/// Parses the text stored after the magic (up to the first NUL).
pub fn parse(raw: &[u8]) -> Result<BootArgs<'_>, BootArgError<'_>> {
    let end = raw.iter().position(|b| *b == 0).unwrap_or(raw.len());
    let text = core::str::from_utf8(&raw[..end]).map_err(|_| BootArgError::NotText)?;
    let mut args = BootArgs::default();
    for word in text.split_ascii_whitespace() {
        let (key, value) = word.split_once('=').unwrap_or((word, ""));
        match key {
            "semihosting" => {
                args.semihosting = match value {
                    "1" | "on" | "" => true,
                    "0" | "off" => false,
                    _ => return Err(BootArgError::BadValue(word)),
                }
            }
            "test" if !value.is_empty() => args.test = Some(value),
            "test" => return Err(BootArgError::BadValue(word)),
            _ => return Err(BootArgError::UnknownKey(key)),
        }
    }
    Ok(args)
}

/// Writes `text` into the boot-argument area of `image`. Used by the host tool.
pub fn patch_image(image: &mut [u8], text: &str) -> Result<(), PatchError> {
    if text.len() > MAX_TEXT || text.as_bytes().contains(&0) {
        return Err(PatchError::TooLong { max: MAX_TEXT });
    }
    let start = image.windows(MAGIC.len()).position(|w| w == MAGIC).ok_or(PatchError::NoArea)? + MAGIC.len();
    let area = image.get_mut(start..start + MAX_TEXT + 1).ok_or(PatchError::NoArea)?;
    area.fill(0);
    area[..text.len()].copy_from_slice(text.as_bytes());
    Ok(())
}

/// Why an image could not be patched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchError {
    /// The image has no boot-argument area (not a Kingly kernel, or built without one).
    NoArea,
    /// The text does not fit.
    TooLong {
        /// The most bytes the area holds.
        max: usize,
    },
}

impl core::fmt::Display for PatchError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            PatchError::NoArea => write!(f, "the image has no Kingly boot-argument area; is it a Kingly kernel?"),
            PatchError::TooLong { max } => write!(f, "boot arguments longer than {max} bytes or containing NUL"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_known_keys() {
        let args = parse(b"semihosting=1 test=dcache-torture\0garbage").unwrap();
        assert!(args.semihosting);
        assert_eq!(args.test, Some("dcache-torture"));
        assert_eq!(parse(b"").unwrap(), BootArgs::default());
    }

    #[test]
    fn rejects_unknown_and_bad() {
        assert_eq!(parse(b"frobnicate=2"), Err(BootArgError::UnknownKey("frobnicate")));
        assert_eq!(parse(b"semihosting=maybe"), Err(BootArgError::BadValue("semihosting=maybe")));
        assert_eq!(parse(b"test="), Err(BootArgError::BadValue("test=")));
        assert_eq!(parse(&[0xff, 0xfe]), Err(BootArgError::NotText));
    }

    #[test]
    fn patches_an_image_and_round_trips() {
        let mut image = vec![0xAAu8; 64];
        image.extend_from_slice(MAGIC);
        image.extend(core::iter::repeat_n(0, AREA_BYTES - MAGIC.len()));
        image.extend_from_slice(&[0xBB; 16]);
        patch_image(&mut image, "test=smoke semihosting=1").unwrap();
        let start = 64 + MAGIC.len();
        let args = parse(&image[start..start + MAX_TEXT + 1]).unwrap();
        assert_eq!(args.test, Some("smoke"));
        assert!(image.ends_with(&[0xBB; 16]), "nothing past the area is touched");
        assert_eq!(patch_image(&mut [0u8; 32], "x"), Err(PatchError::NoArea));
        assert!(matches!(patch_image(&mut image, &"x".repeat(300)), Err(PatchError::TooLong { .. })));
    }
}
