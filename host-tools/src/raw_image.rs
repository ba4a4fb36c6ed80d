//! ELF to raw binary, the way `objcopy -O binary` does it, with the `object` crate.

use object::{Object, ObjectSegment};
use thiserror::Error;

/// A raw image and the address its first byte must be loaded at.
#[derive(Debug, Clone)]
pub struct RawImage {
    pub load_address: u64,
    pub bytes: Vec<u8>,
}

/// Why an ELF could not become a raw image.
#[derive(Debug, Error)]
pub enum RawImageError {
    #[error("not a valid ELF file: {0}")]
    Parse(#[from] object::Error),
    #[error("the ELF is for {0:?}, not AArch64")]
    WrongArchitecture(object::Architecture),
    #[error("the ELF has no loadable segment with file contents")]
    Empty,
    #[error("segments span {0} bytes; a kernel image above 64 MiB is certainly a link error")]
    TooLarge(u64),
    #[error("a segment's file range is outside the ELF file")]
    Truncated,
}

const MAX_IMAGE_BYTES: u64 = 64 << 20;

/// Lays every loadable segment's file bytes at its physical address relative to the lowest
/// one; gaps become zeros. `.bss` (no file bytes) is not included: the kernel zeroes it.
pub fn from_elf(elf: &[u8]) -> Result<RawImage, RawImageError> {
    let file = object::File::parse(elf)?;
    if file.architecture() != object::Architecture::Aarch64 {
        return Err(RawImageError::WrongArchitecture(file.architecture()));
    }
    let segments: Vec<(u64, &[u8])> = file
        .segments()
        .map(|s| s.data().map(|data| (s.address(), data)))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| RawImageError::Truncated)?
        .into_iter()
        .filter(|(_, data)| !data.is_empty())
        .collect();
    let start = segments.iter().map(|(a, _)| *a).min().ok_or(RawImageError::Empty)?;
    let end = segments.iter().map(|(a, d)| a + d.len() as u64).max().ok_or(RawImageError::Empty)?;
    if end - start > MAX_IMAGE_BYTES {
        return Err(RawImageError::TooLarge(end - start));
    }
    let mut bytes = vec![0u8; (end - start) as usize];
    for (address, data) in segments {
        let offset = (address - start) as usize;
        bytes[offset..offset + data.len()].copy_from_slice(data);
    }
    Ok(RawImage { load_address: start, bytes })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_non_elf_input() {
        assert!(matches!(from_elf(b"not an elf at all"), Err(RawImageError::Parse(_))));
        assert!(matches!(from_elf(&[]), Err(RawImageError::Parse(_))));
    }

    #[test]
    fn rejects_host_binaries() {
        let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        assert!(matches!(from_elf(&me), Err(RawImageError::WrongArchitecture(_))));
    }
}
