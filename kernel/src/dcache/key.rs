//! Hook ids and cache keys: up to 32 bytes, packed into four words with the hash computed once
//! when the key is built, so lookups never hash bytes.

use core::fmt;

/// Most hooks a cache tracks (hook ids are `0..MAX_HOOKS`).
#[cfg(not(loom))]
pub const MAX_HOOKS: usize = 32;
/// Most hooks a cache tracks (hook ids are `0..MAX_HOOKS`); small under loom.
#[cfg(loom)]
pub const MAX_HOOKS: usize = 4;

/// Longest key in bytes.
pub const MAX_KEY_BYTES: usize = 32;

const _: () = assert!(MAX_HOOKS.is_power_of_two() && MAX_HOOKS <= 256);

/// A hook where decisions are made, e.g. `sched_slice`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HookId(u8);

/// Each hook's [`HookId::salt`]: `(index + 1)` times the golden-ratio constant.
const SALTS: [u64; MAX_HOOKS] = {
    let mut salts = [0; MAX_HOOKS];
    let mut index = 0;
    while index < MAX_HOOKS {
        salts[index] = (index as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        index += 1;
    }
    salts
};

impl HookId {
    /// `sched_slice`: how long the next thread runs.
    pub const SCHED_SLICE: Self = Self(0);
    /// `sched_cpu`: where a woken thread runs.
    pub const SCHED_CPU: Self = Self(1);
    /// `mcp_admit`: whether a message-port request is admitted.
    pub const MCP_ADMIT: Self = Self(2);

    /// Hook `id`, if below [`MAX_HOOKS`].
    pub const fn new(id: usize) -> Option<Self> {
        if id < MAX_HOOKS {
            Some(Self(id as u8))
        } else {
            None
        }
    }

    /// The hook's index, `0..MAX_HOOKS`.
    #[inline(always)]
    pub const fn index(self) -> usize {
        // The mask lets the compiler drop the bounds check; `new` already guarantees it.
        self.0 as usize & (MAX_HOOKS - 1)
    }

    /// Spreads the hook id over the hash so that equal keys of different hooks differ. A table
    /// load: the multiply it holds costs a 64-bit constant (four moves) on every global lookup.
    #[inline(always)]
    pub(crate) const fn salt(self) -> u64 {
        SALTS[self.index()]
    }

    /// [`HookId::salt`] of the hook with index `index` (wrapped into range).
    pub(crate) const fn salt_of_index(index: usize) -> u64 {
        SALTS[index & (MAX_HOOKS - 1)]
    }
}

/// Why a key was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyError {
    /// The key is longer than [`MAX_KEY_BYTES`].
    TooLong {
        /// Its length in bytes.
        len_bytes: usize,
    },
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLong { len_bytes } => {
                write!(f, "key of {len_bytes} bytes is longer than the {MAX_KEY_BYTES}-byte limit")
            }
        }
    }
}

/// A key of at most 32 bytes: little-endian words, zero padded, with its length and hash.
#[derive(Clone, Copy)]
pub struct Key {
    pub(crate) words: [u64; 4],
    pub(crate) hash: u64,
    pub(crate) len_bytes: u8,
}

const MULTIPLIER: u64 = 0x5851_F42D_4C95_7F2D;
const SEEDS: [u64; 4] = [0x243F_6A88_85A3_08D3, 0x1319_8A2E_0370_7344, 0xA409_3822_299F_31D0, 0x082E_FA98_EC4E_6C89];

/// Multiplies and folds the 128-bit product (as foldhash and wyhash do).
#[inline(always)]
const fn folded_multiply(a: u64, b: u64) -> u64 {
    let product = (a as u128).wrapping_mul(b as u128);
    (product as u64) ^ ((product >> 64) as u64)
}

#[inline(always)]
const fn hash_words(words: &[u64; 4], len_bytes: u8) -> u64 {
    if len_bytes <= 8 {
        // One word (ids, packed decision fields: the hot path's keys): one folded multiply, as
        // foldhash hashes a `u64`. The length goes in so that "a" and "a\0" differ.
        return folded_multiply(words[0] ^ len_bytes as u64, MULTIPLIER);
    }
    let low = folded_multiply(words[0] ^ SEEDS[0], words[1] ^ SEEDS[1] ^ len_bytes as u64);
    let high = folded_multiply(words[2] ^ SEEDS[2], words[3] ^ SEEDS[3]);
    folded_multiply(low ^ high.rotate_left(23), MULTIPLIER)
}

impl Key {
    /// A key from bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, KeyError> {
        if bytes.len() > MAX_KEY_BYTES {
            return Err(KeyError::TooLong { len_bytes: bytes.len() });
        }
        let mut words = [0u64; 4];
        for (index, chunk) in bytes.chunks(8).enumerate() {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            words[index] = u64::from_le_bytes(word);
        }
        let len_bytes = bytes.len() as u8;
        Ok(Self { words, hash: hash_words(&words, len_bytes), len_bytes })
    }

    /// A 32-byte key of four little-endian words (the same key as `from_bytes` of their bytes).
    pub const fn from_words(words: [u64; 4]) -> Self {
        Self { words, hash: hash_words(&words, 32), len_bytes: 32 }
    }

    /// An 8-byte key holding `value` (e.g. a thread id).
    pub const fn from_u64(value: u64) -> Self {
        let words = [value, 0, 0, 0];
        Self { words, hash: hash_words(&words, 8), len_bytes: 8 }
    }

    /// [`Key::from_u64`]`(word)`, given its hash (`Key::from_u64(word).hash_value()`, which a
    /// caller that looked the key up already has): a wrong hash only makes lookups miss.
    #[inline(always)]
    pub(crate) const fn from_word_and_hash(word: u64, hash: u64) -> Self {
        Self { words: [word, 0, 0, 0], hash, len_bytes: 8 }
    }

    /// The key's length in bytes.
    pub const fn len_bytes(&self) -> usize {
        self.len_bytes as usize
    }

    /// The key's bytes, copied into `out`; returns how many.
    pub fn copy_bytes(&self, out: &mut [u8; MAX_KEY_BYTES]) -> usize {
        for (index, word) in self.words.iter().enumerate() {
            out[index * 8..index * 8 + 8].copy_from_slice(&word.to_le_bytes());
        }
        self.len_bytes()
    }

    /// The hash of the key whose words and length are these (what `hash_value` returns).
    pub(crate) const fn hash_of(words: &[u64; 4], len_bytes: u8) -> u64 {
        hash_words(words, len_bytes)
    }

    /// The key's precomputed hash (what [`core::hash::Hash`] feeds the hasher).
    pub const fn hash_value(&self) -> u64 {
        self.hash
    }

    #[inline(always)]
    pub(crate) fn same_as(&self, words: &[u64; 4], len_bytes: u8) -> bool {
        self.len_bytes == len_bytes
            && ((self.words[0] ^ words[0])
                | (self.words[1] ^ words[1])
                | (self.words[2] ^ words[2])
                | (self.words[3] ^ words[3]))
                == 0
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        self.same_as(&other.words, other.len_bytes)
    }
}

impl Eq for Key {}

impl core::hash::Hash for Key {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut bytes = [0u8; MAX_KEY_BYTES];
        let len = self.copy_bytes(&mut bytes);
        write!(f, "Key(")?;
        for byte in &bytes[..len] {
            write!(f, "{byte:02x}")?;
        }
        write!(f, ")")
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn keys_pack_and_compare() {
        let a = Key::from_bytes(b"pid:42").unwrap();
        let b = Key::from_bytes(b"pid:42").unwrap();
        let c = Key::from_bytes(b"pid:42\0").unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c, "length is part of the key");
        assert_eq!(a.hash_value(), b.hash_value());
        assert_eq!(Key::from_u64(7), Key::from_bytes(&7u64.to_le_bytes()).unwrap());
        let long = [1u8; 32];
        let key = Key::from_bytes(&long).unwrap();
        let mut out = [0u8; 32];
        assert_eq!(key.copy_bytes(&mut out), 32);
        assert_eq!(out, long);
        assert_eq!(Key::from_bytes(&[0; 33]), Err(KeyError::TooLong { len_bytes: 33 }));
    }

    #[test]
    fn hook_ids_are_bounded() {
        assert!(HookId::new(MAX_HOOKS - 1).is_some());
        assert!(HookId::new(MAX_HOOKS).is_none());
    }
}
