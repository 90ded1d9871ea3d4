#!/usr/bin/env bash
# Run each cmocka unit-test binary with a timeout; print one summary line.
set -u
pass=0; fail=0; failed=()
for t in "$@"; do
	echo "== $(basename "$t")"
	if timeout 300 "$t"; then pass=$((pass+1)); else fail=$((fail+1)); failed+=("$(basename "$t")"); fi
done
echo "unit: $pass passed, $fail failed"
[ "$fail" -eq 0 ] || { echo "failed: ${failed[*]}"; exit 1; }
