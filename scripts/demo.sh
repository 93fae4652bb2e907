#!/usr/bin/env bash
# One command on a fresh Debian machine: install what is needed, build zar, build a small real container
# image (Debian's static busybox and two more layers: a deleted file and directory, an opaque directory) as
# an OCI layout and a docker-archive, with umoci, GNU tar and skopeo (no Docker engine), then convert it
# to zar and EROFS, list, inspect and diff the results, and write one image per layer. As root it also
# mounts the per-layer EROFS images under overlayfs and runs the image's busybox from them.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -t 1 ]; then say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }; else say() { printf '\n== %s\n' "$*"; }; fi
# Prints a command as a user would type it (zar for out/zar/zar), then runs it.
run() { printf '$ %s\n' "$(sed "s|^$ZAR|zar|" <<<"$*")"; "$@"; }
# Runs a helper tool quietly; shows what it said only when it fails.
quiet() { local log; log=$(mktemp); if ! "$@" >"$log" 2>&1; then cat "$log" >&2; rm -f "$log"; echo "failed: $*" >&2; exit 1; fi; rm -f "$log"; }

bash scripts/install-deps.sh

say "building zar: dotnet publish src/Zar.Cli -o out/zar"
dotnet publish src/Zar.Cli -c Release -o out/zar --use-current-runtime --self-contained false -p:PublishReadyToRun=true --nologo -v quiet >/dev/null
ZAR=out/zar/zar

DEMO=out/demo
IMG=$DEMO/image
rm -rf "$DEMO"
mkdir -p "$IMG" "$DEMO/work"
WORK=$DEMO/work

say "building a small real image: busybox-static, then a layer that deletes, then an opaque directory"
# The image's only program: Debian's static busybox (no libc needed inside the image). When the dynamic
# busybox package is installed instead, the static binary is taken from its package without installing it.
BUSYBOX=/bin/busybox
if ! dpkg -s busybox-static >/dev/null 2>&1; then
  (cd "$WORK" && quiet apt-get download busybox-static && dpkg-deb -x busybox-static_*.deb pkg)
  BUSYBOX=$WORK/pkg/bin/busybox
fi
ROOTLESS=(); [ "$(id -u)" -eq 0 ] || ROOTLESS=(--rootless)
OCI=$IMG/oci
quiet umoci init --layout "$OCI"
quiet umoci new --image "$OCI:demo"
quiet umoci unpack "${ROOTLESS[@]}" --image "$OCI:demo" "$WORK/bundle"
ROOT=$WORK/bundle/rootfs
# Layer 1: a tiny system.
mkdir -p "$ROOT"/{bin,etc,tmp,root,usr/lib,var/cache/app,usr/share/doc/demo}
cp "$BUSYBOX" "$ROOT/bin/busybox"
for applet in sh ls; do ln "$ROOT/bin/busybox" "$ROOT/bin/$applet"; done     # hardlinks: stored once
for applet in cat echo uname; do ln -s busybox "$ROOT/bin/$applet"; done
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$ROOT/etc/passwd"
printf 'root:x:0:\n' >"$ROOT/etc/group"
printf 'NAME="zar demo"\nID=zar-demo\n' >"$ROOT/usr/lib/os-release"
ln -s ../usr/lib/os-release "$ROOT/etc/os-release"
printf 'zar-demo\n' >"$ROOT/etc/hostname"
cp "$ROOT/etc/hostname" "$ROOT/etc/mailname"                    # same content: stored once in a zar image
printf 'welcome to the zar demo image\n' >"$ROOT/etc/motd"
printf 'to be deleted\n' >"$ROOT/etc/motd.old"
printf 'README of the demo\n' >"$ROOT/usr/share/doc/demo/README"
for f in a b; do printf 'cached %s\n' "$f" >"$ROOT/var/cache/app/$f"; done
quiet umoci repack --refresh-bundle --image "$OCI:demo" "$WORK/bundle"
# Layer 2: umoci records the deletions as whiteouts (etc/.wh.motd.old, usr/share/doc/.wh.demo).
rm "$ROOT/etc/motd.old"
rm -r "$ROOT/usr/share/doc/demo"
printf 'layer 2 was here\n' >>"$ROOT/etc/motd"
quiet umoci repack --refresh-bundle --image "$OCI:demo" "$WORK/bundle"
# Layer 3: var/cache/app replaced as a whole: an opaque directory. Written with GNU tar because umoci
# 0.4.7's `insert --opaque` writes a tar that ends inside its last file.
mkdir -p "$WORK/layer3/var/cache/app"
printf 'fresh\n' >"$WORK/layer3/var/cache/app/c"
: >"$WORK/layer3/var/cache/app/.wh..wh..opq"
tar --sort=name --numeric-owner --owner=0 --group=0 --mtime=@1700000000 -C "$WORK/layer3" -cf "$WORK/layer3.tar" var
quiet umoci raw add-layer --image "$OCI:demo" "$WORK/layer3.tar"
quiet umoci config --image "$OCI:demo" --config.cmd /bin/sh --config.workingdir /
quiet umoci gc --layout "$OCI"
# The same image as `docker save` writes it. Local files only, so no signature policy applies.
quiet skopeo --insecure-policy copy "oci:$OCI:demo" "docker-archive:$IMG/demo.tar:zar/demo:latest"
echo "OCI layout     $OCI (tag demo)"
echo "docker-archive $IMG/demo.tar (zar/demo:latest)"
SRC="oci:$OCI:demo"

say "its layers, digests checked"
run "$ZAR" layers "$SRC"

say "converting: the merged image as one zar image (from the OCI layout) and one EROFS image (from the docker-archive)"
run "$ZAR" convert "$SRC" -o "$DEMO/demo.zar"
run "$ZAR" convert "docker-archive:$IMG/demo.tar" --format erofs -o "$DEMO/demo.erofs"

say "reading the zar image"
run "$ZAR" ls -l "$DEMO/demo.zar" /etc
run "$ZAR" ls "$DEMO/demo.zar" /var/cache/app
run "$ZAR" cat "$DEMO/demo.zar" /etc/motd
run "$ZAR" inspect "$DEMO/demo.zar"

say "each converted image against the source image (exit 0: equal)"
run "$ZAR" diff "$SRC" "$DEMO/demo.zar"; echo "equal"
run "$ZAR" diff "docker-archive:$IMG/demo.tar" "$DEMO/demo.erofs"; echo "equal"

say "one image per layer (names sort bottom to top), whiteouts kept"
run "$ZAR" convert "$SRC" --per-layer "$DEMO/layers"
run "$ZAR" convert "$SRC" --per-layer "$DEMO/layers" --format erofs
for layer in "$DEMO"/layers/0[23]-*.zar; do run "$ZAR" ls -R "$layer"; done

has_fs() { grep -qw "$1" /proc/filesystems || modprobe "$1" 2>/dev/null; }
if [ "$(id -u)" -eq 0 ] && has_fs erofs && has_fs overlay; then
  say "the kernel: the per-layer EROFS images stacked by overlayfs equal the flattened image"
  MNT=$(mktemp -d /tmp/zar-demo-mnt.XXXXXX)
  cleanup() { umount -q "$MNT/fuse" 2>/dev/null || true; umount -q "$MNT/merged" 2>/dev/null || true; for m in "$MNT"/l*; do umount -q "$m" 2>/dev/null || true; done; rm -rf "$MNT"; }
  trap cleanup EXIT
  lower=""
  i=0
  for img in "$DEMO"/layers/*.erofs; do
    mkdir -p "$MNT/l$i" && mount -t erofs -o loop,ro "$img" "$MNT/l$i"
    lower="$MNT/l$i${lower:+:$lower}"; i=$((i + 1))
  done
  mkdir -p "$MNT/merged" && mount -t overlay overlay -o "ro,lowerdir=$lower" "$MNT/merged"
  echo "mounted $i layers at $MNT/merged"
  run "$ZAR" diff --ignore-root --ignore-overlay-xattrs "$DEMO/demo.zar" "$MNT/merged"; echo "equal"
  printf '$ chroot %s /bin/sh -c "cat /etc/motd; ls /var/cache/app"\n' "$MNT/merged"
  chroot "$MNT/merged" /bin/sh -c "cat /etc/motd; ls /var/cache/app"

  say "zar's own FUSE server: the per-layer zar images stacked in-process, mounted, and a container booted from the image"
  mkdir -p "$MNT/fuse"
  run "$ZAR" mount --background "$DEMO"/layers/*.zar "$MNT/fuse"
  run "$ZAR" diff --ignore-root "$DEMO/demo.zar" "$MNT/fuse"; echo "equal"
  run "$ZAR" umount "$MNT/fuse"
  if command -v crun >/dev/null 2>&1; then
    run "$ZAR" run "$SRC" -- /bin/sh -c "cat /etc/motd; ls /var/cache/app"
  fi
fi

say "outputs"
echo "zar binary      $PWD/$ZAR   (or as a .NET tool: see README)"
echo "source image    $PWD/$OCI  and  $PWD/$IMG/demo.tar"
echo "zar image       $PWD/$DEMO/demo.zar"
echo "EROFS image     $PWD/$DEMO/demo.erofs   (mount -t erofs -o loop,ro $DEMO/demo.erofs /mnt)"
echo "per layer       $PWD/$DEMO/layers/"
