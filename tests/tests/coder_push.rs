//! `kingly code` end to end: the offline coder writes a tool extension from a shipped task, the
//! `--push` path signs and hot-loads it into a kernel under QEMU, and the kernel runs it on an
//! input none of the task's examples used.

use std::path::Path;

use kingly::board::Board;
use kingly::client::content_json;
use kingly::{code_cli, keys, push};
use kingly_coder::coder::{self, OfflineGenerator, Settings};
use kingly_coder::Task;
use kingly_tests::Booted;

#[test]
fn a_synthesized_tool_is_pushed_and_the_kernel_runs_it() {
    let task = Task::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../tasks/coder/count-spaces.toml")).unwrap();
    let out = std::env::temp_dir().join(format!("kingly-coder-push-{}", std::process::id()));
    let settings = Settings { out_dir: out.clone(), ..Settings::default() };
    let result = coder::run(&task, &mut OfflineGenerator::default(), &settings, None).unwrap();
    let chosen = result.chosen.expect("the offline coder solves count-spaces");
    let (kind, target, name, program) = code_cli::agent_for(&task, &chosen).unwrap();

    let kernel = Booted::boot(Board::Raspi4b, "").unwrap();
    let mut client = kernel.client().unwrap();
    let key = keys::load_signing(&keys::default_dir()).expect("the kernel build made the signing key");
    let report = push::push(&mut client, &key, kind, target, &name, &program, 0, 0).unwrap();
    assert!(report["loaded"]["id"].as_u64().is_some(), "{report}");
    assert!(client.list_tools().unwrap().iter().any(|t| t.name == name));

    // Inputs none of the examples used; the kernel's answer is the program's r0.
    for (text, spaces) in [("the quick brown fox jumps", 4u64), ("nospace", 0), ("  a  b  ", 6)] {
        let result = client.call_tool(&name, &serde_json::json!({ "text": text }).to_string(), None).unwrap();
        assert!(!result.is_error, "{:?}", result.content);
        let answer = content_json(&result.content);
        assert_eq!(answer["r0"], spaces, "{text:?}: {answer}");
    }
    let _ = std::fs::remove_dir_all(out);
}
