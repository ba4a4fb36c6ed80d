#!/usr/bin/env bash
# Benchmarks `kingly rag` on the whole Linux 6.1 tree: a cold BM25 index build (timed), a
# re-index with nothing changed, then the labelled query set (Recall@5, MRR, latency) against
# the ripgrep baseline, and last the same tree through cheaper pipelines (tantivy alone, ...;
# host-tools/examples/index_floor.rs) so each stage's cost shows against the timed build.
# Optional first argument: the tree (directory or .tar.xz).
# Set DENSE=1 to embed the curated subset too and evaluate hybrid ranking.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
source="${1:-/usr/src/linux-source-6.1.tar.xz}"
index="${RAG_INDEX:-${CARGO_TARGET_DIR:-target}/rag-index-6.1}"

cargo build --release -p kingly --bin kingly --example index_floor
release="${CARGO_TARGET_DIR:-target}/release"
kingly="$release/kingly"

if [[ "$source" == *.tar.xz ]]; then
    # Unpack once (kingly rag index would too) so the timed run measures indexing alone.
    "$kingly" rag index --quiet --no-history --source "$source" --index "$index.unpack" >/dev/null
    source="$(find "$index.unpack/source" -mindepth 1 -maxdepth 1 -type d | head -1)"
fi

rm -rf "$index"
echo "==> cold index of $source"
"$kingly" rag index --quiet --source "$source" --index "$index"
echo "==> re-index, nothing changed"
"$kingly" rag index --quiet --source "$source" --index "$index"
if [[ "${DENSE:-0}" == 1 ]]; then
    echo "==> dense vectors for the curated subset"
    "$kingly" rag index --quiet --dense --source "$source" --index "$index"
fi
echo "==> labelled queries vs ripgrep"
"$kingly" rag eval --index "$index"
echo "==> the same files through cheaper pipelines, for comparison with the cold index"
"$release/examples/index_floor" "$source"
