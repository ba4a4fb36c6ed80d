//! Who may load programs: the Ed25519 public key built into the kernel image checks the
//! signature of every `bpf_load` (over [`kingly_bpf::hooks::signed_message`]). A kernel built
//! without a key refuses every load; only a build with the `unsigned-dev` feature, made that
//! way on purpose, accepts unsigned programs, and `kernel_info` says so.

use core::fmt;
use ed25519_dalek::{Signature, VerifyingKey};

/// The load policy of this kernel.
#[derive(Clone, Copy, Debug)]
pub enum Trust {
    /// Signatures must verify under this key.
    Key(VerifyingKey),
    /// No key was built in: every load is refused.
    NoKey,
    /// Development build (`unsigned-dev`): signatures are not checked.
    Unsigned,
}

/// Why a signature was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignatureError {
    /// No signature came with the program.
    Missing,
    /// The signature is not 64 bytes.
    Malformed,
    /// The signature does not verify under the built-in key.
    Invalid,
    /// The kernel has no key to check against.
    NoKey,
}

impl fmt::Display for SignatureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SignatureError::Missing => {
                "unsigned program refused: this kernel only loads programs signed with its key (kingly push signs them)"
            }
            SignatureError::Malformed => "signature refused: an Ed25519 signature is 64 bytes (128 hex digits)",
            SignatureError::Invalid => {
                "bad signature: it does not verify under this kernel's key (was the kernel built with another key? see kingly keygen)"
            }
            SignatureError::NoKey => {
                "loads refused: this kernel was built without a signing key (build it with kingly boot, which embeds yours)"
            }
        })
    }
}

impl Trust {
    /// The policy for a build: `pubkey_hex` is the key's 64 hex digits (empty when none).
    pub fn from_build(pubkey_hex: &str, unsigned_dev: bool) -> Trust {
        if unsigned_dev {
            return Trust::Unsigned;
        }
        let mut key = [0u8; 32];
        if kingly_proto::contract::decode_hex_into(pubkey_hex, &mut key).is_err() {
            return Trust::NoKey;
        }
        VerifyingKey::from_bytes(&key).map_or(Trust::NoKey, Trust::Key)
    }

    /// Checks `signature` over `message`.
    pub fn check(&self, message: &[u8], signature: Option<&[u8]>) -> Result<(), SignatureError> {
        let key = match self {
            Trust::Unsigned => return Ok(()),
            Trust::NoKey => return Err(SignatureError::NoKey),
            Trust::Key(key) => key,
        };
        let signature = signature.ok_or(SignatureError::Missing)?;
        let signature = Signature::from_slice(signature).map_err(|_| SignatureError::Malformed)?;
        key.verify_strict(message, &signature).map_err(|_| SignatureError::Invalid)
    }

    /// One line for `kernel_info`.
    pub fn describe(&self) -> &'static str {
        match self {
            Trust::Key(_) => "enforced",
            Trust::NoKey => "no key built in (every load refused)",
            Trust::Unsigned => "development (unsigned loads allowed)",
        }
    }
}
