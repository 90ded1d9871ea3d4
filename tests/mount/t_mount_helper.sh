#!/usr/bin/env bash
# mount -t fuse.hfs DEV DIR: mount(8) runs /sbin/mount.fuse.hfs, which is the
# hfs program (it takes mount's "DEV DIR -o opts" convention).  The helper
# link is created for the test only if absent, and removed again.
. "$(dirname "$0")/../lib.sh"
helper=/sbin/mount.fuse.hfs
made=""
if [ ! -e "$helper" ]; then
	ln -s "$B/hfs" "$helper" && made=1
fi
trap 'umount "$T/m" 2>/dev/null; [ -n "$made" ] && rm -f "$helper"; cleanup' EXIT
img=$(mkimg a.img 200M)
# umount(8), retried over a transient EBUSY right after the last close
# (a delayed fput), as hfs_umount does for fusermount3
umount_retry() { local i; for i in $(seq 1 50); do umount "$1" 2>/dev/null && return 0; sleep 0.1; done; umount "$1"; }
"$B/mkfs.hfs" -q "$img"
mkdir -p "$T/m"
check "mount -t fuse.hfs" timeout 30 mount -t fuse.hfs "$img" "$T/m"
check "listed as fuse.hfs" grep -q " $T/m fuse.hfs " /proc/mounts
check "writable" bash -c "echo hi > '$T/m/f' && test \"\$(cat '$T/m/f')\" = hi"
check "umount" umount_retry "$T/m"
for i in $(seq 1 100); do flock -n "$img" true && break; sleep 0.1; done
check "mount -t fuse.hfs -o ro" timeout 30 mount -t fuse.hfs -o ro "$img" "$T/m"
check "read-only" bash -c "! touch '$T/m/g' 2>/dev/null && test \"\$(cat '$T/m/f')\" = hi"
check "umount" umount_retry "$T/m"
finish
