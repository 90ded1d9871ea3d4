#!/usr/bin/env bash
# make test: unit tests then mount tests; one closing summary line.
set -u
cd "$(dirname "$0")/.."
BUILDDIR="${BUILDDIR:-build}"
out=$(mktemp); trap 'rm -f "$out"' EXIT
rc=0
tests/run-unit.sh $(ls "$BUILDDIR"/tests/test_* 2>/dev/null | grep -v '\.d$' | sort) 2>&1 | tee -a "$out" || rc=1
BUILDDIR="$BUILDDIR" tests/run-mount.sh 2>&1 | tee -a "$out" || rc=1
p=$(grep -E '^(unit|mount): [0-9]+ passed' "$out" | awk '{s+=$2} END {print s+0}')
f=$(grep -E '^(unit|mount): [0-9]+ passed' "$out" | awk '{s+=$4} END {print s+0}')
echo "tests: $p passed, $f failed"
[ "$rc" -eq 0 ] && [ "$f" -eq 0 ]
