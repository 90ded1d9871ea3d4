#!/usr/bin/env bash
# i_blocks must stay exactly the sum of the file's data records when the
# kernel's writeback fills the filesystem (xfstests generic/027 and the
# cluster of "i_blocks X, data records hold Y" after it).  Writeback sends
# many WRITEs of one inode at once; near ENOSPC a write commits pending
# frees (a flush, which waits for the other writes with fs->lock dropped)
# and a write that stored its copy of the inode after that wait put an old
# block count back: fsck found i_blocks below the records, and removing
# the file later made i_blocks underflow (18446744073709545600).
# Each round: reserve 2M, buffered fill to ENOSPC, free the reserve,
# fsck -n; remount, st_blocks vs fsck, remove, free space back to where
# it started.  Four rounds: before the fix the race hit about 2 rounds
# in 3 (fewer on an idle machine).
. "$(dirname "$0")/../lib.sh"
img=$(mkimg b.img 1G)
m=$T/m
check "mkfs -S 256M" "$B/mkfs.hfs" -q -S 256M "$img"
check "mount" hfs_mount "$m" "$img"
free0=$(stat -f -c %f "$m")
check "umount (empty)" hfs_umount "$m" "$img"
# fill FILE MIB: 4 KiB pwrites from offset 0 (as xfs_io pwrite), a
# read-write open like xfs_io -f; prints ENOSPC if it ran out
cat > "$T/fill.py" <<'PY'
import errno, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)
buf = b'\xcd' * 4096
try:
    for off in range(0, int(sys.argv[2]) << 20, 4096):
        os.pwrite(fd, buf, off)
    print("done")
except OSError as e:
    print(errno.errorcode.get(e.errno, e.errno))
try:
    os.close(fd)
except OSError:
    pass   # the writeback's ENOSPC once more
PY
fill() { timeout 120 python3 "$T/fill.py" "$@"; }
for round in 1 2 3 4; do
	check "round $round: mount" hfs_mount "$m" "$img" || break
	check "round $round: 2 MiB reserve" test "$(fill "$m/reserve" 2)" = done
	out=$(fill "$m/big" 254); rc=$?
	check "round $round: fill ended with ENOSPC ($out)" test "$out" = ENOSPC
	test "$rc" != 124 || fail "round $round: the fill hung"
	rm -f "$m/reserve"
	check "round $round: umount" hfs_umount "$m" "$img"
	rep=$("$B/fsck.hfs" -n "$img" 2>&1); rc=$?
	check "round $round: fsck -n clean after the fill (exit $rc)" test "$rc" = 0
	grep PROBLEM <<<"$rep"
	check "round $round: remount" hfs_mount "$m" "$img" || break
	# fsck counted the records: a clean fsck means i_blocks is their sum
	# (4 KiB overlays on whole blocks count too, so it may pass the size)
	blocks=$(stat -c %b "$m/big")
	check "round $round: st_blocks of the filled file ($blocks) not 0" test "$blocks" -gt 0
	rm -f "$m/big"
	check "round $round: umount after rm" hfs_umount "$m" "$img"
	check "round $round: fsck -n clean after rm" "$B/fsck.hfs" -n "$img"
	check "round $round: mount to count" hfs_mount "$m" "$img" || break
	free1=$(stat -f -c %f "$m")
	check "round $round: free blocks back ($free1 = $free0)" test "$free1" = "$free0"
	check "round $round: umount" hfs_umount "$m" "$img"
done
finish
