"""Loads `kingly dataset` output with Hugging Face `datasets`, as a fine-tuning script would,
and checks the columns TRL's trainers read: `messages` for SFTTrainer, `prompt`, `chosen` and
`rejected` (conversational) for DPOTrainer.

Usage: python load_check.py DATASET_DIR
Exits 0 when every check holds and prints one line per loaded file; fails with the reason.
"""

import json
import sys
from pathlib import Path

import datasets


def turns(value, where):
    """A list of {"role", "content"} messages, as TRL's conversational formats are."""
    assert isinstance(value, list) and value, f"{where}: not a non-empty list of messages: {value!r}"
    for m in value:
        assert set(m) == {"role", "content"}, f"{where}: message keys {sorted(m)}"
        assert m["role"] in ("system", "user", "assistant"), f"{where}: role {m['role']!r}"
        assert isinstance(m["content"], str) and m["content"].strip(), f"{where}: empty content"
    return [m["role"] for m in value]


def load(directory, kind):
    """Both splits of one kind, each only when its file has rows (`datasets` cannot infer
    columns from an empty file)."""
    files = {}
    for split, name in (("train", f"{kind}-train.jsonl"), ("test", f"{kind}-heldout.jsonl")):
        path = directory / name
        assert path.exists(), f"{path} is missing"
        if path.read_text().strip():
            files[split] = str(path)
    assert files, f"no {kind} records at all in {directory}"
    return datasets.load_dataset("json", data_files=files)


def main(directory):
    card = json.loads((directory / "data_card.json").read_text())
    tasks_by_split = {}

    sft = load(directory, "sft")
    for split, rows in sft.items():
        for column in ("messages", "task", "split", "format"):
            assert column in rows.column_names, f"sft {split}: no `{column}` column ({rows.column_names})"
        for i, row in enumerate(rows):
            roles = turns(row["messages"], f"sft {split} row {i}")
            assert roles == ["system", "user", "assistant"], f"sft {split} row {i}: roles {roles}"
            reply = row["messages"][2]["content"]
            assert reply.startswith("```" + row["format"]), f"sft {split} row {i}: reply is not a fenced block"
            tasks_by_split.setdefault(split, set()).add(row["task"])
        wanted = sum(card["records"]["sft"]["heldout" if split == "test" else "train"].values())
        assert len(rows) == wanted, f"sft {split}: {len(rows)} rows, the data card says {wanted}"
        print(f"sft {split}: {len(rows)} rows, columns {sorted(rows.column_names)}")

    dpo = load(directory, "dpo")
    for split, rows in dpo.items():
        for column in ("prompt", "chosen", "rejected", "reason", "rejected_stage"):
            assert column in rows.column_names, f"dpo {split}: no `{column}` column ({rows.column_names})"
        for i, row in enumerate(rows):
            assert turns(row["prompt"], f"dpo {split} row {i} prompt") == ["system", "user"]
            assert turns(row["chosen"], f"dpo {split} row {i} chosen") == ["assistant"]
            assert turns(row["rejected"], f"dpo {split} row {i} rejected") == ["assistant"]
            assert row["chosen"] != row["rejected"], f"dpo {split} row {i}: chosen is the rejected program"
            assert row["reason"].strip(), f"dpo {split} row {i}: no reason"
            tasks_by_split.setdefault(split, set()).add(row["task"])
        print(f"dpo {split}: {len(rows)} rows, columns {sorted(rows.column_names)}")

    shared = tasks_by_split.get("train", set()) & tasks_by_split.get("test", set())
    assert not shared, f"tasks on both sides of the split: {sorted(shared)}"
    print("datasets load check: ok")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
