#!/usr/bin/env bash
# mount -o remount,ro|rw (the helper, /sbin/mount.fuse.hfs, is hfs itself):
# to read-only, the kernel mount turns ro and the daemon commits and stops
# writing (the image does not change while ro; a SIGKILL then loses
# nothing); back to read-write, both write again; per-mount flags (nosuid,
# nodev) survive; a file open for writing makes remount ro fail (busy)
# and leaves the mount rw; a daemon started with -o ro becomes writable
# (single and mirror), but not with a device held by another process or a
# leg missing.
. "$(dirname "$0")/../lib.sh"
img=$(mkimg r.img 256M)
m=$T/m
"$B/mkfs.hfs" -q "$img"
opts_of() { awk -v m="$m" '$2 == m { print $4 }' /proc/mounts; }
check "mount (no periodic flush)" hfs_mount "$m" "$img" -o flush_interval=3600
before=$(opts_of)
echo unsynced > "$m/a"
mkdir "$m/d"
check "remount ro" "$B/hfs" -o remount,ro "$img" "$m"
check "the kernel mount is ro" bash -c "[[ ,$(opts_of), == *,ro,* ]]"
check "nosuid and nodev kept" bash -c "[[ ,$(opts_of), == *,nosuid,*nodev,* ]]"
check "a write is refused (EROFS)" test "$(errno_of "open('$m/new', 'w')")" = EROFS
check "hfsctl status says read-only" bash -c "'$B/hfsctl' status '$m' | grep -q 'mode: *read-only'"
sum1=$(md5sum < "$img")
cat "$m/a" > /dev/null; ls -la "$m" > /dev/null; sleep 1
check "nothing written while ro" test "$sum1" = "$(md5sum < "$img")"
check "remount ro again is a no-op" "$B/hfs" -o remount,ro "$img" "$m"
check "remount rw" "$B/hfs" -o remount,rw "$img" "$m"
check "the kernel mount is rw again, flags as before" test "$(opts_of)" = "$before"
check "writable again" bash -c "echo b > '$m/b' && cat '$m/b' | grep -q b"
check "remount noatime" "$B/hfs" -o remount,noatime "$img" "$m"
touch -a -d @1000000000 "$m/b"; cat "$m/b" > /dev/null
check "noatime: the daemon no longer moves atime on a read" test "$(stat -c %X "$m/b")" = 1000000000
check "remount relatime" "$B/hfs" -o remount,relatime "$img" "$m"
cat "$m/b" > /dev/null
check "relatime again: a day-old atime moves" test "$(stat -c %X "$m/b")" -gt 1000000000
exec 7> "$m/openw"
check "remount ro with a file open for writing fails" bash -c "! '$B/hfs' -o remount,ro '$img' '$m' 2> '$T/busy.err'"
check "... saying busy" grep -q "busy" "$T/busy.err"
check "... and the mount stays rw" bash -c "[[ ,$(opts_of), == *,rw,* ]] && echo c >&7"
exec 7>&-
echo "committed by the remount" > "$m/c"
check "remount ro" "$B/hfs" -o remount,ro "$img" "$m"
# a crash while ro: what the remount committed is there after it
pid=$(pgrep -f "$B/hfs.* $m\$" | head -1)
check "found the daemon" test -n "$pid"
kill -9 "$pid"; sleep 0.5
fusermount3 -u "$m" 2>/dev/null || umount -l "$m"
for i in $(seq 1 100); do flock -n "$img" true 2>/dev/null && break; sleep 0.1; done
check "fsck -n clean after the crash" "$B/fsck.hfs" -n "$img"
check "mount again" hfs_mount "$m" "$img"
check "files written before the remount ro survived the crash" \
	bash -c "grep -q unsynced '$m/a' && test -d '$m/d' && grep -q committed '$m/c'"
check "unmount" hfs_umount "$m" "$img"
# a daemon started -o ro: its devices become writable in place
check "mount -o ro" hfs_mount "$m" "$img" -o ro
python3 -c "import fcntl, sys, time; f = open(sys.argv[1]); fcntl.flock(f, fcntl.LOCK_SH)
open(sys.argv[2], 'w').close(); time.sleep(60)" "$img" "$T/locked" & holder=$!
for i in $(seq 1 100); do [ -e "$T/locked" ] && break; sleep 0.1; done
check "remount rw while another process holds the device is refused" \
	bash -c "! '$B/hfs' -o remount,rw '$img' '$m' 2> '$T/ro.err'"
check "... saying so" grep -q "another process holds" "$T/ro.err"
check "... and the mount stays ro" bash -c "[[ ,$(opts_of), == *,ro,* ]] && ! touch '$m/x' 2>/dev/null"
kill "$holder"; wait "$holder" 2>/dev/null
check "remount rw of a daemon started ro" "$B/hfs" -o remount,rw "$img" "$m"
check "the kernel mount is rw" bash -c "[[ ,$(opts_of), == *,rw,* ]]"
head -c 200000 /dev/urandom > "$T/after_ro"
check "writable: a file written and fsync'd" dd if="$T/after_ro" of="$m/after_ro" conv=fsync status=none
check "unmount" hfs_umount "$m" "$img"
check "fsck clean" "$B/fsck.hfs" -n "$img"
check "mount" hfs_mount "$m" "$img"
check "the file written after ro -> rw is there" cmp "$T/after_ro" "$m/after_ro"
check "unmount" hfs_umount "$m" "$img"
# a mirror, and a mirror with a leg missing (a degraded read-only assembly
# left the labels as they were: it must be mounted again to write)
l0=$(mkimg l0.img 200M); l1=$(mkimg l1.img 200M)
"$B/mkfs.hfs" -q "$l0" "$l1"   # two devices: a mirror
check "mirror mount -o ro" hfs_mount "$m" "$l0" "$l1" -o ro
check "mirror remount rw" "$B/hfs" -o remount,rw "$l0" "$m"
check "mirror writable" dd if="$T/after_ro" of="$m/f" conv=fsync status=none
check "unmount" hfs_umount "$m" "$l0"
check "mirror fsck clean" "$B/fsck.hfs" -n "$l0" "$l1"
check "degraded mount -o ro,degraded with one leg" hfs_mount "$m" "$l0" -o ro,degraded
check "remount rw of the degraded read-only mount is refused" \
	bash -c "! '$B/hfs' -o remount,rw '$l0' '$m' 2> '$T/deg.err'"
check "... with a clear message" grep -q "leg missing or not optimal" "$T/deg.err"
check "unmount" hfs_umount "$m" "$l0"
check "both legs again: the file is there" hfs_mount "$m" "$l0" "$l1"
check "... exact" cmp "$T/after_ro" "$m/f"
check "unmount" hfs_umount "$m" "$l0"
finish
