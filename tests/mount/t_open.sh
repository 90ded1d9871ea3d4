#!/usr/bin/env bash
# Open files (sem/openf.py, helpers/dirstress): O_EXCL (also racing),
# O_TRUNC, O_APPEND with 4 concurrent writers, O_NOATIME, O_DIRECT (FUSE:
# any alignment, coherent with buffered I/O), mmap + msync verified after a
# remount, readdir under concurrent creates/deletes and telldir/seekdir;
# an unlinked open file keeps its data and space across flush cycles and,
# after kill -9 of the daemon, the remount reclaims it (orphan list): fsck
# clean and statfs back to what it was, fsck and statfs agreeing.
. "$(dirname "$0")/../lib.sh"
chmod 755 "$T"   # uid 1500 must reach the mount point
img=$(mkimg o.img 512M)
m=$T/m
"$B/mkfs.hfs" -q "$img"
check "mount" hfs_mount "$m" "$img" -o flush_interval=1
pycheck openf.py "$m" write
mkdir "$m/ds"
"$B/helpers/dirstress" "$m/ds" 5000 2 | grep -v '^ok' ; r=${PIPESTATUS[0]}
check "readdir under churn, telldir/seekdir (dirstress)" test "$r" = 0
check "unmount" hfs_umount "$m" "$img"
check "fsck clean" "$B/fsck.hfs" -n "$img"
check "remount" hfs_mount "$m" "$img" -o flush_interval=1
pycheck openf.py "$m" verify

# the orphan list across a crash
free0=$(stat -f -c %f "$m")
head -c $((40 << 20)) /dev/urandom > "$T/orph"
cp "$T/orph" "$m/orph" && sync "$m/orph"
exec 7<"$m/orph"
rm "$m/orph"
sleep 2.5   # flush cycles commit the unlink and the orphan record
check "an unlinked open file keeps its space" test "$(stat -f -c %f "$m")" -lt $((free0 - 10000))
check "and its data" cmp - "$T/orph" <&7
pid=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['pid'])" \
	"/run/hfs/$(printf %s "$m" | tr / _).json")
check "kill -9 the daemon ($pid) with the file open" kill -KILL "$pid"
exec 7<&-
fusermount3 -u -z "$m" 2>/dev/null
for i in $(seq 1 100); do flock -n "$img" true && break; sleep 0.1; done
check "fsck -n after the crash: clean (an orphan is no error)" "$B/fsck.hfs" -n "$img"
check "remount after the crash" hfs_mount "$m" "$img"
check "the orphan is gone from the namespace" test ! -e "$m/orph"
free1=$(stat -f -c %f "$m")
check "its space is given back ($free0 -> $free1 blocks free)" test $((free0 - free1)) -le 16 -a $((free1 - free0)) -le 16
check "unmount" hfs_umount "$m" "$img"
out=$("$B/fsck.hfs" -n "$img"); echo "$out"
check "fsck clean after the reclaim" "$B/fsck.hfs" -n "$img"
fsck_free=$(echo "$out" | sed -n 's/.* \([0-9]*\) of [0-9]* blocks free.*/\1/p')
check "fsck and statfs agree on free blocks ($fsck_free vs $free1)" test "$fsck_free" = "$free1"
finish
