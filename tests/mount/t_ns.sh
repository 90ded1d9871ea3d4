#!/usr/bin/env bash
# Namespace (sem/ns.py): rename over an empty directory, onto a non-empty
# one (ENOTEMPTY), into its own subtree (EINVAL), between hard links of one
# inode (a no-op), RENAME_EXCHANGE / NOREPLACE, EMLINK at 65000 links (as
# ext4), rmdir/unlink errors, mknod of fifo, socket, char and block devices
# (opened on a "dev" mount, refused on the default nodev one); link counts
# and device numbers survive a remount, fsck agrees.
. "$(dirname "$0")/../lib.sh"
chmod 755 "$T"   # uid 1500 must reach the mount point
img=$(mkimg ns.img 512M)
m=$T/m
"$B/mkfs.hfs" -q "$img"
check "mount -o dev" hfs_mount "$m" "$img" -o dev
pycheck ns.py "$m" 65000 1
snap() { (cd "$m" && find . -path ./lk -prune -o -print0 | sort -z | xargs -0 stat -c '%n %F %h %t:%T %a %i';
	stat -c '%n %h' lk/t lk/sym) > "$1"; }
snap "$T/before"
check "unmount" hfs_umount "$m" "$img"
check "fsck clean (65000 links of one inode)" "$B/fsck.hfs" -n "$img"
check "remount (nodev, the default)" hfs_mount "$m" "$img"
snap "$T/after"
check "types, link counts, device numbers after the remount" diff "$T/before" "$T/after"
check "nodev: a char device node does not open" bash -c "! head -c1 '$m/nod/chr' 2>/dev/null"
check "unmount" hfs_umount "$m" "$img"
finish
