#!/usr/bin/env bash
# A device mounted again, as with a kernel filesystem: the second mount
# shares the running daemon (same files at once, its own mount flags, a
# fresh peer group like any new mount, not the first mount's), unmounting
# one leaves the other serving, the last unmount ends the daemon.  A
# device whose lock another process holds is waited for (a daemon doing
# its final flush after an unmount), then busy; mounted only as a bind
# mount of a subtree it is busy at once.  mount -o remount,ro|rw (mount(8)
# runs the helper again) changes the running mount, no second daemon.
. "$(dirname "$0")/../lib.sh"
helper=/sbin/mount.fuse.hfs
made=""
if [ ! -e "$helper" ]; then
	ln -s "$B/hfs" "$helper" && made=1
fi
export HFS_BIN=$B/hfs   # the shared wrapper helper runs this build
trap 'for x in "$T"/m/sub/x "$T"/m/b "$T"/m/a "$T"/m2 "$T"/m; do umount "$x" 2>/dev/null; done
	[ -n "$made" ] && rm -f "$helper"; cleanup' EXIT
img=$(mkimg s.img 200M)
"$B/mkfs.hfs" -q "$img"
m=$T/m
# umount(8), retried over a transient EBUSY right after the last close
umount_retry() { local i; for i in $(seq 1 50); do umount "$1" 2>/dev/null && return 0; sleep 0.1; done; umount "$1"; }
daemons() { pgrep -f -c -- "$B/hfs $img" || true; }
check "mount" hfs_mount "$m" "$img"
mkdir -p "$T/m2" "$m/a" "$m/b" "$m/sub/x"
check "second mount of the mounted device" "$B/hfs" "$img" "$T/m2"
check "one daemon serves both" test "$(daemons)" = 1
echo one > "$m/f"
check "a file written in one is in the other" test "$(cat "$T/m2/f")" = one
mount --make-shared "$m"
check "read-only third mount, inside the first" "$B/hfs" "$img" "$m/a" -o ro
check "it is read-only" bash -c "! touch '$m/a/g' 2>/dev/null"
check "the first stays writable" touch "$m/g"
check "a new mount under a shared one is in a new peer group" \
	bash -c "[ \"\$(findmnt -n -o PROPAGATION '$m/a')\" = shared ] &&
		[ \"\$(awk '\$5 == \"$m\" {print \$7}' /proc/self/mountinfo)\" != \"\$(awk '\$5 == \"$m/a\" {print \$7}' /proc/self/mountinfo)\" ]"
check "mount -o remount,ro (mount(8) and the helper)" mount -o remount,ro "$T/m2"
check "remounted read-only" bash -c "! touch '$T/m2/h' 2>/dev/null && grep -q ' $T/m2 fuse.hfs ro,' /proc/mounts"
check "still one daemon" test "$(daemons)" = 1
check "mount -o remount,rw" mount -o remount,rw "$T/m2"
check "writable again" touch "$T/m2/h"
check "unmount the read-only one" umount_retry "$m/a"
check "unmount the first mount" umount_retry "$m"
check "the second still serves" test "$(cat "$T/m2/f")" = one
check "the daemon too" test "$(daemons)" = 1
check "last unmount ends the daemon" hfs_umount "$T/m2" "$img"
check "fsck clean" "$B/fsck.hfs" -n "$img"

# the lock held by another process: waited for, then busy
flock "$img" sleep 1 & holder=$!
sleep 0.2
check "a mount waits for a lock held for a second" hfs_mount "$m" "$img"
wait "$holder"
check "unmount" hfs_umount "$m" "$img"
flock "$img" sleep 13 & holder=$!
sleep 0.2
t0=$(date +%s)
out=$("$B/hfs" "$img" "$m" 2>&1); rc=$?
t1=$(date +%s)
check "a lock held longer: busy after the wait ($((t1 - t0)) s: $out)" \
	bash -c "[ $rc -ne 0 ] && [ $((t1 - t0)) -ge 9 ] && grep -qi busy <<<'$out' && ! grep -q ' $m fuse.hfs ' /proc/mounts"
kill "$holder" 2>/dev/null; wait "$holder" 2>/dev/null

# mounted only through a bind mount of a subdirectory: no root to share
check "mount" hfs_mount "$m" "$img"
mkdir -p "$T/bind"
check "bind mount of a subdirectory" mount --bind "$m/sub" "$T/bind"
check "unmount the mount of the root" umount_retry "$m"
out=$("$B/hfs" "$img" "$m" 2>&1); rc=$?
check "a new mount then is busy at once ($out)" bash -c "[ $rc -ne 0 ] && grep -q 'subtree' <<<'$out'"
check "unmount the bind mount" hfs_umount "$T/bind" "$img"
check "fsck clean at the end" "$B/fsck.hfs" -n "$img"
finish
