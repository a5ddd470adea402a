#!/bin/bash
# Builds the lab's qemu-system-x86_64 from Debian 12's own qemu source package (the version of the
# installed qemu-system-x86, fetched and verified by apt), with one fix: pae-pdpte-accessed.patch.
# Only the x86_64 system emulator with TCG and user networking is built (about 2 minutes on 2 cores).
#   lab/qemu/build.sh OUT_DIR     -> OUT_DIR/qemu-system-x86_64
set -euo pipefail
out=$1
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/pvhctl-qemu-XXXXXX")
trap 'rm -rf "$work"' EXIT

version=$(dpkg-query -W -f='${source:Version}' qemu-system-x86)
case "$version" in 1:7.2*) ;; *) echo "qemu-system-x86 $version is not Debian 12's 7.2" >&2; exit 1 ;; esac

# The source package through apt (signatures and checksums checked), from a private source list.
mkdir -p "$work/apt/lists/partial" "$work/apt/cache/archives/partial" "$work/src"
suites=$(sed -n 's/^Suites: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)
cat > "$work/apt/sources.list" <<LIST
deb-src http://deb.debian.org/debian ${suites:-bookworm bookworm-updates} main
deb-src http://deb.debian.org/debian-security bookworm-security main
LIST
apt=(-o "Dir::Etc::SourceList=$work/apt/sources.list" -o Dir::Etc::SourceParts=/dev/null
  -o "Dir::State::Lists=$work/apt/lists" -o "Dir::Cache=$work/apt/cache" -o Debug::NoLocking=1 -qq)
apt-get "${apt[@]}" update
(cd "$work/src" && apt-get "${apt[@]}" source --download-only "qemu=$version" 2>&1 | grep -v '^W: Download is performed unsandboxed' || true)
dsc=$(ls "$work"/src/qemu_*.dsc)
dpkg-source -x "$dsc" "$work/qemu" >/dev/null

cd "$work/qemu"
patch -p1 --quiet < "$here/pae-pdpte-accessed.patch"
# Debian's source drops the prebuilt EDK2 images; do not ask for them (firmware comes from the
# installed seabios and qemu-system-data, passed with -L).
sed -i 's/^    unpack_edk2_blobs = bzip2.found()$/    unpack_edk2_blobs = false/' meson.build
mkdir build && cd build
../configure --target-list=x86_64-softmmu --without-default-features --enable-tcg --enable-slirp \
  --enable-fdt=system --disable-install-blobs --disable-docs --disable-werror --disable-tools \
  --disable-guest-agent --disable-xen --disable-kvm > "$work/configure.log" 2>&1 || { tail -20 "$work/configure.log" >&2; exit 1; }
ninja -j"$(nproc)" qemu-system-x86_64 > "$work/build.log" 2>&1 || { tail -20 "$work/build.log" >&2; exit 1; }
mkdir -p "$out"
cp qemu-system-x86_64 "$out/qemu-system-x86_64.tmp"
mv "$out/qemu-system-x86_64.tmp" "$out/qemu-system-x86_64"
echo "$version" > "$out/source-version"
