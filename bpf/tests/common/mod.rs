//! Shared by the integration tests that need real clang-14 objects.

use std::path::Path;
use std::process::Command;

/// Compiles `tests/c/<source>` with `clang-14 -O2 -g -target bpf -c` and `extra` flags (such as
/// `-mcpu=v3`); returns the object's bytes.
#[allow(dead_code)] // each test crate that includes this module uses what it needs
pub fn compile_c(source: &str, extra: &[&str]) -> Vec<u8> {
    compile_file(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/c").join(source), extra)
}

/// Compiles the C file `src` as [`compile_c`] does (a later `-g0` in `extra` drops the debug
/// information, `.BTF` included).
pub fn compile_file(src: &Path, extra: &[&str]) -> Vec<u8> {
    let name = src.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tag = extra.join("").replace(['-', '='], "");
    let out = std::env::temp_dir().join(format!("kingly-{name}-{tag}-{}.o", std::process::id()));
    let status = Command::new("clang-14")
        .args(["-O2", "-g", "-target", "bpf", "-c"])
        .args(extra)
        .arg(src)
        .arg("-o")
        .arg(&out)
        .status()
        .expect("clang-14 is required (installed by .ci/setup)");
    assert!(status.success(), "clang-14 failed on {}", src.display());
    let bytes = std::fs::read(&out).unwrap();
    let _ = std::fs::remove_file(&out);
    bytes
}
