#!/usr/bin/env bash
# Fetches the real Raspberry Pi device trees (bcm2711-rpi-4-b.dtb, bcm2712-rpi-5-b.dtb) from
# Debian's arm64 kernel package into tests/fixtures/dtb/, for the device-tree unit tests and
# `kingly image --dtb`. They are not committed (see tests/fixtures/README.md).
#
# Idempotent: does nothing when both files are there. Needs no foreign dpkg architecture: apt
# runs with a private state directory that only knows arm64 and the machine's own mirror.
# The suite is <codename>-backports (its kernel carries broadcom/bcm2712-rpi-5-b.dtb); set
# KINGLY_DTB_SUITE to use another one.
set -euo pipefail

log() { printf '[fetch-dtbs] %s\n' "$*" >&2; }

root=$(cd "$(dirname "$0")/.." && pwd)
out="$root/tests/fixtures/dtb"
wanted=(bcm2711-rpi-4-b.dtb bcm2712-rpi-5-b.dtb)

have_all=1
for f in "${wanted[@]}"; do [[ -s "$out/$f" ]] || have_all=0; done
if ((have_all)); then
    log "already present in $out ($(cat "$out/SOURCE" 2>/dev/null || echo 'unknown source'))"
    exit 0
fi

# The first Debian mirror URI configured on this machine (deb822 or one-line format), as .ci/setup.
debian_mirror() {
    local uri=""
    if compgen -G '/etc/apt/sources.list.d/*.sources' >/dev/null; then
        uri=$(awk '/^URIs:/ {print $2}' /etc/apt/sources.list.d/*.sources | grep -v -- '-security' | grep '/debian/\?$' | head -n1 || true)
    fi
    if [[ -z "$uri" && -f /etc/apt/sources.list ]]; then
        uri=$(awk '$1 == "deb" && $0 !~ /security/ {for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) {print $i; exit}}' /etc/apt/sources.list || true)
    fi
    [[ -n "$uri" ]] || { log "no Debian mirror found in /etc/apt/sources.list*; add one and rerun"; exit 1; }
    printf '%s\n' "${uri%/}"
}

codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
suite=${KINGLY_DTB_SUITE:-${codename}-backports}
mirror=$(debian_mirror)
keyring=/usr/share/keyrings/debian-archive-keyring.gpg

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/parts" "$work/x"
touch "$work/status"
echo "deb [arch=arm64 signed-by=$keyring] $mirror $suite main" >"$work/sources.list"
apt_opts=(
    -o "Dir::Etc::SourceList=$work/sources.list" -o "Dir::Etc::SourceParts=$work/parts"
    -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache" -o "Dir::State::status=$work/status"
    -o APT::Architecture=arm64 -o APT::Architectures::=arm64 -o Debug::NoLocking=1
    -o APT::Sandbox::User=root
)

log "reading the arm64 package list of $suite from $mirror"
apt-get "${apt_opts[@]}" -qq update
# linux-image-arm64 is the metapackage; its first dependency names the versioned image.
package=$(apt-cache "${apt_opts[@]}" depends linux-image-arm64 | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
[[ -n "$package" ]] || { log "no linux-image-arm64 in $suite on $mirror"; exit 1; }
version=$(apt-cache "${apt_opts[@]}" show "$package" | awk '/^Version:/ {print $2; exit}')

log "downloading $package $version"
(cd "$work" && apt-get "${apt_opts[@]}" -qq download "$package")
dpkg-deb -x "$work"/"${package}"_*.deb "$work/x"

mkdir -p "$out"
for f in "${wanted[@]}"; do
    src=$(find "$work/x" -path "*/broadcom/$f" | head -n1)
    [[ -n "$src" ]] || { log "$package $version has no broadcom/$f; try KINGLY_DTB_SUITE=<a newer suite>"; exit 1; }
    install -m 0644 "$src" "$out/$f.tmp"
    mv "$out/$f.tmp" "$out/$f"
done
copyright=$(find "$work/x" -path '*/usr/share/doc/*/copyright' | head -n1)
[[ -z "$copyright" ]] || install -m 0644 "$copyright" "$out/COPYRIGHT.linux"
echo "Debian $suite arm64 $package $version" >"$out/SOURCE"
log "wrote ${wanted[*]} to $out"
