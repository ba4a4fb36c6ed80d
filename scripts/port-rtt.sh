#!/usr/bin/env bash
# Round-trip time of `kingly call` through the message port: boots the kernel under QEMU with
# its UART on a Unix socket, then times N calls of a few tools (each call is a whole `kingly
# call`: connect, Hello, request, reply). Prints the median and the 90th percentile per tool.
#
#   scripts/port-rtt.sh [N] [BOARD]      # default 30 calls each on raspi4b
#
# KINGLY=path/to/kingly times another build (e.g. an older tree's target/release/kingly; run
# the script from that tree so the kernel it boots is that tree's too).
set -euo pipefail
n=${1:-30}
board=${2:-raspi4b}
kingly=${KINGLY:-target/release/kingly}
[ -x "$kingly" ] || cargo build --release -q -p kingly
dir=$(mktemp -d)
sock="$dir/uart.sock"
"$kingly" boot --board "$board" --serial "unix:$sock" > "$dir/boot.log" 2>&1 &
boot=$!
trap 'kill $boot 2>/dev/null; wait $boot 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 600); do [ -S "$sock" ] && break; sleep 0.5; done
[ -S "$sock" ] || { cat "$dir/boot.log"; echo "port-rtt: the kernel did not open $sock" >&2; exit 1; }
# The first call waits for the boot.
"$kingly" call kernel_info --connect "unix:$sock" --wait 120 > /dev/null
for tool in ping kernel_info bpf_list uart_stats; do
    : > "$dir/times"
    for _ in $(seq "$n"); do
        start=$(date +%s%N)
        "$kingly" call "$tool" --connect "unix:$sock" > /dev/null
        echo $(( ($(date +%s%N) - start) / 1000 )) >> "$dir/times"
    done
    sort -n "$dir/times" | awk -v tool="$tool" '{ v[NR] = $1 } END {
        printf "%-12s n=%d  median %.1f ms  p90 %.1f ms\n", tool, NR, v[int((NR + 1) / 2)] / 1000, v[int(NR * 0.9 + 0.999)] / 1000 }'
done
