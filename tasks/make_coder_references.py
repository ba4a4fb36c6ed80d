#!/usr/bin/env python3
"""Appends `[[reference]]` examples to the tool tasks of tasks/coder and tasks/coder-unseen:
the reference implementations of scripts/make_coder_tasks.py and
scripts/make_coder_unseen_tasks.py run on 48 seeded random inputs. `kingly code --eval`
checks a solved program against them; the coder never reads them. Run it again after
regenerating those task files (it replaces an existing reference block)."""
import os
import random
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MARK = "# Checked by `kingly code --eval` only: the coder never reads these."


def references(script):
    """Every tool() call of a task script, as (name, reference function)."""
    found = []
    src = open(os.path.join(ROOT, "scripts", script)).read()
    src = src.replace("def tool(", "def _unused_tool(", 1)
    src = src.replace("def decision(", "def _unused_decision(", 1)
    src = src.replace("from make_coder_tasks import tool, decision", "")
    # Stop before the part that writes files.
    src = re.sub(r"\nif __name__ == .__main__.:\n(.|\n)*$", "\n", src)
    src = src.split("\nout_dir = sys.argv[1]")[0]

    def tool(name, desc, fn, inputs, max_insns=None):
        found.append((name, fn))
        return name, ""

    def decision(name, desc, hook, fn, rows, kind="decision"):
        found.append((name, (fn, rows)))
        return name, ""

    import sys
    sys.path.insert(0, os.path.join(ROOT, "scripts"))
    env = {"__name__": "references", "__file__": os.path.join(ROOT, "scripts", script), "tool": tool,
           "decision": decision}
    exec(compile(src, script, "exec"), env)
    return found


def inputs(rng):
    alphabet = b"abcXYZ019 ,.:/\n\t@#"
    for _ in range(48):
        kind = rng.random()
        n = rng.choice([0, 1, 2, 3, 4, 5, 6, 8, 12, 20, 70, 100]) if kind < 0.3 else rng.randint(0, 16)
        if kind < 0.5:
            yield bytes(rng.randrange(256) for _ in range(n))
        elif kind < 0.8:
            yield bytes(rng.choice(alphabet) for _ in range(n))
        else:
            yield (b"GET " if rng.random() < 0.5 else b"POST ") + bytes(rng.choice(alphabet) for _ in range(n))


OTHER_TOOLS = ["ping", "kernel_info", "bpf_load", "map_write", "cache_stats", "uart_stats"]


def context_rows(rng, shown):
    """48 contexts in one call sequence: each field drawn from the values the task's rows use,
    their neighbours, or a random value up to twice the largest (tool names: the shown ones and
    other kernel tools)."""
    fields = sorted({k for r in shown for k in r})
    pools = {k: [r[k] for r in shown if k in r] for k in fields}
    for _ in range(48):
        row = {}
        for k in fields:
            pool = pools[k]
            if any(isinstance(v, str) for v in pool):
                row[k] = rng.choice(pool + OTHER_TOOLS)
                continue
            top = max(pool) if pool else 10
            pick = rng.random()
            if pick < 0.5:
                row[k] = rng.choice(pool)
            elif pick < 0.7:
                row[k] = max(0, rng.choice(pool) + rng.choice([-1, 1]))
            else:
                row[k] = rng.randint(0, 2 * top + 1)
        yield row


def decision_references(name, fn, shown):
    lines, state = [], {}
    for row in context_rows(random.Random(name), shown):
        try:
            out = fn(row, state)
        except Exception:
            continue
        lines.append("[[reference]]")
        lines += [f'{k} = "{v}"' if isinstance(v, str) else f"{k} = {v}" for k, v in row.items()]
        lines += [f"output = {int(out)}", ""]
    return lines


def main():
    for script, folder in [("make_coder_tasks.py", "coder"), ("make_coder_unseen_tasks.py", "coder-unseen")]:
        for name, fn in references(script):
            path = os.path.join(ROOT, "tasks", folder, name + ".toml")
            if not os.path.exists(path):
                continue
            text = open(path).read().split(MARK)[0].rstrip() + "\n"
            if isinstance(fn, tuple):
                rows = decision_references(name, *fn)
                with open(path, "w") as f:
                    f.write(text + "\n" + MARK + "\n\n" + "\n".join(rows).rstrip() + "\n")
                print(f"{folder}/{name}: {rows.count('[[reference]]')} reference examples (one call sequence)")
                continue
            rows = []
            for b in inputs(random.Random(name)):
                try:
                    out = fn(b)
                except Exception:
                    continue
                if out is None:
                    continue
                rows += ["[[reference]]", f'input = "{" ".join(f"{x:02x}" for x in b)}"', f"output = {int(out)}", ""]
            with open(path, "w") as f:
                f.write(text + "\n" + MARK + "\n\n" + "\n".join(rows).rstrip() + "\n")
            print(f"{folder}/{name}: {len(rows) // 4} reference examples")


if __name__ == "__main__":
    main()
