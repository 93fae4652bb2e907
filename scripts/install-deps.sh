#!/usr/bin/env bash
# Installs what Zar's build, tests and benchmarks use on Debian: the reference tools the tests compare
# against (mkfs.erofs/fsck.erofs, GNU tar, bsdtar, skopeo, umoci, docker-registry, buildah, ...).
set -euo pipefail
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
PKGS=(erofs-utils cryptsetup-bin squashfs-tools libarchive-tools tar zstd gzip skopeo umoci docker-registry buildah debootstrap fuse3 attr apache2-utils xxd python3 git util-linux kmod crun squashfuse
      redis-server build-essential nodejs)
# The demo image's program. busybox-static replaces the dynamic busybox package, so a machine that has
# that one keeps it (the demo then takes the static binary from the package without installing it).
dpkg -s busybox >/dev/null 2>&1 || PKGS+=(busybox-static)
missing=()
for p in "${PKGS[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
# Debian's nodejs needs its npm package; a nodejs that ships npm itself (nodesource) conflicts with it.
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if ! command -v dotnet >/dev/null 2>&1; then
  echo "installing the .NET 10 SDK" >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq dotnet-sdk-10.0 >/dev/null || {
    echo "error: the .NET 10 SDK is needed (https://dot.net); install it and re-run" >&2; exit 2; }
fi
# s3rver for the flist s3:// store tests (started by the tests on loopback), from npm, kept inside the
# repository (git ignores scripts/servers/node_modules). zdb comes from scripts/peers.sh.
here=$(cd "$(dirname "$0")/.." && pwd)
if [ ! -x "$here/scripts/servers/node_modules/.bin/s3rver" ]; then
  (cd "$here/scripts/servers" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi
# The kernel pieces the mount tests use.
$SUDO modprobe erofs 2>/dev/null || true
$SUDO modprobe overlay 2>/dev/null || true
$SUDO modprobe loop 2>/dev/null || true
$SUDO modprobe fuse 2>/dev/null || true
