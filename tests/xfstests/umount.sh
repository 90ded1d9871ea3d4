#!/usr/bin/env bash
# UMOUNT_PROG for xfstests: umount(8), then, for an hfs mount, wait until its
# daemon has done its last flush and let go of the device (it holds a flock
# on every component while it runs): a FUSE unmount returns before that, and
# the next mount, mkfs or fsck of the device must see the final state.
set -u
devs=()
for a in "$@"; do
	case $a in -*) continue ;; esac
	r=$(realpath -m -- "$a")
	while read -r src mnt fstype _; do
		[ "$fstype" = fuse.hfs ] || continue
		if [ "$src" = "$a" ] || [ "$mnt" = "$r" ]; then devs+=("$src"); fi
	done < /proc/mounts
done
umount "$@" || exit
for d in "${devs[@]}"; do
	# still mounted elsewhere (that was a bind mount of it): the daemon stays
	awk -v d="$d" '$1 == d && $3 == "fuse.hfs" { f = 1 } END { exit !f }' /proc/mounts && continue
	for _ in $(seq 1 600); do
		flock -n "$d" true 2>/dev/null && break
		sleep 0.1
	done
	flock -n "$d" true 2>/dev/null || { echo "umount.sh: hfs daemon still holds $d after 60 s" >&2; exit 1; }
done
exit 0
