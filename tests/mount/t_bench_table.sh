#!/usr/bin/env bash
# bench/table.py: medians over rounds and ratios paired within a round.
set -u
d=$(mktemp -d); trap 'rm -rf "$d"' EXIT
fail=0
check() { # check WHAT PATTERN (an extended regex on the table)
	if grep -qE -- "$2" "$d/out"; then echo "ok: $1"; else echo "FAIL: $1: no /$2/ in:"; cat "$d/out"; fail=1; fi
}
# Round 2 is a fast host for both: the ratio of the medians would be
# 500/100 = 5.00, the median of the rounds' ratios is 4.00 (4, 4, 10);
# against ext4 (0.5, 2; round 3 has no ext4 figure) 1.25, not 500/600.
cat > "$d/res" <<'R'
hfs seqw 400 1
fuse2fs seqw 100 1
ext4 seqw 800 1
hfs seqw 800 2
fuse2fs seqw 200 2
ext4 seqw 400 2
hfs seqw 500 3
fuse2fs seqw 50 3
ext4 seqw - 3
hfs fsync99 900 1
ext4 fsync99 300 1
R
python3 bench/table.py "$d/res" 2G 15 20000 10000 1000 > "$d/out" || { echo "FAIL: table.py exit $?"; exit 1; }
check "medians of 3 rounds named" "medians of 3 rounds"
check "median figures, paired ratios" "^seq write 1M \+fsync +MB/s +500 +100 +600 +4\.00 +1\.25 *$"
check "a missing figure leaves its round out" "seq write.*hfs/fuse2fs 4\.00 4\.00 10\.00 +hfs/ext4 0\.50 2\.00$"
check "one round: its own figures" "^append 4K\+fsync p99 +us \(lower better\) +900 +- +300 +- +3\.00"
# the results of a run before rounds (three columns) read as one round
grep -v ' [23]$' "$d/res" | cut -d' ' -f1-3 > "$d/res1"
python3 bench/table.py "$d/res1" 2G 15 20000 10000 1000 > "$d/out" || { echo "FAIL: table.py exit $?"; exit 1; }
check "one round: plain ratio" "^seq write 1M \+fsync +MB/s +400 +100 +800 +4\.00 +0\.50 *$"
if grep -qE "rounds|ratios of each round" "$d/out"; then echo "FAIL: one round printed per-round ratios"; fail=1; else echo "ok: one round, no per-round list"; fi
exit $fail
