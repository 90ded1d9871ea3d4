#!/usr/bin/env bash
# Run every tests/mount/t_*.sh with a timeout; the last line is the summary.
# BUILDDIR gives the binaries; HFS_LONG=1 enables the long variants.
set -u
cd "$(dirname "$0")/.."
export BUILDDIR="${BUILDDIR:-build}"
pass=0; fail=0; failed=()
shopt -s nullglob
for t in tests/mount/t_*.sh; do
	echo "== $t"
	if timeout "${HFS_TEST_TIMEOUT:-600}" bash "$t"; then
		pass=$((pass+1))
	else
		fail=$((fail+1)); failed+=("$t")
	fi
done
[ "$fail" -eq 0 ] || echo "failed: ${failed[*]}"
echo "mount: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
