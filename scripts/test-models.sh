#!/usr/bin/env bash
# Model checking of the decision cache and RCU: loom models (including the planted ordering
# bug, which loom must catch) and Miri (tree borrows) over the portable unit and torture tests.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

echo "==> loom models"
RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom cargo test -p kingly-kernel --release --test loom

echo "==> loom catches the planted ordering bug"
RUSTFLAGS="--cfg loom --cfg kingly_planted_bug" CARGO_TARGET_DIR=target/loom-planted \
    cargo test -p kingly-kernel --release --test loom -- planted_bug_is_caught

echo "==> Miri (tree borrows) over the RCU and cache unit tests"
MIRIFLAGS=-Zmiri-tree-borrows CARGO_TARGET_DIR=target/miri \
    cargo +nightly miri test -p kingly-kernel --lib -- rcu:: dcache::
