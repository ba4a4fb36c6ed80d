#!/usr/bin/env bash
# Benchmarks `kingly rag` on the whole Linux 6.1 tree: a cold index build (BM25 chunks and file
# cards, then the dense card vectors when the MiniLM model is installed, the default), a
# re-index with nothing changed, the tuning and both held-out query sets (Recall@5, MRR,
# latency) against the ripgrep baseline, and last the same tree through cheaper pipelines
# (tantivy alone, ...; host-tools/examples/index_floor.rs). It ends with the cold BM25 index
# time as a ratio to the tantivy-alone floor of the same run (the target is 2x), and the
# embedding time separately.
# Optional first argument: the tree (directory or .tar.xz). DENSE=0 skips the vectors (`--no-dense`).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
source="${1:-/usr/src/linux-source-6.1.tar.xz}"
index="${RAG_INDEX:-${CARGO_TARGET_DIR:-target}/rag-index-6.1}"
dense_flag=()
[[ "${DENSE:-1}" == 0 ]] && dense_flag=(--no-dense)

cargo build --release -p kingly --bin kingly --example index_floor
release="${CARGO_TARGET_DIR:-target}/release"
kingly="$release/kingly"

if [[ "$source" == *.tar.xz ]]; then
    # Unpack once (kingly rag index would too) so the timed run measures indexing alone.
    "$kingly" rag index --quiet --no-dense --no-history --source "$source" --index "$index.unpack" >/dev/null
    source="$(find "$index.unpack/source" -mindepth 1 -maxdepth 1 -type d | head -1)"
fi

rm -rf "$index"
echo "==> cold index of $source"
cold=$("$kingly" rag index --quiet "${dense_flag[@]}" --source "$source" --index "$index")
echo "$cold"
echo "==> re-index, nothing changed"
"$kingly" rag index --quiet "${dense_flag[@]}" --source "$source" --index "$index"
echo "==> tuning, held-out and held-out2 queries vs ripgrep"
"$kingly" rag eval --index "$index"
echo "==> the same files through cheaper pipelines, for comparison with the cold index"
floor=$("$release/examples/index_floor" "$source")
echo "$floor"

bm25_s=$(sed -n 's/^indexed .* in \([0-9.]*\) s .*/\1/p' <<<"$cold")
whole_s=$(sed -n 's/.*whole index \([0-9.]*\) s.*/\1/p' <<<"$cold")
dense_s=$(sed -n 's/^dense: .* in \([0-9.]*\) s (.*/\1/p' <<<"$cold")
floor_s=$(awk '/tantivy alone/ {print $1; exit}' <<<"$floor")
echo "==> index time over the tantivy-alone floor (${floor_s} s), same run; target 2x"
awk -v t="$bm25_s" -v f="$floor_s" 'BEGIN {printf "BM25 chunks + cards: %.1f s = %.2fx the floor\n", t, t / f}'
if [[ -n "$whole_s" ]]; then
    echo "dense card vectors (embedding, separately): ${dense_s} s"
    awk -v t="$whole_s" -v f="$floor_s" 'BEGIN {printf "with dense vectors:  %.1f s = %.2fx the floor\n", t, t / f}'
fi
