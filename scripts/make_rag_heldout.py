#!/usr/bin/env python3
"""Candidate questions for the frozen held-out RAG set, drawn from sources other than the index.

Samples, with a fixed seed, from a Linux 6.1 tree:
  * MAINTAINERS sections (title, F: lines that exist and name at most three paths),
  * Kconfig entries with help text whose symbol builds one object (`obj-$(CONFIG_X) += foo.o`),
  * exported functions (`EXPORT_SYMBOL(name)` in a .c file) for identifier questions.
A person then rewrites the first two kinds as the English question a kernel developer would ask
(never copying the title or prompt), and checks every answer path exists; the identifier rows
are taken as they are. Usage: make_rag_heldout.py LINUX_TREE > candidates.txt
"""
import os
import random
import re
import sys

SEED = 6123
root = sys.argv[1]
rng = random.Random(SEED)


def maintainers():
    sections, title, files = [], None, []
    text = open(os.path.join(root, "MAINTAINERS"), encoding="utf-8", errors="replace").read()
    body = text.split("\n\n3C59X NETWORK DRIVER", 1)[-1]
    for line in ("3C59X NETWORK DRIVER\n" + body).splitlines():
        if not line.strip():
            if title and files:
                sections.append((title, files))
            title, files = None, []
        elif title is None:
            title = line.strip()
        elif line.startswith("F:\t"):
            files.append(line[3:].strip())
    good = [
        (t, f)
        for t, f in sections
        if len(f) <= 3 and all("*" not in p and os.path.exists(os.path.join(root, p)) for p in f)
        and not all(p.startswith("Documentation/") or p.startswith("include/") for p in f)
    ]
    return rng.sample(good, 70)


def kconfig_objects():
    """CONFIG_X -> the one object file its Makefile builds."""
    objects = {}
    pattern = re.compile(r"^obj-\$\(CONFIG_([A-Z0-9_]+)\)\s*\+?=\s*([\w-]+)\.o\s*$")
    for dirpath, _, names in os.walk(root):
        for name in names:
            if name not in ("Makefile", "Kbuild"):
                continue
            for line in open(os.path.join(dirpath, name), errors="replace"):
                m = pattern.match(line.strip())
                if m:
                    c = os.path.relpath(os.path.join(dirpath, m.group(2) + ".c"), root)
                    if os.path.exists(os.path.join(root, c)):
                        objects.setdefault(m.group(1), c)
    return objects


def kconfig_entries(objects):
    entries = []
    for dirpath, _, names in os.walk(root):
        for name in names:
            if not name.startswith("Kconfig"):
                continue
            symbol, prompt, help_lines, in_help = None, None, [], False
            for line in open(os.path.join(dirpath, name), errors="replace").read().splitlines() + ["config END"]:
                m = re.match(r"^(?:menu)?config\s+(\w+)", line)
                if m:
                    if symbol in objects and prompt and help_lines:
                        entries.append((symbol, prompt, " ".join(help_lines)[:300], objects[symbol]))
                    symbol, prompt, help_lines, in_help = m.group(1), None, [], False
                    continue
                s = line.strip()
                p = re.match(r'^(?:bool|tristate|prompt)\s+"([^"]+)"', s)
                if p and not in_help:
                    prompt = p.group(1)
                elif s in ("help", "---help---"):
                    in_help = True
                elif in_help and s:
                    help_lines.append(s)
    entries.sort()
    return rng.sample(entries, 60)


def exported():
    found = []
    for top in ["kernel", "mm", "fs", "lib", "drivers", "net", "block", "security", "arch/arm64", "sound", "crypto"]:
        for dirpath, _, names in os.walk(os.path.join(root, top)):
            for name in names:
                if name.endswith(".c"):
                    path = os.path.join(dirpath, name)
                    for m in re.finditer(r"^EXPORT_SYMBOL(?:_GPL)?\((\w+)\);", open(path, errors="replace").read(), re.M):
                        found.append((m.group(1), os.path.relpath(path, root)))
    found.sort()
    return rng.sample(found, 40)


print("## MAINTAINERS")
for title, files in maintainers():
    print(f"{title}\t{'|'.join(files)}")
print("## Kconfig")
for symbol, prompt, help_text, path in kconfig_entries(kconfig_objects()):
    print(f"{symbol}\t{prompt}\t{path}\t{help_text}")
print("## identifiers")
for name, path in exported():
    print(f"ident\t{name}\t{path}")
