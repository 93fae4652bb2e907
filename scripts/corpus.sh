#!/usr/bin/env bash
# Builds the Debian corpus image (3 layers, every form: OCI layout, zstd, plain, docker-archive, OCI archive,
# per-layer tars, umoci's merged tree) into $ZAR_CORPUS (default /var/tmp/zar-corpus) with the shared
# make-debian-image.sh, once (it skips finished steps). Needs root and the Debian mirror; a few minutes.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
shared=$(bash "$here/shared.sh")
[ -n "$shared" ] && [ -f "$shared/corpus/make-debian-image.sh" ] || { echo "corpus: no shared corpus script; Debian image not built" >&2; exit 0; }
out=${ZAR_CORPUS:-/var/tmp/zar-corpus}
# The last step writes MANIFEST.txt.
if [ -f "$out/MANIFEST.txt" ] && [ -f "$out/.state/merged.done" ]; then exit 0; fi
echo "corpus: building the Debian image in $out (a few minutes, once)" >&2
bash "$shared/corpus/make-debian-image.sh" --install-deps "$out" >"${TMPDIR:-/tmp}/zar-corpus.log" 2>&1 || {
  echo "corpus: make-debian-image.sh failed; see ${TMPDIR:-/tmp}/zar-corpus.log" >&2; tail -5 "${TMPDIR:-/tmp}/zar-corpus.log" >&2; exit 1; }
