#!/usr/bin/env bash
# One command on a fresh Debian machine: install, build, then run the main job on a sample tree the
# script makes (every entry type, duplicates, a sparse file): pack it into a zar image, list it,
# inspect it, and check that the image equals the tree.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
dotnet publish src/Zar.Cli -c Release -o out/zar --use-current-runtime --self-contained false -p:PublishReadyToRun=true --nologo -v quiet >/dev/null
ln -sf Zar.Cli out/zar/zar
ZAR=out/zar/zar
SAMPLE=.sample/tree
rm -rf .sample && mkdir -p "$SAMPLE/etc" "$SAMPLE/usr/bin" "$SAMPLE/usr/share/doc" "$SAMPLE/var/empty"
echo "zar sample" > "$SAMPLE/etc/motd"
cp "$SAMPLE/etc/motd" "$SAMPLE/etc/motd.copy"            # deduplicated
ln -s ../etc/motd "$SAMPLE/usr/motd-link"
ln "$SAMPLE/etc/motd" "$SAMPLE/usr/motd-hardlink"
cp /bin/ls "$SAMPLE/usr/bin/ls"; chmod 4755 "$SAMPLE/usr/bin/ls"
cp -r /usr/share/doc/tar /usr/share/doc/gzip "$SAMPLE/usr/share/doc/" 2>/dev/null || true
truncate -s 1G "$SAMPLE/var/sparse"; echo tail | dd of="$SAMPLE/var/sparse" bs=1 seek=500000000 conv=notrunc status=none
mkfifo "$SAMPLE/var/fifo"
setfattr -n user.comment -v "hello" "$SAMPLE/etc/motd" 2>/dev/null || true
echo "== zar create $SAMPLE -o .sample/sample.zar"
"$ZAR" create "$SAMPLE" -o .sample/sample.zar
echo "== zar ls -l .sample/sample.zar /usr"
"$ZAR" ls -l .sample/sample.zar /usr
echo "== zar cat .sample/sample.zar /etc/motd"
"$ZAR" cat .sample/sample.zar /etc/motd
echo "== zar inspect .sample/sample.zar"
"$ZAR" inspect .sample/sample.zar
if "$ZAR" diff "$SAMPLE" .sample/sample.zar >/dev/null 2>&1; then echo "== zar diff: image equals the tree"; fi
echo "the zar binary is $PWD/$ZAR"
