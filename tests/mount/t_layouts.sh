#!/usr/bin/env bash
# Stripe and raid10 as a user would use them: copy a real tree in, unmount,
# fsck clean, remount, compare — on a stripe of 2 image files and a raid10
# of 4.  Then assembly with legs missing: a stripe refuses (also with
# -o degraded: data would be lost); a raid10 refuses without -o degraded,
# runs degraded with it, and the leg that was away comes back REBUILDING
# with the data intact.
. "$(dirname "$0")/../lib.sh"
SRC=${HFS_SRC_TREE:-/usr/include/linux}
[ -n "${HFS_LONG:-}" ] && SRC=/usr/include

roundtrip() { # roundtrip NAME MKFS_OPTS -- DEV...
	local name=$1 m=$T/mnt-$1; shift
	local opts=()
	while [ "$1" != -- ]; do opts+=("$1"); shift; done
	shift
	check "$name: mkfs ${opts[*]}" "$B/mkfs.hfs" -q -f "${opts[@]}" "$@"
	check "$name: mount" hfs_mount "$m" "$@"
	check "$name: cp -a $SRC" cp -a "$SRC" "$m/tree"
	check "$name: unmount" hfs_umount "$m" "$1"
	check "$name: fsck.hfs -n clean" "$B/fsck.hfs" -n "$@"
	check "$name: remount" hfs_mount "$m" "$@"
	check "$name: diff -r identical" diff -r --no-dereference "$SRC" "$m/tree"
	check "$name: same file count" test "$(find "$SRC" | wc -l)" = "$(find "$m/tree" | wc -l)"
	check "$name: unmount again" hfs_umount "$m" "$1"
}

s0=$(mkimg s0.img 300M); s1=$(mkimg s1.img 300M)
roundtrip stripe -m stripe -s 128K -- "$s0" "$s1"
# the data really is spread: both legs hold part of it
check "stripe: both legs written" test "$(du -k "$s0" | cut -f1)" -gt 1000 -a "$(du -k "$s1" | cut -f1)" -gt 1000

r=(); for i in 0 1 2 3; do r+=("$(mkimg r$i.img 300M)"); done
roundtrip raid10 -m raid10 -- "${r[@]}"

# a stripe with a leg missing never mounts
m=$T/mnt-missing
mkdir -p "$m"
for o in "" "-o degraded"; do
	# shellcheck disable=SC2086
	if out=$(timeout 60 "$B/hfs" "$s0" "$m" $o 2>&1); then
		fail "stripe without a leg mounted ($o)"
		fusermount3 -u "$m"
	else
		check "stripe without a leg refused ${o:-(no option)}" grep -q "would lose data" <<<"$out"
	fi
done

# raid10 with leg 3 away: refused, then degraded on request
if out=$(timeout 60 "$B/hfs" "${r[0]}" "${r[1]}" "${r[2]}" "$m" 2>&1); then
	fail "raid10 without a leg mounted without -o degraded"
	fusermount3 -u "$m"
else
	check "raid10 without a leg: refused, pointing at -o degraded" grep -q -- "-o degraded" <<<"$out"
fi
check "raid10 degraded: mount -o degraded" hfs_mount "$m" "${r[0]}" "${r[1]}" "${r[2]}" -o degraded
check "raid10 degraded: write" cp -a "$SRC" "$m/tree2"
check "raid10 degraded: unmount" hfs_umount "$m" "${r[0]}"
check "raid10 degraded: fsck -n clean" "$B/fsck.hfs" -n "${r[0]}" "${r[1]}" "${r[2]}" "${r[3]}"
check "raid10: remount with the leg back" hfs_mount "$m" "${r[@]}"
check "raid10: old tree intact" diff -r --no-dereference "$SRC" "$m/tree"
check "raid10: tree written degraded intact" diff -r --no-dereference "$SRC" "$m/tree2"
check "raid10: unmount" hfs_umount "$m" "${r[0]}"
finish
