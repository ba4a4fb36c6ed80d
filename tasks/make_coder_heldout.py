#!/usr/bin/env python3
"""Writes tasks/coder-heldout/*.toml: a held-out set written before the issue-17 ranking
changes and never used to tune them. Each task has 8 `[[examples]]` (what the coder sees) and
64 `[[reference]]` examples computed by the Python reference below on seeded random inputs;
the coder never reads `reference`, only `kingly code --eval` does."""
import os
import random

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "coder-heldout")


def le(b, off, size):
    return int.from_bytes(bytes(b[off:off + size]), "little")


def be(b, off, size):
    return int.from_bytes(bytes(b[off:off + size]), "big")


def inet_checksum(b):
    s = 0
    for i in range(0, len(b), 2):
        hi = b[i]
        lo = b[i + 1] if i + 1 < len(b) else 0
        s += hi << 8 | lo
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return (~s) & 0xffff


def last_index(b, c):
    i = bytes(b).rfind(bytes([c]))
    return len(b) if i < 0 else i


def first_index(b, c):
    i = bytes(b).find(bytes([c]))
    return len(b) if i < 0 else i


def leading_int(b):
    n = 0
    for c in b:
        if not 48 <= c <= 57:
            break
        n = n * 10 + c - 48
    return n


def rand_bytes(rng, lo=0, hi=20):
    return [rng.randrange(256) for _ in range(rng.randint(lo, hi))]


def rand_text(rng, alphabet, lo=0, hi=20):
    return [ord(rng.choice(alphabet)) for _ in range(rng.randint(lo, hi))]


TEXT = "abcdefghijklmnopqrstuvwxyz ABCDEFGHIJ0123456789,.-/=#:"


def gen_bytes(rng):
    return rand_bytes(rng) if rng.random() < 0.6 else rand_text(rng, TEXT)


def gen_small_alphabet(rng):
    return [rng.choice([0, 1, 2, 0x41, 0x41, 0xff]) for _ in range(rng.randint(0, 14))]


def gen_digits(rng):
    head = rand_text(rng, "0123456789", 0, 6)
    return head + rand_text(rng, "ab 12,", 0, 5)


TASKS = [
    ("le16-at-2-guarded",
     "Read the little-endian 16-bit value at offset 2, or 0 if the input is shorter than four bytes.",
     lambda b: le(b, 2, 2) if len(b) >= 4 else 0, gen_bytes,
     [[1, 2, 3, 4], [0, 0, 0xff, 0x01, 9], [7, 7, 7], [], [0x10, 0x20, 0x30, 0x40, 0x50, 0x60], [0, 0, 0, 0],
      [9, 8, 0x34, 0x12, 0xaa], [0xff, 0xff, 0xff, 0xff]]),
    ("be32-at-0-guarded",
     "Return the big-endian 32-bit word at offset 0, or 0 if the input is shorter than four bytes.",
     lambda b: be(b, 0, 4) if len(b) >= 4 else 0, gen_bytes,
     [[0, 0, 1, 2], [1, 2, 3, 4, 5], [0xde, 0xad], [], [0, 0, 0, 7], [0x12, 0x34, 0x56, 0x78, 0, 0],
      [0x80, 0, 0, 0], [9, 9, 9]]),
    ("le32-at-4-guarded",
     "Little-endian 32-bit word at offset 4; 0 when the input has fewer than 8 bytes.",
     lambda b: le(b, 4, 4) if len(b) >= 8 else 0, gen_bytes,
     [[0] * 4 + [1, 0, 0, 0], [9, 9, 9, 9, 0x78, 0x56, 0x34, 0x12, 0xff], [1, 2, 3, 4, 5, 6, 7], [],
      [0, 0, 0, 0, 0, 1, 0, 0], [5] * 10, [1, 2, 3, 4, 0xff, 0, 0, 0], [0xaa, 0xbb]]),
    ("be16-at-4-guarded",
     "The big-endian 16-bit port number at offset 4 of the header, or 0 if the header is shorter than 6 bytes.",
     lambda b: be(b, 4, 2) if len(b) >= 6 else 0, gen_bytes,
     [[0, 0, 0, 0, 0x1f, 0x90], [1, 2, 3, 4, 0, 80, 7, 7], [1, 2, 3, 4, 5], [], [9, 9, 9, 9, 0x01, 0xbb],
      [0, 0, 0, 0, 0xff, 0xff, 0], [0xff] * 4, [0, 0, 0, 0, 0, 22]]),
    ("sum-even-positions",
     "Sum of the bytes at even positions (index 0, 2, 4, ...).",
     lambda b: sum(b[0::2]), gen_bytes,
     [[1, 2, 3, 4], [10], [], [5, 100, 5, 100, 5], [0xff, 0, 0xff], [1, 1, 1, 1, 1, 1], [0, 9, 0, 9], [7, 3, 2]]),
    ("xor-odd-positions",
     "Xor of the bytes at odd positions (index 1, 3, 5, ...).",
     lambda b: __import__("functools").reduce(lambda x, y: x ^ y, b[1::2], 0), gen_bytes,
     [[1, 2, 3, 4], [10], [], [5, 0xf0, 5, 0x0f, 5], [0xff, 1, 0xff, 1], [0, 0x80], [9, 3, 9, 3, 9, 5], [1, 2, 3]]),
    ("popcount",
     "Count the set bits in all input bytes (the population count).",
     lambda b: sum(bin(x).count("1") for x in b), gen_bytes,
     [[0xff], [1, 2, 4], [], [0x0f, 0xf0, 0], [3, 3, 3], [0x80, 0x81], [0x55, 0xaa, 0x01], [7]]),
    ("inet-checksum",
     "Internet checksum: the ones'-complement of the ones'-complement sum of the big-endian 16-bit words "
     "(an odd trailing byte is padded with a zero byte), as a 16-bit value.",
     inet_checksum, gen_bytes,
     [[0, 1, 0, 2], [], [0xff, 0xff], [0x45, 0, 0, 0x1c], [1], [0x12, 0x34, 0x56], [0x80, 0, 0x80, 0],
      [0xab, 0xcd, 0xef, 0x01, 0x23, 0x45]]),
    ("last-index-of-slash",
     "Index of the last '/' in the path, or the length of the path if there is none.",
     lambda b: last_index(b, ord("/")), lambda r: rand_text(r, "ab/c./", 0, 16),
     [list(b"a/b/c"), list(b"abc"), [], list(b"/"), list(b"usr/lib/"), list(b"//x"), list(b"x.c"), list(b"a/bcd")]),
    ("count-equal-adjacent",
     "Count the adjacent pairs of equal bytes: positions i where byte i equals byte i+1.",
     lambda b: sum(1 for i in range(len(b) - 1) if b[i] == b[i + 1]), gen_small_alphabet,
     [[1, 1, 2], [], [5], [7, 7, 7, 7], [1, 2, 1, 2], list(b"aabbcc"), [0, 0, 1, 1, 0], [9, 8, 7]]),
    ("count-rising-pairs",
     "Count the adjacent pairs where the next byte is larger than the previous one.",
     lambda b: sum(1 for i in range(len(b) - 1) if b[i + 1] > b[i]), gen_bytes,
     [[1, 2, 3], [3, 2, 1], [], [5], [1, 5, 2, 6], [4, 4, 4], [0, 0xff, 0, 0xff], [9, 10, 1]]),
    ("sum-mod-16",
     "Sum of all bytes modulo 16.",
     lambda b: sum(b) % 16, gen_bytes,
     [[1, 2, 3], [15, 1], [], [0xff], [100, 100], [16, 32, 48], [7, 7, 7, 7], [0x80, 0x81]]),
    ("sum-low-byte",
     "Add up the bytes and return the sum modulo 256.",
     lambda b: sum(b) % 256, gen_bytes,
     [[1, 2, 3], [0xff, 1], [], [0x80, 0x80, 5], [200, 100], [10], [0xff, 0xff, 0xff], [1] * 9]),
    ("longer-than-10",
     "Return 1 if the input is longer than 10 bytes, otherwise 0.",
     lambda b: int(len(b) > 10), lambda r: rand_bytes(r, 0, 24),
     [[0] * 11, [1] * 10, [], [5] * 20, [2] * 3, [0xff] * 12, [7] * 9, [3] * 15]),
    ("first-byte-if-two",
     "The first byte if the input has at least 2 bytes, otherwise 0.",
     lambda b: b[0] if len(b) >= 2 else 0, gen_bytes,
     [[5, 6], [9], [], [0xff, 0, 1], [1, 2, 3, 4], [0x41], [0, 7], [0x80, 0x80]]),
    ("count-hashes",
     "Count the '#' characters in the line.",
     lambda b: b.count(ord("#")), lambda r: rand_text(r, "ab #1#", 0, 16),
     [list(b"#a#"), list(b"abc"), [], list(b"###"), list(b"# x"), list(b"a#b#c#d"), list(b" "), list(b"##1")]),
    ("max-minus-min",
     "Difference between the largest and the smallest byte (0 for an empty input).",
     lambda b: max(b) - min(b) if b else 0, gen_bytes,
     [[1, 5, 3], [7], [], [0, 0xff], [10, 10], [3, 1, 2], [0x80, 0x40, 0x20], [9, 200, 50]]),
    ("index-of-equals",
     "Index of the first '=' in the input, or the input length if there is none.",
     lambda b: first_index(b, ord("=")), lambda r: rand_text(r, "key=v ", 0, 16),
     [list(b"key=value"), list(b"novalue"), [], list(b"=x"), list(b"a=b=c"), list(b"ab ="), list(b" "),
      list(b"kk=")]),
    ("count-alnum",
     "Count the letters and digits (alphanumeric characters).",
     lambda b: sum(1 for c in b if chr(c).isascii() and chr(c).isalnum()), gen_bytes,
     [list(b"ab1"), list(b"--"), [], list(b"A b 9!"), [0xff, 0x41], list(b"hello world 42"), list(b"..x"),
      list(b"ZZ")]),
    ("double-the-number",
     "Parse the leading decimal number and return twice its value.",
     lambda b: 2 * leading_int(b), gen_digits,
     [list(b"21"), list(b"0"), [], list(b"100 apples"), list(b"7x"), list(b"abc"), list(b"12,3"), list(b"5")]),
    ("starts-with-ping",
     "Return 1 if the input starts with \"PING\", otherwise 0.",
     lambda b: int(bytes(b).startswith(b"PING")), lambda r: rand_text(r, "PINGO ", 0, 8),
     [list(b"PING"), list(b"PONG"), [], list(b"PING 1"), list(b"PIN"), list(b"xPING"), list(b"PINGPING"),
      list(b"ping")]),
    ("words-of-4",
     "Length in 32-bit words: the input length divided by 4, rounded up.",
     lambda b: (len(b) + 3) // 4, lambda r: rand_bytes(r, 0, 30),
     [[0] * 4, [0] * 5, [], [1], [0] * 8, [0] * 3, [0] * 13, [0] * 2]),
    ("count-nonzero",
     "Count the non-zero bytes.",
     lambda b: sum(1 for c in b if c), gen_small_alphabet,
     [[0, 1, 0], [], [5, 5], [0, 0, 0], [0xff], [1, 2, 3, 0], [0, 9], [0x41, 0, 0x41]]),
    ("xor-mod-8",
     "Xor of all the bytes, modulo 8 (its low three bits).",
     lambda b: __import__("functools").reduce(lambda x, y: x ^ y, b, 0) % 8, gen_bytes,
     [[1, 2], [0xff], [], [8, 1], [7, 7], [0x0f, 0x01], [3], [0x10, 0x22, 0x05]]),
]


# A second set, written after the DSL additions for the set above (so never used to tune
# them): fresh wording and combinations. Written to tasks/coder-fresh/.
FRESH = [
    ("second-byte-guarded",
     "Return the second byte of the packet, or 0 if the packet has fewer than two bytes.",
     lambda b: b[1] if len(b) >= 2 else 0, gen_bytes,
     [[1, 2], [5], [], [9, 8, 7], [0, 0xff], [0x41, 0x42, 0x43, 0x44], [7, 0], [3, 3]]),
    ("count-ff",
     "Count how many bytes are equal to 0xff.",
     lambda b: b.count(0xff), gen_small_alphabet,
     [[0xff], [], [1, 2], [0xff, 0xff, 0], [0, 0xff, 0x41], [0x41] * 3, [0xff] * 5, [2, 0xff]]),
    ("le16-at-0-guarded",
     "Little-endian 16-bit length at offset 0; 0 if the input is shorter than 2 bytes.",
     lambda b: le(b, 0, 2) if len(b) >= 2 else 0, gen_bytes,
     [[1, 0], [5], [], [0x34, 0x12, 9], [0, 1], [0xff, 0xff, 0xff], [7, 0, 0, 0], [0x10, 0x20]]),
    ("last-space",
     "Position of the last space, or the input length if there is no space.",
     lambda b: last_index(b, 0x20), lambda r: rand_text(r, "ab c ", 0, 14),
     [list(b"a b c"), list(b"abc"), [], list(b" "), list(b"ab  "), list(b" xy"), list(b"x y"), list(b"hello world")]),
    ("falling-pairs",
     "Number of places where a byte is followed by a smaller byte.",
     lambda b: sum(1 for i in range(len(b) - 1) if b[i + 1] < b[i]), gen_bytes,
     [[3, 2, 1], [1, 2, 3], [], [5], [2, 1, 2, 1], [4, 4], [0xff, 0], [1, 9, 3, 3]]),
    ("xor-even-positions",
     "Xor of the bytes at even positions.",
     lambda b: __import__("functools").reduce(lambda x, y: x ^ y, b[0::2], 0), gen_bytes,
     [[1, 2, 3], [7], [], [0xf0, 1, 0x0f], [5, 5, 5, 5], [0xff, 0, 0xff, 0, 1], [9, 9], [1, 2, 4, 8, 16]]),
    ("is-empty",
     "Return 1 if the input is empty, otherwise 0.",
     lambda b: int(len(b) == 0), lambda r: rand_bytes(r, 0, 3),
     [[], [0], [1, 2], [0xff], [0, 0, 0], [5], [9, 9, 9, 9], [0x41]]),
    ("max-mod-16",
     "The largest byte, modulo 16.",
     lambda b: (max(b) if b else 0) % 16, gen_bytes,
     [[1, 2, 3], [0x1f], [], [0x20, 0x05], [0xff, 0], [16, 17], [9], [0x80, 0x7f]]),
    ("ends-with-newline",
     "Return 1 if the message ends with a newline, otherwise 0.",
     lambda b: int(len(b) > 0 and b[-1] == 10), lambda r: rand_text(r, "ab\n", 0, 6),
     [list(b"a\n"), list(b"ab"), [], list(b"\n"), list(b"\nx"), list(b"x\n\n"), list(b" "), list(b"hi\n")]),
    ("sum-odd-positions",
     "Sum of the bytes at odd positions.",
     lambda b: sum(b[1::2]), gen_bytes,
     [[1, 2, 3, 4], [7], [], [0, 100, 0, 100], [1, 1, 1], [0xff, 0xff], [5, 6, 7], [9, 0, 9, 0, 9, 1]]),
    ("length-capped",
     "Length of the input in bytes, capped at 100.",
     lambda b: min(len(b), 100), lambda r: rand_bytes(r, 0, 160),
     [[0] * 5, [], [0] * 100, [0] * 120, [1], [0] * 99, [0] * 101, [0] * 50]),
    ("be32-at-2-guarded",
     "Return the big-endian 32-bit value at offset 2, or 0 if the input is shorter than 6 bytes.",
     lambda b: be(b, 2, 4) if len(b) >= 6 else 0, gen_bytes,
     [[0, 0, 0, 0, 0, 1], [1, 2, 3, 4, 5], [], [9, 9, 0x12, 0x34, 0x56, 0x78, 1], [0] * 6, [1] * 3,
      [0xff, 0xff, 0, 0, 1, 0], [0, 0, 0xde, 0xad, 0xbe, 0xef]]),
]


def hexs(b):
    return " ".join(f"{x:02x}" for x in b)


def write(out, tasks):
    os.makedirs(out, exist_ok=True)
    for name, desc, ref, gen, shown in tasks:
        rng = random.Random(name)
        escaped = desc.replace("\\", "\\\\").replace('"', '\\"')
        lines = [f'description = "{escaped}"', 'type = "tool"', ""]
        for b in shown:
            lines += ["[[examples]]", f'input = "{hexs(b)}"', f"output = {ref(b)}", ""]
        lines += ["# Checked by `kingly code --eval` only: the coder never reads these.", ""]
        for _ in range(64):
            b = gen(rng)
            lines += ["[[reference]]", f'input = "{hexs(b)}"', f"output = {ref(b)}", ""]
        with open(os.path.join(out, name + ".toml"), "w") as f:
            f.write("\n".join(lines).rstrip() + "\n")
    print(f"wrote {len(tasks)} tasks to {out}")


def main():
    write(OUT, TASKS)
    write(os.path.join(os.path.dirname(OUT), "coder-fresh"), FRESH)


if __name__ == "__main__":
    main()
