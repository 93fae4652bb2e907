#!/usr/bin/env bash
# Builds the peer tools Debian lacks (erofs-utils 1.9.3: mkfs.erofs --tar, fsck.erofs, erofsfuse; zdb 2.0.7)
# from the shared peers folder into $ZAR_PEERS (default /var/tmp/zar-peers), once. Prints a line to eval:
#   eval "$(bash scripts/peers.sh)"    # puts them first on PATH
# Without the shared folder it prints nothing (tests that need a peer then fail in CI, skip elsewhere).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
shared=$(bash "$here/shared.sh")
[ -n "$shared" ] || { echo "peers: no shared peers folder; peer tools not built" >&2; exit 0; }
out=${ZAR_PEERS:-/var/tmp/zar-peers}
mkdir -p "$out/bin"
if [ ! -x "$out/bin/mkfs.erofs" ]; then
  echo "peers: building erofs-utils 1.9.3 (about a minute)" >&2
  erofs_bin=$(bash "$shared/peers/build-erofs-utils.sh" "$out/build")
  ln -sf "$erofs_bin"/* "$out/bin/"
fi
if [ ! -x "$out/bin/zdb" ]; then
  echo "peers: building zdb 2.0.7" >&2
  ln -sf "$(bash "$shared/peers/build-zdb.sh" "$out/build")" "$out/bin/zdb"
fi
echo "export PATH=\"$out/bin:\$PATH\""
