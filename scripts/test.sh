#!/usr/bin/env bash
# Runs every test (installs what they need first). Prints "tests: N passed, N failed, N skipped".
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh || exit 2
# Peer tools Debian lacks (erofs-utils 1.9.3, zdb) and the Debian corpus image the long tests use.
eval "$(bash scripts/peers.sh)" || exit 2
bash scripts/corpus.sh || exit 2
LOG=$(mktemp)
dotnet test tests/Zar.Tests --nologo -v quiet "$@" 2>&1 | tee "$LOG"
rc=${PIPESTATUS[0]}
line=$(grep -E "(Passed|Failed)! +- Failed: +[0-9]+, Passed: +[0-9]+, Skipped: +[0-9]+" "$LOG" | tail -1)
if [ -n "$line" ]; then
  failed=$(sed -E 's/.*Failed: +([0-9]+),.*/\1/' <<<"$line")
  passed=$(sed -E 's/.*Passed: +([0-9]+),.*/\1/' <<<"$line")
  skipped=$(sed -E 's/.*Skipped: +([0-9]+),.*/\1/' <<<"$line")
  echo "tests: $passed passed, $failed failed, $skipped skipped"
fi
rm -f "$LOG"
exit $rc
