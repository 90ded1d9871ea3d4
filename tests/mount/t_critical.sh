#!/usr/bin/env bash
# Critical errors: a metadata write error on a non-redundant set (fault
# device: writes from the free map on fail, the UNDO FIFO and the headers
# still work) turns the mount read-only with a clear log line; UNDO stops
# advancing (no later commit, even once the device works again: the image
# does not change); after the unmount fsck -n is clean (UNDO replayed in
# memory), the remount recovers, fsync'd files are exact, fsck is clean.
. "$(dirname "$0")/../lib.sh"
img=$(mkimg c.img 256M)
m=$T/m
rules=$T/rules
log=$T/daemon.log
"$B/mkfs.hfs" -q "$img"
: > "$rules"
mkdir -p "$m"
# foreground daemon: its stderr (the critical line) goes to $log
"$B/hfs" -f -o "fault=$rules,flush_interval=3600" "$img" "$m" 2> "$log" &
pid=$!
for i in $(seq 1 100); do grep -q " $m fuse.hfs " /proc/mounts && break; sleep 0.1; done
check "mount with the fault device" grep -q " $m fuse.hfs " /proc/mounts
mkdir -p "$m/d"
for i in 1 2 3; do
	head -c $((i * 30000)) /dev/urandom > "$T/durable$i"
	dd if="$T/durable$i" of="$m/d/durable$i" conv=fsync status=none
done
check "fsync'd files written" cmp "$T/durable3" "$m/d/durable3"
echo "not synced" > "$m/d/late"
touch "$m/d/late2"
# META zone and above fail; UNDO [1M+8M, 1M+24M) and the headers still work
echo "comp=0 op=write action=fail off=25M-1G" > "$rules"
sleep 0.2   # rules are re-read at most every 50 ms
check "fsync after the metadata write error fails with EIO" \
	test "$(errno_of "fd = os.open('$m/d/late', os.O_RDONLY); os.fsync(fd)")" = EIO
# the first write that fails: a DATA buffer (written with the UNDO batch) or META
check "the daemon logs a clear critical line" grep -qiE "CRITICAL: (meta|data) write failed.*read-only" "$log"
check "a new file is refused with EROFS" \
	test "$(errno_of "os.open('$m/d/new', os.O_WRONLY | os.O_CREAT, 0o644)")" = EROFS
check "mkdir is refused with EROFS" test "$(errno_of "os.mkdir('$m/d2')")" = EROFS
check "reads still work" cmp "$T/durable2" "$m/d/durable2"
check "hfsctl status names the critical read-only mode" \
	bash -c "'$B/hfsctl' status '$m' | grep -q 'mode: *read-only (critical write error)'"
# the device works again; hfs must not commit anything from here on
: > "$rules"
sleep 0.2
sum1=$(md5sum < "$img")
python3 -c "import os; fd=os.open('$m/d/durable1', os.O_RDONLY); os.fsync(fd)" 2>/dev/null
sync -f "$m" 2>/dev/null
{ echo y > "$m/d/new2"; } 2>/dev/null
check "unmount the read-only mount" hfs_umount "$m" "$img"
wait "$pid"
sum2=$(md5sum < "$img")
check "UNDO stopped advancing: nothing written after the error, not even at unmount" test "$sum1" = "$sum2"
check "fsck -n clean (UNDO replayed in memory)" "$B/fsck.hfs" -n "$img"
# a read-only mount recovers too (on disk, as xfs/ext4 replay their logs)
check "mount -o ro of the interrupted filesystem" hfs_mount "$m" "$img" -o ro
check "... shows the fsync'd files exact" cmp "$T/durable3" "$m/d/durable3"
check "... and not what came after the last commit" test ! -e "$m/d/late2"
check "unmount" hfs_umount "$m" "$img"
check "fsck -n clean after the read-only recovery" "$B/fsck.hfs" -n "$img"
check "remount recovers" hfs_mount "$m" "$img"
for i in 1 2 3; do
	check "fsync'd file durable$i exact" cmp "$T/durable$i" "$m/d/durable$i"
done
check "unsynced writes after the last commit are gone" test ! -e "$m/d/late2"
check "writable again" bash -c "echo z > '$m/d/after' && sync -f '$m'"
check "unmount" hfs_umount "$m" "$img"
check "fsck clean" "$B/fsck.hfs" -n "$img"
grep -i "critical\|read-only" "$log" | head -3
finish
