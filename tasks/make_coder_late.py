#!/usr/bin/env python3
"""Writes tasks/coder-late/*.toml: 20 tool tasks written after session 8's coder changes (the
ones'-complement sum, unit divisors, credible rivals) and never used to tune anything since.
The shown examples are the empty input, one short input and six seeded random inputs from
the task's own generator, as a user who does not know the coder would pick them; 64
`[[reference]]` examples come from the Python reference."""
import functools
import os
import random

from make_coder_heldout import write, rand_bytes, rand_text, le, be, inet_checksum, last_index, first_index

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "coder-late")


def gen(r):
    return rand_bytes(r, 0, 14)


def words(b):
    return len(bytes(b).split(b" ")) - bytes(b).split(b" ").count(b"")


def task(name, desc, ref, generator, short):
    rng = random.Random("shown-" + name)
    shown = [[], short] + [generator(rng) for _ in range(6)]
    return (name, desc, ref, generator, shown)


TEXT = "abc XYZ 019,\n"
TASKS = [
    task("le32-at-4", "Return the little-endian 32-bit value at offset 4, or 0 if the input has fewer than 8 bytes.",
         lambda b: le(b, 4, 4) if len(b) >= 8 else 0, lambda r: rand_bytes(r, 0, 12), [1, 2, 3]),
    task("count-upper", "Count the bytes that are uppercase letters.",
         lambda b: sum(65 <= c <= 90 for c in b), lambda r: rand_text(r, TEXT, 0, 14), [ord("Q")]),
    task("last-comma", "Return the index of the last comma, or the length of the input if there is no comma.",
         lambda b: last_index(b, ord(",")), lambda r: rand_text(r, "ab,, c", 0, 12), [ord(",")]),
    task("bit-total", "Total number of set bits in the input.",
         lambda b: sum(bin(c).count("1") for c in b), gen, [0x81]),
    task("all-digits", "Return 1 if every byte is an ASCII digit, otherwise 0.",
         lambda b: int(all(48 <= c <= 57 for c in b)), lambda r: rand_text(r, "0123456789a", 0, 6), [ord("7")]),
    task("repeats", "How many times is a byte equal to the byte just before it?",
         lambda b: sum(b[i] == b[i - 1] for i in range(1, len(b))), lambda r: rand_text(r, "aab", 0, 10), [5]),
    task("sum-mod-256", "Return the sum of all bytes modulo 256.",
         lambda b: sum(b) % 256, gen, [0xff]),
    task("high-bytes", "Return the number of bytes greater than 0x7f.",
         lambda b: sum(c > 0x7f for c in b), gen, [0x80]),
    task("first-newline", "Return the position of the first newline, or the input length when there is none.",
         lambda b: first_index(b, 10), lambda r: rand_text(r, "ab\n", 0, 10), [10]),
    task("second-byte-or-0", "Return the second byte, or 0 if the input is shorter than two bytes.",
         lambda b: b[1] if len(b) >= 2 else 0, gen, [9]),
    task("xor-odd", "The xor of all bytes at odd positions.",
         lambda b: functools.reduce(lambda x, y: x ^ y, b[1::2], 0), gen, [4, 6]),
    task("starts-http", "Return 1 if the input starts with 'HTTP', otherwise 0.",
         lambda b: int(bytes(b).startswith(b"HTTP")),
         lambda r: list(r.choice([b"HTTP/1.1 200", b"HTTX", b"GET /", b"HTT", b"HTTP"])) + rand_text(r, TEXT, 0, 3), list(b"H")),
    task("be16-at-0", "Return the big-endian 16-bit value at offset 0, or 0 if the input is shorter than two bytes.",
         lambda b: be(b, 0, 2) if len(b) >= 2 else 0, gen, [1]),
    task("rfc1071", "Return the RFC 1071 Internet checksum of the input: the ones' complement of the ones' complement sum of its big-endian 16-bit words, an odd last byte padded with zero.",
         inet_checksum, lambda r: rand_bytes(r, 0, 24), [0x45]),
    task("space-words", "Count the words separated by spaces.",
         words, lambda r: rand_text(r, "ab  c", 0, 14), list(b" ")),
    task("rises", "Return the number of places where a byte is larger than the byte before it.",
         lambda b: sum(b[i] > b[i - 1] for i in range(1, len(b))), gen, [3]),
    task("min-or-255", "Return the smallest byte, or 255 if the input is empty.",
         lambda b: min(b) if b else 255, gen, [0x42]),
    task("len-div-4", "Return the length of the input divided by 4.",
         lambda b: len(b) // 4, lambda r: rand_bytes(r, 0, 30), [1, 2, 3, 4, 5]),
    task("even-length", "Return 1 if the input length is even, otherwise 0.",
         lambda b: int(len(b) % 2 == 0), lambda r: rand_bytes(r, 0, 9), [1]),
    task("count-zero", "How many zero bytes does the input contain?",
         lambda b: sum(c == 0 for c in b), lambda r: [r.choice([0, 0, 1, 7, 0xff]) for _ in range(r.randint(0, 12))], [0]),
]


def main():
    write(OUT, TASKS)


if __name__ == "__main__":
    main()
