#!/usr/bin/env bash
# Copy a real tree in, unmount, remount, compare — on one image file, on a
# 2-leg mirror of image files, and on a loop device; the mount's readahead
# window is the daemon's.
. "$(dirname "$0")/../lib.sh"
SRC=${HFS_SRC_TREE:-/usr/include/linux}
[ -n "${HFS_LONG:-}" ] && SRC=/usr/include

roundtrip() { # roundtrip NAME DEV...
	local name=$1; shift
	local m=$T/mnt-$name
	check "$name: mkfs" "$B/mkfs.hfs" -q -f "$@"
	check "$name: mount" hfs_mount "$m" "$@"
	# sequential reads in 4 MiB windows, not the kernel's 128 KiB (fuse_ops.c)
	check "$name: readahead window 4096 KiB" \
		test "$(cat "/sys/class/bdi/$(mountpoint -d "$m")/read_ahead_kb")" = 4096
	local t0=$(date +%s.%N)
	check "$name: cp -a $SRC" cp -a "$SRC" "$m/tree"
	check "$name: unmount" hfs_umount "$m" "$1"
	echo "   copy + unmount took $(echo "$(date +%s.%N) - $t0" | bc) s"
	check "$name: fsck.hfs -n clean" "$B/fsck.hfs" -n "$@"
	check "$name: remount" hfs_mount "$m" "$@"
	check "$name: diff -r identical" diff -r --no-dereference "$SRC" "$m/tree"
	check "$name: same file count" test "$(find "$SRC" | wc -l)" = "$(find "$m/tree" | wc -l)"
	check "$name: same modes, owners, mtimes" bash -c "diff <(cd '$SRC' && find . -printf '%M %u %g %T@ %p\n' | sort -k5) <(cd '$m/tree' && find . -printf '%M %u %g %T@ %p\n' | sort -k5)"
	check "$name: unmount again" hfs_umount "$m" "$1"
}

roundtrip single "$(mkimg a.img)"
roundtrip mirror "$(mkimg m0.img)" "$(mkimg m1.img)"
img=$(mkimg loop.img)
if dev=$(mkloop "$img"); then
	roundtrip loop "$dev"
else
	fail "losetup"
fi
finish
