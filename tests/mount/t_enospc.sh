#!/usr/bin/env bash
# ENOSPC: filling the filesystem fails cleanly, the filesystem stays usable
# and consistent, and freed space comes back (also before the next periodic
# commit: freed-but-pending space is committed on demand).
. "$(dirname "$0")/../lib.sh"
img=$(mkimg e.img 100M)
m=$T/m
"$B/mkfs.hfs" -q "$img"
check "mount" hfs_mount "$m" "$img" -o flush_interval=60
free0=$(df --output=avail "$m" | tail -1)
check "filling up fails with ENOSPC" bash -c "! dd if=/dev/urandom of='$m/big' bs=1M count=200 conv=fsync 2>'$T/err' && grep -q 'No space left' '$T/err'"
check "metadata still readable when full" ls "$m" >/dev/null
rm -f "$m/big"
check "50 small files after freeing" bash -c "for i in \$(seq 1 50); do echo \$i > '$m/s'\$i || exit 1; done; test \$(ls '$m' | wc -l) = 50"
for i in 1 2 3; do
	check "write 40 MiB after freeing (round $i)" dd if=/dev/zero of="$m/f$i" bs=1M count=40 conv=fsync status=none
	rm -f "$m/f$i"
done
check "space given back" test "$(df --output=avail "$m" | tail -1)" -gt $((free0 - 2048))
check "unmount" hfs_umount "$m" "$img"
check "fsck clean" "$B/fsck.hfs" -n "$img"
finish
