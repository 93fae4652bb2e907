#!/usr/bin/env bash
# Prints the team's shared folder (specs, peers, corpus scripts): $ZAR_SHARED, else ../shared beside the
# repository, else /work/shared. Prints nothing when there is none.
repo=$(cd "$(dirname "$0")/.." && pwd)
for d in "${ZAR_SHARED:-}" "$repo/../shared" /work/shared; do
  [ -n "$d" ] && [ -d "$d/peers" ] && { (cd "$d" && pwd); exit 0; }
done
exit 0
