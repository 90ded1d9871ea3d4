#!/usr/bin/env bash
# UMOUNT_PROG for xfstests: umount(8), then, for an hfs mount, wait until its
# daemon has done its last flush and let go of the device (it holds a flock
# on every component while it runs): a FUSE unmount returns before that, and
# the next mount, mkfs or fsck of the device must see the final state
# (unless another mount of it remains: the daemon then goes on serving it).
set -u
# lock_pid DEV: the process holding DEV's flock (the daemon), from /proc/locks
lock_pid() {
	local dev ino key
	dev=$(stat -L -c %d -- "$1" 2>/dev/null) && ino=$(stat -L -c %i -- "$1") || return
	key=$(printf '%02x:%02x:%s' $((dev >> 8 & 0xfff)) $(((dev & 0xff) | (dev >> 12 & 0xfff00))) "$ino")
	awk -v k="$key" '$2 == "FLOCK" && $6 == k { print $5; exit }' /proc/locks
}
mounted() { awk -v d="$1" '$1 == d && $3 == "fuse.hfs" { f = 1 } END { exit !f }' /proc/mounts; }
devs=() pids=()
for a in "$@"; do
	case $a in -*) continue ;; esac
	r=$(realpath -m -- "$a")
	while read -r src mnt fstype _; do
		[ "$fstype" = fuse.hfs ] || continue
		if [ "$src" = "$a" ] || [ "$mnt" = "$r" ]; then
			devs+=("$src"); p=$(lock_pid "$src"); pids+=("${p:-0}")
		fi
	done < /proc/mounts
done
# EBUSY right after the last close of a file of the mount is transient under
# FUSE (the kernel sends the RELEASE of a closed file asynchronously and
# holds the file until it is answered; tests/lib.sh hfs_umount retries too):
# retry "target is busy" for up to 5 s, then report what umount(8) said
for i in $(seq 0 50); do
	err=$(umount "$@" 2>&1) && { [ -z "$err" ] || printf '%s\n' "$err" >&2; break; }
	rc=$?
	case $err in *"target is busy"*) [ "$i" -lt 50 ] && { sleep 0.1; continue; } ;; esac
	printf '%s\n' "$err" >&2
	exit "$rc"
done
# alive PID: running (a zombie waiting for PID 1 to reap it is done)
alive() { local st; st=$(ps -o stat= -p "$1" 2>/dev/null) || return 1; [[ $st != Z* ]]; }
# released DEV PID: the daemon let go of DEV, or another mount of the same
# hfs (a second mount or a bind mount, also one made meanwhile) keeps it
# serving; a new daemon that took the lock meanwhile is not waited for
released() { mounted "$1" || { [ "$2" != 0 ] && ! alive "$2"; } || flock -n "$1" true 2>/dev/null; }
for i in "${!devs[@]}"; do
	for _ in $(seq 1 600); do
		released "${devs[$i]}" "${pids[$i]}" && continue 2
		sleep 0.1
	done
	echo "umount.sh: hfs daemon still holds ${devs[$i]} after 60 s" >&2
	exit 1
done
exit 0
