#!/usr/bin/env python3
"""Writes tasks/coder-final/*.toml: 20 tool tasks written at the end of session 8, after every
coder change of that session, and run once: the untouched measure of what those changes do on
tasks nobody tuned for. Same format and example policy as make_coder_late.py."""
import functools
import os
import random

from make_coder_heldout import write, rand_bytes, rand_text, le, be, inet_checksum, last_index, first_index
from make_coder_late import task

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "coder-final")


def gen(r):
    return rand_bytes(r, 0, 14)


def xor_all(b):
    return functools.reduce(lambda x, y: x ^ y, b, 0)


TEXT = "Hello World 42, ok.\n"
TASKS = [
    task("be32-at-0", "Big-endian 32-bit value at offset 0; 0 when the input has fewer than 4 bytes.",
         lambda b: be(b, 0, 4) if len(b) >= 4 else 0, lambda r: rand_bytes(r, 0, 8), [7, 7]),
    task("le16-at-2", "Read the little-endian 16-bit value at offset 2, or 0 if the input is shorter than 4 bytes.",
         lambda b: le(b, 2, 2) if len(b) >= 4 else 0, lambda r: rand_bytes(r, 0, 8), [1, 2, 3]),
    task("sum-even-idx", "Sum of the bytes at even positions (0, 2, 4, ...).",
         lambda b: sum(b[0::2]), gen, [9]),
    task("ones-in-bytes", "Count all the 1 bits in the input bytes (population count).",
         lambda b: sum(bin(c).count("1") for c in b), gen, [0xff]),
    task("ip-checksum", "Compute the Internet checksum (ones' complement of the ones' complement sum of big-endian 16-bit words, odd byte padded with zero) of the input.",
         inet_checksum, lambda r: rand_bytes(r, 0, 20), [0x01]),
    task("last-dot", "Return the index of the last '.' in the input, or the input length if there is none.",
         lambda b: last_index(b, ord(".")), lambda r: rand_text(r, "a.b.", 0, 10), list(b".")),
    task("equal-neighbours", "Count adjacent pairs of equal bytes.",
         lambda b: sum(b[i] == b[i - 1] for i in range(1, len(b))), lambda r: rand_text(r, "xxy", 0, 10), [1]),
    task("sum-mod-16", "Return the sum of all input bytes modulo 16.",
         lambda b: sum(b) % 16, gen, [0x11]),
    task("short-or-len", "Return 0 if the input is shorter than 3 bytes, otherwise its length.",
         lambda b: len(b) if len(b) >= 3 else 0, lambda r: rand_bytes(r, 0, 8), [1, 2]),
    task("count-vowels", "How many vowels are in the text?",
         lambda b: sum(chr(c) in "aeiouAEIOU" for c in b), lambda r: rand_text(r, TEXT, 0, 14), list(b"a")),
    task("count-digits", "Count the ASCII digits in the input.",
         lambda b: sum(48 <= c <= 57 for c in b), lambda r: rand_text(r, TEXT, 0, 14), list(b"4")),
    task("xor-checksum", "Return the xor of all bytes.",
         xor_all, gen, [0x5a]),
    task("first-space", "Position of the first space, or the length of the input when there is no space.",
         lambda b: first_index(b, 32), lambda r: rand_text(r, "ab c", 0, 10), list(b" ")),
    task("max-byte", "Return the largest byte in the input, or 0 if it is empty.",
         lambda b: max(b) if b else 0, gen, [3]),
    task("third-byte", "Return the third byte of the input, or 0 if there are fewer than three bytes.",
         lambda b: b[2] if len(b) >= 3 else 0, gen, [1, 2]),
    task("falls", "Count the places where a byte is smaller than the byte before it.",
         lambda b: sum(b[i] < b[i - 1] for i in range(1, len(b))), gen, [3]),
    task("starts-get", "Return 1 if the input starts with 'GET ', otherwise 0.",
         lambda b: int(bytes(b).startswith(b"GET ")),
         lambda r: list(r.choice([b"GET /", b"GET", b"POST /", b"GETX", b"get /"])) + rand_text(r, TEXT, 0, 3), list(b"G")),
    task("is-long", "Return 1 if the input is longer than 10 bytes, otherwise 0.",
         lambda b: int(len(b) > 10), lambda r: rand_bytes(r, 0, 16), [1] * 11),
    task("count-lower", "Count the lowercase letters.",
         lambda b: sum(97 <= c <= 122 for c in b), lambda r: rand_text(r, TEXT, 0, 14), list(b"z")),
    task("count-below-32", "Count the bytes below 32.",
         lambda b: sum(c < 32 for c in b), gen, [31]),
]


def main():
    write(OUT, TASKS)


if __name__ == "__main__":
    main()
