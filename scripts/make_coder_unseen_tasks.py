#!/usr/bin/env python3
"""Writes tasks/coder-unseen/*.toml: held-out tasks of the shipped kinds, written after the
offline synthesizer was frozen (commit ff752ff) and never used to tune it. Outputs come from
the Python reference implementations below."""
import os, sys
sys.path.insert(0, os.path.dirname(__file__))
from make_coder_tasks import tool, decision  # noqa: E402  (same file format)

def djb2(b):
    h = 5381
    for x in b:
        h = (h * 33 + x) & 0xffffffff
    return h

def xor_all(b):
    r = 0
    for x in b:
        r ^= x
    return r

def leading_int(b):
    n = 0
    for c in b:
        if not (48 <= c <= 57):
            break
        n = n * 10 + c - 48
    return n

T = []
T.append(tool("count-commas", "How many commas are in the CSV line?", lambda b: b.count(b","),
              ["a,b,c", "", "no commas here", ",,,", "1,2"]))
T.append(tool("count-vowels", "Count the vowels in the text.", lambda b: sum(chr(c) in "aeiouAEIOU" for c in b),
              ["hello", "rhythm", "", "AEIOU aeiou", "Kingly kernel"]))
T.append(tool("last-byte", "Return the final byte of the message (0 if the message is empty).", lambda b: b[-1] if b else 0,
              [[1, 2, 3], [9], [], [0xff, 0x10], "abc"]))
T.append(tool("be16-msg-type", "Return the big-endian 16-bit message type at the start of the packet.",
              lambda b: (b[0] << 8 | b[1]), [[0x01, 0x02, 0, 0], [0, 7], [0xab, 0xcd, 0xef], [0xff, 0xff, 1, 2, 3]]))
T.append(tool("has-digit", "Return 1 if the input contains any digit, otherwise 0.", lambda b: int(any(48 <= c <= 57 for c in b)),
              ["abc", "abc1", "", "2026", "x-y-z", "room 101"]))
T.append(tool("first-word-length", "Length of the first word: the index of the first space, or the whole length if there is no space.",
              lambda b: b.index(b" ") if b" " in b else len(b), ["hello world", "single", "", " lead", "ab cd ef"]))
T.append(tool("count-lowercase", "Count the lowercase letters in the input.", lambda b: sum(97 <= c <= 122 for c in b),
              ["Hello World", "ABC", "", "abc DEF ghi", "x1y2z3"]))
T.append(tool("xor-frame-valid", "A frame is valid when the xor of all its bytes is zero: return 1 if it is valid, else 0.",
              lambda b: int(xor_all(b) == 0), [[1, 2, 3], [1, 2, 4], [], [0xff, 0xff], [7], [5, 5, 9, 9]]))
T.append(tool("starts-with-post", "Return 1 for inputs that begin with 'POST', else 0.", lambda b: int(b.startswith(b"POST")),
              ["POST /submit", "GET /", "POS", "POST", "post /x", "PUT /POST"]))
T.append(tool("djb2-hash", "Compute the 32-bit djb2 hash of the input.", djb2, ["", "a", "hello", "kingly", "djb2 hash"]))
T.append(tool("min-byte", "Return the smallest byte value in the input (0 when the input is empty).", lambda b: min(b) if b else 0,
              ["hello", [9, 3, 7], [], [200, 255], "zz"]))
T.append(tool("number-plus-one", "Parse the leading decimal number in the input and add one.", lambda b: leading_int(b) + 1,
              ["41", "9 lives", "", "x", "1000"]))
T.append(decision("slice-latency-short", "Latency tasks get a 500 us slice; every other class gets 8000 us.", "sched_slice",
                  lambda r, s: 500 if r["class"] == 2 else 8000,
                  [{"class": 2}, {"class": 0}, {"class": 1}, {"class": 2, "task": 5}, {"class": 0, "task": 9}]))
T.append(decision("slice-nice-scaled", "The slice is 10000 us minus 400 us per nice level.", "sched_slice",
                  lambda r, s: 10000 - 400 * r["nice"], [{"nice": 0}, {"nice": 5}, {"nice": 10}, {"nice": 19}, {"nice": 1}]))
T.append(decision("cpu-mod-8", "Place tasks on 8 cores by task id modulo 8.", "sched_cpu", lambda r, s: r["task"] % 8,
                  [{"task": 3}, {"task": 8}, {"task": 17}, {"task": 100}, {"task": 7}]))
T.append(decision("cpu-waker", "Always run the woken task on the waker's cpu.", "sched_cpu", lambda r, s: r["waker_cpu"],
                  [{"task": 1, "prev_cpu": 0, "waker_cpu": 2}, {"task": 2, "prev_cpu": 3, "waker_cpu": 1}, {"task": 3, "prev_cpu": 1, "waker_cpu": 3}, {"task": 4, "prev_cpu": 2, "waker_cpu": 0}]))
T.append(decision("admit-deny-map-write", "Deny 'map_write'; allow all other tools.", "mcp_admit",
                  lambda r, s: int(r["tool"] == "map_write"),
                  [{"tool": "map_write", "client": 1}, {"tool": "map_read", "client": 1}, {"tool": "ping", "client": 2}, {"tool": "map_write", "client": 3}, {"tool": "bpf_list", "client": 1}]))
T.append(decision("admit-large-rate", "Requests with arguments above 1024 bytes are rate-limited (2); smaller requests are allowed.", "mcp_admit",
                  lambda r, s: 2 if r["arg_bytes"] > 1024 else 0,
                  [{"tool": "ping", "arg_bytes": 10}, {"tool": "map_write", "arg_bytes": 2048}, {"tool": "ping", "arg_bytes": 1024}, {"tool": "ping", "arg_bytes": 1025}, {"tool": "bpf_load", "arg_bytes": 60000}]))
def five(r, s):
    s[r["client"]] = s.get(r["client"], 0) + 1
    return 1 if s[r["client"]] > 5 else 0
T.append(decision("admit-five-calls", "Each client may make 5 calls; later calls are denied (1).", "mcp_admit", five,
                  [{"tool": "ping", "client": 1}] * 4 + [{"tool": "ping", "client": 2}] + [{"tool": "ping", "client": 1}] * 3 + [{"tool": "ping", "client": 2}]))
T.append(decision("timer-every-4th", "Return 1 on every 4th run (runs divisible by 4), otherwise 0.", None, lambda r, s: int(r["runs"] % 4 == 0),
                  [{"runs": 4}, {"runs": 5}, {"runs": 8}, {"runs": 10}, {"runs": 0}, {"runs": 2}, {"runs": 6}, {"runs": 12}], kind="timer"))
T.append(decision("timer-seconds", "Return the current time in whole seconds.", None, lambda r, s: r["now_ns"] // 1000000000,
                  [{"now_ns": 1500000000}, {"now_ns": 999999999}, {"now_ns": 7000000000}, {"now_ns": 0}, {"now_ns": 123456789012}], kind="timer"))
def total(r, s):
    s[0] = s.get(0, 0) + 1
    return s[0]
T.append(decision("timer-global-ticks", "Count all timer runs across every cpu in one global counter and return it.", None, total,
                  [{"cpu": 0}, {"cpu": 1}, {"cpu": 0}, {"cpu": 2}, {"cpu": 1}], kind="timer"))

out_dir = sys.argv[1]
os.makedirs(out_dir, exist_ok=True)
for name, text in T:
    with open(os.path.join(out_dir, name + ".toml"), "w") as f:
        f.write(text)
print(len(T), "tasks")
