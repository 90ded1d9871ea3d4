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
# a file opened write-only on the full filesystem bypasses the page cache:
# write(2) itself fails, at the end of the space (a program that ignores
# close(2)'s result used to loop forever, xfstests generic/027).  With
# nothing open through the cache the writeback reserve is not kept
# (fs/dirty.c), so some of it may be written first; the create may also
# fail already, when its entry needs a new B-tree node (fs/alloc.c).
check "new file on a full filesystem: create or write(2) gets ENOSPC, all written is there" python3 -c "
import os, errno, sys
n = 0
try:
    fd = os.open(sys.argv[1], os.O_CREAT | os.O_WRONLY, 0o644)
except OSError as e:
    sys.exit(0 if e.errno == errno.ENOSPC else 1)
try:
    for i in range(64):   # the reserve is 32 MiB
        n += os.write(fd, b'x' * (1 << 20))
    sys.exit(1)
except OSError as e:
    if e.errno != errno.ENOSPC:
        sys.exit(1)
try:
    os.fsync(fd)   # may repeat the ENOSPC write(2) had (op_write keeps it)
except OSError as e:
    if e.errno != errno.ENOSPC:
        sys.exit(1)
os.close(fd)
sys.exit(0 if os.stat(sys.argv[1]).st_size == n else 1)
" "$m/new"
check "stat works after the error" test -n "$(stat -c %s "$m/fill")"
rm -f "$m/fill"
check "writable again" dd if=/dev/zero of="$m/small" bs=1M count=10 conv=fsync status=none
check "umount" hfs_umount "$m" "$img"
check "fsck clean" "$B/fsck.hfs" -n "$img"
finish
