#!/usr/bin/env bash
# Space (sem/space.py): the filesystem filled with metadata (4000-byte
# xattrs, then empty files and directories) and, on a fresh one, with file
# data; every refusal is ENOSPC, a full filesystem still reads, lists,
# renames and unlinks, what was acknowledged survives a remount, fsck is
# clean full and emptied, freeing everything gives the space back, and
# fsck and statfs agree on the free blocks.
. "$(dirname "$0")/../lib.sh"
img=$(mkimg s.img 100M)
m=$T/m
fsck_free() { "$B/fsck.hfs" -n "$img" | sed -n 's/.* \([0-9]*\) of [0-9]* blocks free.*/\1/p'; }
for kind in meta data; do
	check "$kind: mkfs" "$B/mkfs.hfs" -q -f "$img"
	check "$kind: mount" hfs_mount "$m" "$img"
	pycheck space.py "$m" "$([ $kind = meta ] && echo fill || echo data)" "$T/state"
	full=$(stat -f -c %f "$m")
	check "$kind: unmount when full" hfs_umount "$m" "$img"
	check "$kind: fsck clean when full" "$B/fsck.hfs" -n "$img"
	check "$kind: fsck and statfs agree when full" test "$(fsck_free)" = "$full"
	check "$kind: remount" hfs_mount "$m" "$img"
	pycheck space.py "$m" "$([ $kind = meta ] && echo check || echo datacheck)" "$T/state"
	empty=$(stat -f -c %f "$m")
	check "$kind: unmount" hfs_umount "$m" "$img"
	check "$kind: fsck clean after freeing" "$B/fsck.hfs" -n "$img"
	check "$kind: fsck and statfs agree after freeing" test "$(fsck_free)" = "$empty"
done
finish
