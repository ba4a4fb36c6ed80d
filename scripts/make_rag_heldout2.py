#!/usr/bin/env python3
"""Candidates for the second frozen held-out RAG set (eval_heldout2.tsv), written before tuning.

Same sources as make_rag_heldout.py (MAINTAINERS sections, Kconfig entries with help text and
the one object their Makefile builds) plus Documentation page titles, sampled with another
seed, and with every answer path already used by eval_queries.tsv or eval_heldout.tsv left out.
A person rewrites each title/prompt as a developer's question (never copying it) and checks the
answer exists. Usage: make_rag_heldout2.py LINUX_TREE > candidates.txt
"""
import importlib.util
import os
import random
import re
import sys

here = os.path.dirname(os.path.abspath(__file__))
root = sys.argv[1]
used = set()
for name in ("eval_queries.tsv", "eval_heldout.tsv"):
    for line in open(os.path.join(here, "..", "host-tools", "src", "rag", name)):
        if line.startswith("#") or not line.strip():
            continue
        for prefix in line.rstrip("\n").split("\t")[2].split("|"):
            used.add(prefix)


def fresh(paths):
    return not any(p.startswith(u) or u.startswith(p) for p in paths for u in used)


spec = importlib.util.spec_from_file_location("h1", os.path.join(here, "make_rag_heldout.py"))
sys.argv = [sys.argv[0], root]
# Reuse the first script's parsers with a new seed (its module body prints its own sample: muted).
source = open(os.path.join(here, "make_rag_heldout.py")).read().split('\nprint("## MAINTAINERS")')[0]
h1 = {}
exec(compile(source.replace("SEED = 6123", "SEED = 2312"), "make_rag_heldout.py", "exec"), h1)
rng = random.Random(2312)


class TakeAll(random.Random):
    def sample(self, population, k):  # the first script's samples: take all, filter, sample below
        return list(population)


h1["rng"] = TakeAll()

print("## MAINTAINERS")
sections = [(t, f) for t, f in h1["maintainers"]() if fresh(f)]
for title, files in rng.sample(sections, 40):
    print(f"{title}\t{'|'.join(files)}")
print("## Kconfig")
entries = [e for e in h1["kconfig_entries"](h1["kconfig_objects"]()) if fresh([e[3]])]
for symbol, prompt, help_text, path in random.Random(2313).sample(entries, 40):
    print(f"{symbol}\t{prompt}\t{path}\t{help_text}")
print("## Documentation titles")
docs = []
for dirpath, _, names in os.walk(os.path.join(root, "Documentation")):
    if "/translations" in dirpath or "/devicetree" in dirpath or "/ABI" in dirpath:
        continue
    for name in names:
        if name.endswith(".rst") and name != "index.rst":
            path = os.path.relpath(os.path.join(dirpath, name), root)
            lines = open(os.path.join(dirpath, name), errors="replace").read().splitlines()
            for a, b in zip(lines, lines[1:]):
                if a.strip() and re.fullmatch(r"[=\-~#*]{3,}", b.strip()) and not re.fullmatch(r"[=\-~#*]+", a.strip()):
                    docs.append((a.strip(), path))
                    break
docs = sorted(d for d in docs if fresh([d[1]]))
for title, path in random.Random(2314).sample(docs, 30):
    print(f"{title}\t{path}")
