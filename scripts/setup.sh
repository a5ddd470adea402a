#!/usr/bin/env bash
# One-time, idempotent set-up that `npm start` and `npm test` run first (npm's pre-scripts):
# the Debian packages in scripts/apt-packages.txt, and the i386 architecture for the 32-bit test
# kernels. Node.js 24 itself comes from the pinned `node` dev dependency that `npm ci` installs.
set -euo pipefail
cd "$(dirname "$0")/.."

want=$(grep -v '^\s*#' scripts/apt-packages.txt | awk 'NF { print $1 }' | sort -u)
missing=()
for p in $want; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
need_i386=0
dpkg --print-foreign-architectures | grep -qx i386 || need_i386=1

if [ ${#missing[@]} -eq 0 ] && [ $need_i386 -eq 0 ]; then exit 0; fi
if [ "$(id -u)" -ne 0 ]; then
  echo "setup: as root, run: dpkg --add-architecture i386 && apt-get update && apt-get install -y ${missing[*]}" >&2
  exit 1
fi
[ $need_i386 -eq 1 ] && dpkg --add-architecture i386
export DEBIAN_FRONTEND=noninteractive
# A mirror that is mid-sync can fail one index; the packages we need are still found.
apt-get update -qq || echo "setup: apt-get update reported errors; continuing" >&2
if [ ${#missing[@]} -gt 0 ]; then
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
