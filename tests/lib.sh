# tests/lib.sh — shared helpers for the mount tests (source it).
# Everything a test creates lives under $T (a mktemp -d dir) or is a loop
# device recorded in $T/loops; cleanup() unmounts, detaches and removes only
# those, also on failure or Ctrl-C.
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
B=${BUILDDIR:-build}
case $B in /*) ;; *) B=$ROOT/$B ;; esac
T=$(mktemp -d /tmp/hfs-test.XXXXXX)
FAILS=0
# Sanitizer reports of daemons (whose stderr is /dev/null) land here; finish() fails on any.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}log_path=$T/sanitizer"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}log_path=$T/sanitizer:print_stacktrace=1"

cleanup() {
	local m l
	for m in $(awk -v t="$T" '$2 ~ "^"t {print $2}' /proc/mounts 2>/dev/null); do
		fusermount3 -u "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
	done
	sleep 0.2
	# status files of daemons this test killed (a clean unmount removes its own)
	rm -f /run/hfs/"$(printf %s "$T" | tr / _)"_*.json /run/hfs/"$(printf %s "$T" | tr / _)"_*.sock 2>/dev/null
	if [ -f "$T/loops" ]; then
		while read -r l; do losetup -d "$l" 2>/dev/null; done < "$T/loops"
	fi
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() { echo "FAIL: $*"; FAILS=$((FAILS+1)); }
ok() { echo "ok: $*"; }
check() { # check DESCRIPTION CMD... : the command must succeed
	local what=$1; shift
	if "$@"; then ok "$what"; else fail "$what"; fi
}

# pycheck SCRIPT ARGS...: run tests/mount/sem/SCRIPT (prints ok/FAIL lines,
# exits with its number of failures) and count its failures as ours.
pycheck() {
	local s=$1 r; shift
	python3 "$ROOT/tests/mount/sem/$s" "$@"
	r=$?
	[ "$r" -eq 0 ] || { FAILS=$((FAILS + r)); echo "FAIL: $s ($r failed)"; }
}

# errno_of PYTHON-STATEMENTS: prints the errno name the statements raise, or OK
errno_of() { python3 -c "
import os, errno
try:
    $1
    print('OK')
except OSError as e:
    print(errno.errorcode[e.errno])"; }

mkimg() { truncate -s "${2:-512M}" "$T/$1"; echo "$T/$1"; }

mkloop() { # mkloop IMAGE -> prints the loop device (recorded for cleanup)
	local dev
	dev=$(losetup -f --show "$1") || return 1
	echo "$dev" >> "$T/loops"
	echo "$dev"
}

# hfs_mount MNT DEV... [-- opts]: mount and wait until it answers.
hfs_mount() {
	local mnt=$1; shift
	mkdir -p "$mnt"
	timeout 60 "$B/hfs" "$@" "$mnt" || return 1
	timeout 10 stat "$mnt" >/dev/null || return 1
	grep -q " $mnt fuse.hfs " /proc/mounts
}

# hfs_umount MNT DEV: unmount, then wait until the daemon has flushed and
# let go of the device (it holds a flock on every component while running).
hfs_umount() {
	local mnt=$1 dev=$2 i done=0
	# EBUSY right after the last close is transient (the kernel may still
	# hold a file of the mount in a delayed fput): retry for up to 5 s
	for i in $(seq 1 50); do
		if fusermount3 -u "$mnt" 2>/dev/null; then done=1; break; fi
		# gone although fusermount3 said no (it raced with the unmount):
		# unmounted all the same, so wait for the daemon below
		grep -q " $mnt fuse.hfs " /proc/mounts || { done=1; break; }
		sleep 0.1
	done
	[ "$done" = 1 ] || { fusermount3 -u "$mnt"; return 1; }
	for i in $(seq 1 600); do
		flock -n "$dev" true 2>/dev/null && return 0
		sleep 0.1
	done
	echo "daemon did not exit after unmounting $mnt" >&2
	return 1
}

finish() {
	local r
	for r in "$T"/sanitizer.*; do
		[ -e "$r" ] || continue
		fail "sanitizer report $(basename "$r")"
		cat "$r"
	done
	if [ "$FAILS" -eq 0 ]; then echo "PASS: $(basename "$0")"; exit 0; fi
	echo "FAILED: $(basename "$0") ($FAILS)"; exit 1
}
