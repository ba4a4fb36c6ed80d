//! The Ed25519 key pair that signs programs for `bpf_load`. The public half is built into
//! every kernel `kingly` builds; `kingly push` signs with the secret half.
//!
//! Location: `$KINGLY_KEY_DIR`, else `$XDG_CONFIG_HOME/kingly`, else `~/.config/kingly`;
//! files `kingly.key` (the 32-byte secret seed in hex, mode 0600) and `kingly.pub`.

use anyhow::{bail, Context, Result};
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use std::path::{Path, PathBuf};

const SECRET_FILE: &str = "kingly.key";
const PUBLIC_FILE: &str = "kingly.pub";

/// Where keys live unless a command is told otherwise.
pub fn default_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("KINGLY_KEY_DIR") {
        return PathBuf::from(dir);
    }
    if let Some(config) = std::env::var_os("XDG_CONFIG_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(config).join("kingly");
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
    home.join(".config").join("kingly")
}

/// Hex of a public key (what the kernel build embeds).
pub fn public_hex(key: &VerifyingKey) -> String {
    kingly_proto::contract::encode_hex(key.as_bytes())
}

/// Makes a new key pair in `dir`; refuses to overwrite one unless `force`.
pub fn generate(dir: &Path, force: bool) -> Result<VerifyingKey> {
    let secret_path = dir.join(SECRET_FILE);
    if secret_path.exists() && !force {
        bail!(
            "{} exists; kernels built with it would refuse programs signed by a new key. \
             Use --force to replace it (then rebuild and reflash the kernel)",
            secret_path.display()
        );
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("no randomness from the OS: {e}"))?;
    let key = SigningKey::from_bytes(&seed);
    write_secret(&secret_path, &kingly_proto::contract::encode_hex(&seed), force)?;
    std::fs::write(dir.join(PUBLIC_FILE), format!("{}\n", public_hex(&key.verifying_key())))
        .with_context(|| format!("writing {}", dir.join(PUBLIC_FILE).display()))?;
    Ok(key.verifying_key())
}

/// Writes the secret key file completely, then puts it in place: replacing an old one only when
/// `replace`, otherwise failing with `AlreadyExists` if another process got there first.
fn write_secret(path: &Path, hex: &str, replace: bool) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    // Unique per writer: the process and a prefix of the (random) key itself.
    let temporary = path.with_extension(format!("key.{}.{}.tmp", std::process::id(), &hex[..hex.len().min(16)]));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&temporary)
        .with_context(|| format!("creating {}", temporary.display()))?;
    writeln!(file, "{hex}")?;
    file.sync_all()?;
    let placed = if replace { std::fs::rename(&temporary, path) } else { std::fs::hard_link(&temporary, path) };
    let _ = std::fs::remove_file(&temporary);
    placed.with_context(|| format!("writing {}", path.display()))
}

/// The signing key in `dir`.
pub fn load_signing(dir: &Path) -> Result<SigningKey> {
    let path = dir.join(SECRET_FILE);
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!("no signing key at {} (run `kingly keygen`, then rebuild the kernel with it)", path.display())
    })?;
    let mut seed = [0u8; 32];
    kingly_proto::contract::decode_hex_into(text.trim(), &mut seed)
        .map_err(|e| anyhow::anyhow!("{} is not a key file: {e}", path.display()))?;
    Ok(SigningKey::from_bytes(&seed))
}

/// The public key to build into a kernel, creating a key pair on first use.
pub fn ensure(dir: &Path) -> Result<(VerifyingKey, bool)> {
    if dir.join(SECRET_FILE).exists() {
        return Ok((load_signing(dir)?.verifying_key(), false));
    }
    match generate(dir, false) {
        Ok(key) => Ok((key, true)),
        // Another build (tests start several at once) made it first: use that one.
        Err(_) if dir.join(SECRET_FILE).exists() => Ok((load_signing(dir)?.verifying_key(), false)),
        Err(e) => Err(e),
    }
}

/// Signs a program the way `bpf_load` checks it.
pub fn sign(key: &SigningKey, message: &[u8]) -> [u8; 64] {
    key.sign(message).to_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generate_load_and_refuse_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let public = generate(dir.path(), false).unwrap();
        assert_eq!(load_signing(dir.path()).unwrap().verifying_key(), public);
        assert!(generate(dir.path(), false).is_err());
        let mode = std::fs::metadata(dir.path().join(SECRET_FILE)).unwrap().permissions();
        assert_eq!(std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777, 0o600);
        let replaced = generate(dir.path(), true).unwrap();
        assert_ne!(replaced, public);
        assert_eq!(ensure(dir.path()).unwrap(), (replaced, false));
        let text = std::fs::read_to_string(dir.path().join(PUBLIC_FILE)).unwrap();
        assert_eq!(text.trim(), public_hex(&replaced));
    }

    #[test]
    fn concurrent_first_builds_agree_on_one_key() {
        let dir = tempfile::tempdir().unwrap();
        let keys: Vec<VerifyingKey> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8).map(|_| s.spawn(|| ensure(dir.path()).unwrap().0)).collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let on_disk = load_signing(dir.path()).unwrap().verifying_key();
        assert!(keys.iter().all(|k| *k == on_disk), "builds embedded different keys");
    }

    #[test]
    fn missing_or_corrupt_keys_say_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let e = load_signing(dir.path()).unwrap_err().to_string();
        assert!(e.contains("kingly keygen"), "{e}");
        std::fs::write(dir.path().join(SECRET_FILE), "nothex").unwrap();
        assert!(load_signing(dir.path()).unwrap_err().to_string().contains("not a key file"));
    }
}
