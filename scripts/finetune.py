#!/usr/bin/env python3
"""LoRA SFT of a Hugging Face chat model on `kingly dataset`'s SFT records, for GPU users.

The real-scale counterpart of `kingly finetune` (which trains at smoke scale on the CPU with
candle, because PyTorch's registry wheels were too large for this project's CI). Not run in CI.

Needs: pip install torch transformers peft trl datasets accelerate

One GPU:
    python scripts/finetune.py --data target/dataset --out target/finetune-hf
Several GPUs or machines (configure once with `accelerate config`):
    accelerate launch scripts/finetune.py --data target/dataset --out target/finetune-hf

Back to the local backend: the script saves the adapter and the merged model (safetensors);
convert the merged model with llama.cpp's convert_hf_to_gguf.py, then
    KINGLY_LOCAL_MODEL=merged.gguf kingly code --backend local ...
"""

import argparse
import os
import sys


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="`kingly dataset --out` directory (sft-train.jsonl, sft-heldout.jsonl)")
    parser.add_argument("--out", required=True, help="where the adapter and the merged model go")
    parser.add_argument("--model", default="HuggingFaceTB/SmolLM2-135M-Instruct", help="base model (hub id or directory)")
    parser.add_argument("--epochs", type=float, default=3.0)
    parser.add_argument("--max-steps", type=int, default=-1, help="stop after this many steps (-1: --epochs decides)")
    parser.add_argument("--batch", type=int, default=8, help="per-device batch size")
    parser.add_argument("--max-length", type=int, default=2048)
    parser.add_argument("--rank", type=int, default=16)
    parser.add_argument("--alpha", type=float, default=32.0)
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--targets", default="q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj")
    args = parser.parse_args()

    train_file = os.path.join(args.data, "sft-train.jsonl")
    heldout_file = os.path.join(args.data, "sft-heldout.jsonl")
    if not os.path.exists(train_file):
        print(f"{train_file} is missing: run `kingly dataset --out {args.data}` first", file=sys.stderr)
        return 2

    # Imported here so --help works without the GPU stack installed.
    from datasets import load_dataset
    from peft import LoraConfig
    from trl import SFTConfig, SFTTrainer

    files = {"train": train_file}
    if os.path.exists(heldout_file) and os.path.getsize(heldout_file) > 0:
        files["test"] = heldout_file
    data = load_dataset("json", data_files=files)

    peft_config = LoraConfig(
        r=args.rank,
        lora_alpha=args.alpha,
        lora_dropout=0.05,
        target_modules=args.targets.split(","),
        task_type="CAUSAL_LM",
    )
    config = SFTConfig(
        output_dir=args.out,
        num_train_epochs=args.epochs,
        max_steps=args.max_steps,
        per_device_train_batch_size=args.batch,
        learning_rate=args.lr,
        max_length=args.max_length,
        # Loss on the assistant turns only, as `kingly finetune` does.
        assistant_only_loss=True,
        logging_steps=10,
        eval_strategy="epoch" if "test" in data else "no",
        save_strategy="epoch",
        bf16=True,
        report_to="none",
    )
    trainer = SFTTrainer(
        model=args.model,
        args=config,
        train_dataset=data["train"],
        eval_dataset=data.get("test"),
        peft_config=peft_config,
    )
    trainer.train()
    trainer.save_model(os.path.join(args.out, "adapter"))
    if trainer.accelerator.is_main_process:
        merged = trainer.model.merge_and_unload()
        merged.save_pretrained(os.path.join(args.out, "merged"))
        trainer.processing_class.save_pretrained(os.path.join(args.out, "merged"))
        print(f"merged model in {os.path.join(args.out, 'merged')}: convert it to GGUF for `--backend local`")
    return 0


if __name__ == "__main__":
    sys.exit(main())
