#!/usr/bin/env bash
# Runs every Kingly test: host unit tests, the eBPF conformance suites, QEMU integration tests
# on both boards, and the model-checking runs. This is the README's test command and what CI
# runs after its setup and lint steps.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

started=$SECONDS
step() { printf '\n==> [%ds] %s\n' "$((SECONDS - started))" "$*"; }

# A fresh machine lacks QEMU, clang, the Python MCP SDK…: set them up first (idempotent; the
# check changes nothing and needs no root). KINGLY_SKIP_SETUP=1 skips it when you know better.
if [[ -z "${KINGLY_SKIP_SETUP:-}" ]] && ! missing=$(bash .ci/setup --check); then
    step "set-up: this machine lacks what the tests need"
    printf '%s\n' "$missing" | grep '^missing' || true
    bash .ci/setup
fi

step "host and QEMU tests (cargo test --workspace)"
cargo test --workspace

step "benchmarks, each case run once as a smoke test (criterion --test; timings come from cargo bench)"
cargo bench -p kingly-kernel -p kingly-bpf -- --test

if [[ -x scripts/test-models.sh ]]; then
    step "model checking (loom) and Miri"
    scripts/test-models.sh
fi
step "all tests passed"
