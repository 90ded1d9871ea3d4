#!/usr/bin/env bash
# Names and sizes (sem/names.py): NAME_MAX 255 (256 -> ENAMETOOLONG, the
# directory unharmed), PATH_MAX 4095, every byte but '/' and NUL in names,
# a tree 5000 directories deep, files past 4 GiB and 1 TiB (sparse), the
# file size limit (2^63-1, the kernel's own) and RLIMIT_FSIZE, statfs
# inode and block counts; then names, contents and sizes survive a remount
# and fsck is clean.
. "$(dirname "$0")/../lib.sh"
img=$(mkimg n.img 512M)
m=$T/m
"$B/mkfs.hfs" -q "$img"
check "mount" hfs_mount "$m" "$img"
pycheck names.py "$m" 9223372036854775807
manifest() { (cd "$m" && find bytes nm -print0 | sort -z | xargs -0 stat -c '%s %h %f %i' &&
	find bytes nm -type f -print0 | sort -z | xargs -0 sha256sum &&
	stat -c '%s %b' f4g f1t efbig) | sha256sum; }
before=$(manifest)
check "unmount" hfs_umount "$m" "$img"
check "fsck clean" "$B/fsck.hfs" -n "$img"
check "remount" hfs_mount "$m" "$img"
check "names, contents and sizes after the remount" test "$(manifest)" = "$before"
check "the bottom of the 5000-deep tree" python3 -c "
import os
fd = os.open('$m/pm/deep', os.O_RDONLY)
for i in range(5000):
    fd2 = os.open('d', os.O_RDONLY, dir_fd=fd); os.close(fd); fd = fd2
assert os.read(os.open('bottom', os.O_RDONLY, dir_fd=fd), 10) == b'bottom'"
check "unmount" hfs_umount "$m" "$img"
finish
