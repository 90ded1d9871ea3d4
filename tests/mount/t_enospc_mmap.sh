#!/usr/bin/env bash
# The writeback budget (fs/dirty.c, DESIGN.md "Writeback budget") near and
# at full: a shared writable mapping works on a nearly full filesystem
# (read-write opens stay in the page cache; a direct_io file could not be
# mapped: xfstests generic/619 got ENODEV) and, when the space is gone,
# its pages fail at msync with ENOSPC instead of vanishing; write-only
# opens near full are direct, so dd gets ENOSPC from write(2) at the last
# block; the reserve is kept only while something writes through the
# cache, so 256 KiB freed by rm on a full filesystem can be written again
# (xfstests generic/275); and what was written before stays intact.
. "$(dirname "$0")/../lib.sh"
MF=$B/helpers/mmapfill
img=$(mkimg e.img 1G)
m=$T/m
avail_mib() { df -B1M --output=avail "$m" | tail -1 | tr -d ' '; }
check "mkfs -S 256M" "$B/mkfs.hfs" -q -S 256M "$img"
check "mount" hfs_mount "$m" "$img"
: > "$m/later"
check "a 256 KiB file" dd if=/dev/zero of="$m/small" bs=256K count=1 status=none
a=$(avail_mib)
nfill=$((a - 40))
check "fill to 40 MiB from full" dd if=/dev/zero of="$m/fill" bs=1M count=$nfill conv=fsync status=none
a=$(avail_mib)
check "nearly full: $a MiB available (direct_io threshold 64)" test "$a" -lt 64 -a "$a" -gt 30
out=$("$MF" "$m/map1" 8M); rc=$?
check "shared writable mmap of 8 MiB on the nearly full filesystem: ok ($out)" test "$rc" = 0
out=$("$MF" -f "$m/map2" 4M); rc=$?
check "the same into fallocated space: ok ($out)" test "$rc" = 0
check "fallocate 8 MiB for later" fallocate -l 8M "$m/prealloc"

# a write-only open near full is direct: ENOSPC from write(2), nothing
# accepted that is not stored (nothing is open through the cache, so the
# reserve is not kept and the fill takes every block)
out=$(dd if=/dev/zero of="$m/fill2" bs=64K 2>&1); rc=$?
check "dd to the end fails" test "$rc" = 1
check "... with ENOSPC from write(2)" grep -q "error writing.*No space left on device" <<<"$out"
check "df: nothing available" test "$(avail_mib)" = 0
fill2sz=$(stat -c %s "$m/fill2")
check "fill2 holds what dd wrote ($fill2sz)" test "$fill2sz" -gt 0

# full: a read-write open stays cached (it may write into fallocated
# blocks, which need no space), so its ENOSPC comes from write(2) once a
# writeback found no room, at the latest from fsync, never silently
check "write(2)+fsync through a read-write open on the full filesystem: ENOSPC" python3 -c "
import os, errno, sys
fd = os.open(sys.argv[1], os.O_RDWR)
try:
    os.write(fd, b'x' * 65536)
    os.fsync(fd); sys.exit(1)
except OSError as e:
    sys.exit(0 if e.errno == errno.ENOSPC else 1)
" "$m/later"
# ... but a read-write writer into fallocated blocks goes on: its
# writebacks take no space, so they set no error for its next write(2)
check "8 MiB of 64 KiB write(2)s (fsync every 1 MiB) into fallocated blocks on the full filesystem" python3 -c "
import os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
for i in range(128):
    os.pwrite(fd, bytes([i + 1]) * 65536, i * 65536)
    if i % 16 == 15:
        os.fsync(fd)
os.close(fd)
" "$m/prealloc"
# ... and stores through a mapping fail at msync, not silently
out=$("$MF" "$m/map1" 8M); rc=$?
check "rewriting the mapped 8 MiB on the full filesystem: msync ENOSPC ($out)" \
	test "$rc" = 2 -a "$out" = "msync: No space left on device"

# 256 KiB freed on the full filesystem can be written again
check "rm the 256 KiB file" rm "$m/small"
sync
out=$(dd if=/dev/zero of="$m/later" bs=128K count=8 2>&1); rc=$?
check "dd of 1 MiB into 256 KiB: fails with ENOSPC" grep -q "No space left on device" <<<"$out"
check "... after writing at least 128 KiB ($(stat -c %s "$m/later"))" test "$(stat -c %s "$m/later")" -ge 131072

check "umount" hfs_umount "$m" "$img"
check "fsck clean" "$B/fsck.hfs" -n "$img"
check "mount again" hfs_mount "$m" "$img"
out=$("$MF" -c "$m/map2" 4M)
check "the first mapping's data is intact ($out)" test "$out" = ok
check "the writes into fallocated blocks are intact" python3 -c "
import sys
d = open(sys.argv[1], 'rb').read()
sys.exit(0 if d == b''.join(bytes([i + 1]) * 65536 for i in range(128)) else 1)
" "$m/prealloc"
check "fill is whole" test "$(stat -c %s "$m/fill")" = $((nfill << 20))
check "fill2 is as long as before the remount" test "$(stat -c %s "$m/fill2")" = "$fill2sz"
check "rm the fills" rm "$m/fill" "$m/fill2" "$m/map1"
out=$("$MF" "$m/map3" 32M); rc=$?
check "space freed by rm takes a 32 MiB mapping ($out)" test "$rc" = 0
out=$("$MF" -c "$m/map3" 32M)
check "... and reads it back ($out)" test "$out" = ok
check "dd 64 MiB (buffered)" dd if=/dev/zero of="$m/big" bs=1M count=64 conv=fsync status=none
check "umount" hfs_umount "$m" "$img"
check "fsck clean" "$B/fsck.hfs" -n "$img"
finish
