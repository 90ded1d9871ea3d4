#!/usr/bin/env bash
# mkfs.hfs bad input: each case a clear message and a non-zero exit.
set -u
B=${BUILDDIR:-build}
d=$(mktemp -d); trap 'rm -rf "$d"' EXIT
fail=0
expect() { # expect RC PATTERN CMD...
	local want=$1 pat=$2; shift 2
	out=$("$@" 2>&1); rc=$?
	if [ "$rc" != "$want" ] || ! grep -q -- "$pat" <<<"$out"; then
		echo "FAIL: $* -> rc $rc, output: $out"; fail=1
	else echo "ok: $*"; fi
}
truncate -s 1M "$d/small"; truncate -s 200M "$d/a" "$d/b" "$d/ext"
expect 1 "too small" "$B/mkfs.hfs" "$d/small"
expect 1 "No such file" "$B/mkfs.hfs" "$d/missing"
expect 1 "unknown layout" "$B/mkfs.hfs" -m raid7 "$d/a"
expect 1 "needs at least 2" "$B/mkfs.hfs" -m mirror "$d/a"
expect 1 "usage" "$B/mkfs.hfs"
expect 0 "formatted mirror" "$B/mkfs.hfs" -L t "$d/a" "$d/b"
expect 1 "already holds an hfs" "$B/mkfs.hfs" "$d/a"
expect 0 "formatted single" "$B/mkfs.hfs" -f "$d/a"
expect 1 "larger than the volume" "$B/mkfs.hfs" -f -S 300M "$d/a"
expect 1 "bad size" "$B/mkfs.hfs" -f -S 10M "$d/a"
expect 1 "bad size" "$B/mkfs.hfs" -f -S 1x "$d/a"
# -S: a filesystem smaller than its device; fsck counts exactly its blocks
expect 0 "size 104 MiB" "$B/mkfs.hfs" -f -S 104M "$d/a"
expect 0 "of 26624 blocks free" "$B/fsck.hfs" -n "$d/a"
if command -v mkfs.ext4 >/dev/null; then
	mkfs.ext4 -q -F "$d/ext" >/dev/null 2>&1
	expect 1 "ext4" "$B/mkfs.hfs" "$d/ext"
	expect 0 "formatted single" "$B/mkfs.hfs" -f "$d/ext"
fi
exit $fail
