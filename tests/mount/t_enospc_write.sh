#!/usr/bin/env bash
# A plain buffered writer (dd, no fsync) on a full filesystem gets ENOSPC
# from write(2) itself.  With the kernel's writeback cache a write only
# fills the page cache; the failed writeback used to be reported at close
# only, so dd went on "writing" far past the device's size (xfstests
# generic/015 hung). op_write invalidates the attributes, and the write's
# GETATTR hands out the error (fs/fuse_ops.c).
. "$(dirname "$0")/../lib.sh"
img=$(mkimg w.img 1G)
m=$T/m
check "mkfs -S 256M" "$B/mkfs.hfs" -q -S 256M "$img"
check "mount" hfs_mount "$m" "$img"
out=$(timeout 120 dd if=/dev/zero of="$m/fill" bs=1M 2>&1); rc=$?
check "dd ended by itself" test "$rc" != 124
check "dd failed" test "$rc" = 1
check "write(2) said ENOSPC" grep -q "error writing.*No space left on device" <<<"$out"
check "file no larger than the filesystem" test "$(stat -c %s "$m/fill")" -le $((256 << 20))
# a file opened on the full filesystem bypasses the page cache: its very
# first write(2) fails (a program that ignores close(2) used to loop forever,
# xfstests generic/027)
# (or the create already does, when its entry needs a new B-tree node:
# the last space is kept for writes already accepted, fs/alloc.c)
check "new file on a full filesystem: create or its first write(2) gets ENOSPC" python3 -c "
import os, errno, sys
try:
    fd = os.open(sys.argv[1], os.O_CREAT | os.O_WRONLY, 0o644)
    os.write(fd, b'x' * (1 << 20)); sys.exit(1)
except OSError as e:
    sys.exit(0 if e.errno == errno.ENOSPC else 1)
" "$m/new"
check "stat works after the error" test -n "$(stat -c %s "$m/fill")"
rm -f "$m/fill"
check "writable again" dd if=/dev/zero of="$m/small" bs=1M count=10 conv=fsync status=none
check "umount" hfs_umount "$m" "$img"
check "fsck clean" "$B/fsck.hfs" -n "$img"
finish
