#!/usr/bin/env bash
# mount -o remount,ro|rw (the helper, /sbin/mount.fuse.hfs, is hfs itself):
# to read-only, the kernel mount turns ro and the daemon commits and stops
# writing (the image does not change while ro; a SIGKILL then loses
# nothing); back to read-write, both write again; per-mount flags (nosuid,
# nodev) survive; a file open for writing makes remount ro fail (busy)
# and leaves the mount rw; a daemon started with -o ro refuses rw.
. "$(dirname "$0")/../lib.sh"
img=$(mkimg r.img 256M)
m=$T/m
"$B/mkfs.hfs" -q "$img"
opts_of() { awk -v m="$m" '$2 == m { print $4 }' /proc/mounts; }
errno_of() { python3 -c "
import os, errno
try:
    $1
    print('OK')
except OSError as e:
    print(errno.errorcode[e.errno])"; }
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
check "mount -o ro" hfs_mount "$m" "$img" -o ro
check "remount rw of a daemon started ro is refused" bash -c "! '$B/hfs' -o remount,rw '$img' '$m' 2> '$T/ro.err'"
check "... with a clear message" grep -q "mounted read-only (-o ro)" "$T/ro.err"
check "... and the mount stays ro" bash -c "[[ ,$(opts_of), == *,ro,* ]]"
check "unmount" hfs_umount "$m" "$img"
check "fsck clean" "$B/fsck.hfs" -n "$img"
finish
