#!/usr/bin/env python3
"""Writes tasks/coder/*.toml: the coder's shipped task set. Outputs are computed here by
plain Python reference implementations so that no expected value is typed by hand."""
import os, sys

def fnv(name):
    h = 0x811c9dc5
    for b in name.encode():
        h ^= b
        h = (h * 0x01000193) & 0xffffffff
    return h

def hexs(b):
    return " ".join(f"{x:02x}" for x in b)

def tool(name, desc, fn, inputs, max_insns=None):
    out = [f'description = "{desc}"', 'type = "tool"']
    if max_insns:
        out.append(f"max_insns = {max_insns}")
    for i in inputs:
        b = i.encode() if isinstance(i, str) else bytes(i)
        out += ["", "[[examples]]", f'input = "{hexs(b)}"', f"output = {fn(b)}"]
    return name, "\n".join(out) + "\n"

def decision(name, desc, hook, fn, rows, kind="decision"):
    out = [f'description = "{desc}"', f'type = "{kind}"']
    if hook:
        out.append(f'hook = "{hook}"')
    state = {}
    for r in rows:
        out += ["", "[[examples]]"]
        for k, v in r.items():
            out.append(f'{k} = "{v}"' if isinstance(v, str) else f"{k} = {v}")
        out.append(f"output = {fn(r, state)}")
    return name, "\n".join(out) + "\n"

def leading_int(b):
    n = 0
    for c in b:
        if not (48 <= c <= 57):
            break
        n = n * 10 + c - 48
    return n

def words(b):
    n, prev = 0, False
    for c in b:
        m = c != 32
        n += m and not prev
        prev = m
    return n

def fnv_bytes(b):
    h = 0x811c9dc5
    for x in b:
        h = ((h ^ x) * 16777619) & 0xffffffff
    return h

T = []
T.append(tool("count-spaces", "Count the spaces in the input.", lambda b: b.count(b" "),
              ["hello world", "a b c d", "", "nospace", "  x  "]))
T.append(tool("checksum-sum8", "Additive checksum: the sum of all input bytes modulo 256.", lambda b: sum(b) % 256,
              ["abc", "", [200, 100], [255, 255, 255, 3], "checksum me"]))
T.append(tool("checksum-xor", "Longitudinal redundancy check: the xor of every input byte.", lambda b: __import__("functools").reduce(lambda a, c: a ^ c, b, 0),
              ["abc", "", [1, 2, 4, 8], [0xff, 0x0f], "parity"]))
T.append(tool("input-length", "Return the length of the input in bytes.", len, ["", "a", "four", [0] * 37, "some longer text here"]))
T.append(tool("count-digits", "How many digit characters does the input contain?", lambda b: sum(48 <= c <= 57 for c in b),
              ["abc123", "", "2026-11-26", "no digits", "9"]))
T.append(tool("http-get", "Return 1 if the request starts with 'GET ', otherwise 0.", lambda b: int(b.startswith(b"GET ")),
              ["GET /index.html", "POST /form", "GET", "GET /", "get /x", "PUT / GET /"]))
T.append(tool("first-byte", "Return the first byte of the input (the opcode), or 0 when the input is empty.", lambda b: b[0] if b else 0,
              [[7, 1, 2], [0x42], [], [0xff, 0], [3, 3, 3, 3, 3, 3, 3, 3, 3]]))
T.append(tool("be16-length-field", "Read the big-endian 16-bit length field at offset 2 of the header.", lambda b: (b[2] << 8 | b[3]) if len(b) >= 4 else None,
              [[1, 0, 0x01, 0x02, 9], [0, 0, 0, 5], [9, 9, 0xab, 0xcd, 0, 0, 0], [0, 0, 0xff, 0xff]]))
T.append(tool("atoi", "Parse the leading decimal number in the input (atoi).", leading_int,
              ["123", "42 apples", "7", "", "x99", "65535!"]))
T.append(tool("count-words", "Count the words separated by spaces.", words,
              ["hello world", "  leading and trailing  ", "", "one", "a b  c   d"]))
T.append(tool("index-of-colon", "Return the index of the first colon, or the length of the input if there is none.",
              lambda b: b.index(b":") if b":" in b else len(b), ["key:value", "no colon", ":start", "a:b:c", ""]))
T.append(tool("max-byte", "Return the largest byte value in the input.", lambda b: max(b) if b else 0,
              ["abc", [1, 200, 3], [], [0, 0, 0], "zebra"]))
T.append(tool("fnv1a-hash", "Compute the 32-bit FNV-1a hash of the input bytes.", fnv_bytes,
              ["", "a", "foobar", "kingly", "hash me please"]))
T.append(tool("count-uppercase", "Count the uppercase letters.", lambda b: sum(65 <= c <= 90 for c in b),
              ["Hello World", "lower", "", "ABC def GHI", "MiXeD CaSe"]))
T.append(tool("all-printable", "Return 1 if every byte is printable ASCII, else 0.", lambda b: int(all(32 <= c <= 126 for c in b)),
              ["plain text", [0x41, 0x00, 0x42], "tab\there", "~!@#", [0x80], "ok"]))
T.append(tool("too-long", "Reject inputs longer than 64 bytes: return 1 if the input is too long, else 0.", lambda b: int(len(b) > 64),
              ["short", [1] * 64, [1] * 65, [2] * 200, ""]))
T.append(tool("le32-sequence", "Return the little-endian 32-bit sequence number stored at offset 4.", lambda b: int.from_bytes(b[4:8], "little"),
              [[0, 0, 0, 0, 1, 0, 0, 0], [9, 9, 9, 9, 0x78, 0x56, 0x34, 0x12, 0xee], [0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff], [1, 2, 3, 4, 5, 6, 7, 8]]))
T.append(tool("count-lines", "Count the lines: the number of newline characters.", lambda b: b.count(b"\n"),
              ["one\ntwo\n", "", "no newline", "\n\n\n", "a\nb"]))
T.append(tool("digit-value-sum", "Sum of the digit values: each digit character adds its value 0-9; other bytes add nothing.",
              lambda b: sum(c - 48 for c in b if 48 <= c <= 57), ["123", "a9b9", "", "no digits", "5 5 5 5", "99999", "8888888"]))

def slice_by_class(r, s):
    return {0: 20000, 1: 5000, 2: 1000}[r["class"]]
T.append(decision("slice-by-class", "Time slice by scheduling class: latency tasks get 1000 us, sleepers 5000 us, cpu-bound tasks 20000 us.",
                  "sched_slice", slice_by_class, [{"class": 0, "task": 1}, {"class": 1, "task": 2}, {"class": 2, "task": 3}, {"class": 0, "task": 9}, {"class": 2, "task": 7}, {"class": 1, "task": 4}]))
T.append(decision("slice-share", "Divide a 100000 us period among the runnable tasks (slice = 100000 / runnable), but never less than 1000 us.",
                  "sched_slice", lambda r, s: max(100000 // r["runnable"] if r["runnable"] else 0, 1000),
                  [{"runnable": 1}, {"runnable": 4}, {"runnable": 10}, {"runnable": 200}, {"runnable": 3}, {"runnable": 0}]))
T.append(decision("slice-nice", "Tasks with nice above 10 get a 2000 us slice; all others get 10000 us.",
                  "sched_slice", lambda r, s: 2000 if r.get("nice", 0) > 10 else 10000,
                  [{"nice": 0}, {"nice": 19}, {"nice": 10}, {"nice": 11}, {"nice": 5}, {"nice": 15}]))
T.append(decision("slice-crowded", "When more than 8 tasks are runnable shorten the slice to 3000 us; otherwise 12000 us.",
                  "sched_slice", lambda r, s: 3000 if r["runnable"] > 8 else 12000,
                  [{"runnable": 1}, {"runnable": 8}, {"runnable": 9}, {"runnable": 30}, {"runnable": 4}]))
T.append(decision("cpu-spread", "Spread tasks over 4 cores: core = task id modulo 4.", "sched_cpu", lambda r, s: r["task"] % 4,
                  [{"task": 0}, {"task": 5}, {"task": 10}, {"task": 7}, {"task": 12}, {"task": 1001}]))
T.append(decision("cpu-affinity", "Keep the task on its previous cpu for cache affinity.", "sched_cpu", lambda r, s: r["prev_cpu"],
                  [{"task": 1, "prev_cpu": 2}, {"task": 2, "prev_cpu": 0, "waker_cpu": 3}, {"task": 3, "prev_cpu": 3, "waker_cpu": 1}, {"task": 4, "prev_cpu": 1}]))
T.append(decision("cpu-latency-core0", "Latency-class tasks go to core 0; every other task stays on its previous cpu.", "sched_cpu",
                  lambda r, s: 0 if r["class"] == 2 else r["prev_cpu"],
                  [{"class": 2, "prev_cpu": 3}, {"class": 0, "prev_cpu": 3}, {"class": 1, "prev_cpu": 1}, {"class": 2, "prev_cpu": 1}, {"class": 0, "prev_cpu": 2}]))
T.append(decision("cpu-wake-affine", "Run woken sleepers on the waker's cpu; everything else on its previous cpu.", "sched_cpu",
                  lambda r, s: r["waker_cpu"] if r["class"] == 1 else r["prev_cpu"],
                  [{"class": 1, "prev_cpu": 0, "waker_cpu": 2}, {"class": 0, "prev_cpu": 1, "waker_cpu": 3}, {"class": 2, "prev_cpu": 3, "waker_cpu": 0}, {"class": 1, "prev_cpu": 2, "waker_cpu": 1}, {"class": 0, "prev_cpu": 0, "waker_cpu": 2}]))
T.append(decision("admit-deny-bpf", "Deny calls to 'bpf_load' and 'bpf_unload'; allow every other tool.", "mcp_admit",
                  lambda r, s: 1 if r["tool"] in ("bpf_load", "bpf_unload") else 0,
                  [{"tool": "bpf_load", "client": 1}, {"tool": "ping", "client": 1}, {"tool": "bpf_unload", "client": 2}, {"tool": "kernel_info", "client": 3}, {"tool": "cache_stats", "client": 1}, {"tool": "bpf_load", "client": 5}]))
T.append(decision("admit-arg-size", "Deny requests whose arguments exceed 4096 bytes; allow the rest.", "mcp_admit",
                  lambda r, s: int(r["arg_bytes"] > 4096),
                  [{"tool": "ping", "arg_bytes": 10}, {"tool": "bpf_load", "arg_bytes": 5000}, {"tool": "ping", "arg_bytes": 4096}, {"tool": "map_write", "arg_bytes": 4097}, {"tool": "ping", "arg_bytes": 0}]))
def rate(r, s):
    s[r["client"]] = s.get(r["client"], 0) + 1
    return 2 if s[r["client"]] > 3 else 0
T.append(decision("admit-rate-limit", "Rate-limit each client: allow its first 3 calls, then answer 2 (rate-limited).", "mcp_admit", rate,
                  [{"tool": "ping", "client": 1}] * 2 + [{"tool": "ping", "client": 2}] + [{"tool": "ping", "client": 1}] * 3 + [{"tool": "ping", "client": 2}] * 3))
T.append(decision("admit-block-client", "Client 7 is blocked (deny); all other clients are allowed.", "mcp_admit", lambda r, s: int(r["client"] == 7),
                  [{"tool": "ping", "client": 7}, {"tool": "ping", "client": 1}, {"tool": "bpf_load", "client": 7}, {"tool": "ping", "client": 8}, {"tool": "ping", "client": 6}]))
def budget(r, s):
    s[r["client"]] = s.get(r["client"], 0) + r["arg_bytes"]
    return 2 if s[r["client"]] > 10000 else 0
T.append(decision("admit-byte-budget", "Each client may send 10000 argument bytes in total; once its running total exceeds that, rate-limit it (2).", "mcp_admit", budget,
                  [{"client": 1, "arg_bytes": 4000}, {"client": 1, "arg_bytes": 4000}, {"client": 2, "arg_bytes": 9000}, {"client": 1, "arg_bytes": 4000}, {"client": 2, "arg_bytes": 500}, {"client": 2, "arg_bytes": 600}, {"client": 3, "arg_bytes": 20000}, {"client": 4, "arg_bytes": 10}]))
T.append(decision("timer-every-10th", "Fire on every 10th run: return 1 when runs is a multiple of 10, else 0.", None,
                  lambda r, s: int(r["runs"] % 10 == 0), [{"runs": 10}, {"runs": 11}, {"runs": 20}, {"runs": 25}, {"runs": 0}, {"runs": 99}, {"runs": 4}, {"runs": 30}], kind="timer"))
T.append(decision("timer-elapsed-ms", "Return the elapsed time in milliseconds (now_ns divided by 1000000).", None,
                  lambda r, s: r["now_ns"] // 1000000, [{"now_ns": 5000000}, {"now_ns": 1234567890}, {"now_ns": 999999}, {"now_ns": 0}, {"now_ns": 86400000000000}], kind="timer"))
def per_cpu(r, s):
    s[r["cpu"]] = s.get(r["cpu"], 0) + 1
    return s[r["cpu"]]
T.append(decision("timer-runs-per-cpu", "Count timer runs per cpu in a map and return this cpu's count so far.", None, per_cpu,
                  [{"cpu": 0}, {"cpu": 0}, {"cpu": 1}, {"cpu": 0}, {"cpu": 1}, {"cpu": 3}], kind="timer"))
def delta(r, s):
    prev = s.get(r["cpu"])
    s[r["cpu"]] = r["now_ns"]
    return 0 if prev is None else r["now_ns"] - prev
T.append(decision("timer-delta", "Return the nanoseconds since the previous run on the same cpu (0 the first time).", None, delta,
                  [{"cpu": 0, "now_ns": 1000}, {"cpu": 0, "now_ns": 4000}, {"cpu": 1, "now_ns": 5000}, {"cpu": 0, "now_ns": 10000}, {"cpu": 1, "now_ns": 5500}], kind="timer"))
T.append(decision("timer-total-ms", "Total milliseconds of timer time so far: period_ms times runs.", None, lambda r, s: r["period_ms"] * r["runs"],
                  [{"period_ms": 10, "runs": 3}, {"period_ms": 1, "runs": 1000}, {"period_ms": 250, "runs": 0}, {"period_ms": 7, "runs": 9}], kind="timer"))

def main():
    out_dir = sys.argv[1]
    os.makedirs(out_dir, exist_ok=True)
    for name, text in T:
        with open(os.path.join(out_dir, name + ".toml"), "w") as f:
            f.write(text)
    print(len(T), "tasks")


if __name__ == "__main__":
    main()
