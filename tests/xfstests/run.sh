#!/usr/bin/env bash
# run.sh — `make xfstests XFSTESTS_DIR=DIR`: run tests/xfstests/hfs.list from
# a built xfstests tree against this build of hfs.
#
# Sets up, all under one mktemp dir $T: two sparse images on loop devices
# (TEST_DEV, SCRATCH_DEV, formatted with mkfs.hfs), the mount points, and a
# local.config (passed as HOST_OPTIONS, so the xfstests tree is not written
# to except by check's own scratch files) for FSTYP=fuse FUSE_SUBTYP=.hfs
# with MOUNT_PROG/UMOUNT_PROG/DF_PROG wrappers and the mkfs/fsck hooks of
# hooks.sh, and /sbin/mount.fuse.hfs if absent.  It creates the xfstests users (fsgqa, fsgqa2, 123456-fsgqa)
# if missing.  On exit, also on failure or Ctrl-C, it stops check, unmounts,
# detaches the loops, removes the users it created and $T.  The results stay
# in $XFSTESTS_RESULTS (default $BUILDDIR/xfstests/results-DATE).
#
# Environment: XFSTESTS_DIR (required), BUILDDIR, XFSTESTS_LIST (default
# hfs.list; any file of test names, or names on the command line),
# XFSTESTS_TIMEOUT (seconds per test, default 900), XFSTESTS_DEV_SIZE (size
# of TEST_DEV, 8G), XFSTESTS_SCRATCH_SIZE (12G: generic/038 wants 10 GiB free
# on the scratch filesystem, generic/747 an 8 GiB _scratch_mkfs_sized, which
# an 8 GiB device cannot hold next to its label; the images are sparse).
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
B=${BUILDDIR:-build}
case $B in /*) ;; *) B=$ROOT/$B ;; esac
X=${XFSTESTS_DIR:-}
LIST=${XFSTESTS_LIST:-$HERE/hfs.list}
TMO=${XFSTESTS_TIMEOUT:-900}
SIZE=${XFSTESTS_DEV_SIZE:-8G}
SSIZE=${XFSTESTS_SCRATCH_SIZE:-12G}
RES=${XFSTESTS_RESULTS:-$B/xfstests/results-$(date +%Y%m%d-%H%M%S)}

die() { echo "xfstests: $*" >&2; exit 2; }
[ "$(id -u)" = 0 ] || die "must run as root (loop devices, mounts, users)"
[ -n "$X" ] || die "XFSTESTS_DIR is not set (a built xfstests tree, see tests/xfstests/README.md)"
X=$(cd "$X" 2>/dev/null && pwd) || die "XFSTESTS_DIR $XFSTESTS_DIR: no such directory"
[ -x "$X/check" ] || die "$X/check missing: not an xfstests tree"
[ -x "$X/ltp/fsx" ] && [ -x "$X/ltp/fsstress" ] || die "$X is not built (run make there)"
for p in hfs mkfs.hfs fsck.hfs; do [ -x "$B/$p" ] || die "$B/$p missing: run make first"; done
if [ $# -gt 0 ]; then tests=("$@"); else
	[ -f "$LIST" ] || die "$LIST: no such list"
	mapfile -t tests < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' -e '/^$/d' "$LIST")
fi
[ ${#tests[@]} -gt 0 ] || die "no tests to run"

T=$(mktemp -d /tmp/hfs-xfstests.XXXXXX)
chmod 755 "$T"      # the permission tests run as fsgqa and must reach TEST_DIR
CHECK_PID="" WATCH_PID="" TAIL_PID="" USERS_MADE=()
cleanup() {
	local m l u p
	[ -n "$WATCH_PID" ] && kill "$WATCH_PID" 2>/dev/null
	[ -n "$TAIL_PID" ] && kill "$TAIL_PID" 2>/dev/null
	if [ -n "$CHECK_PID" ] && kill -0 "$CHECK_PID" 2>/dev/null; then
		kill_tree "$CHECK_PID" TERM; sleep 2; kill_tree "$CHECK_PID" KILL
	fi
	for m in $(awk -v t="$T/" 'index($2, t) == 1 {print $2}' /proc/mounts | sort -r); do
		umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
	done
	if [ -f "$T/loops" ]; then
		while read -r l; do
			for _ in $(seq 1 100); do flock -n "$l" true 2>/dev/null && break; sleep 0.1; done
			losetup -d "$l" 2>/dev/null
		done < "$T/loops"
	fi
	# status files of daemons that were killed (a clean unmount removes its own)
	rm -f /run/hfs/"$(printf %s "$T" | tr / _)"_*.json 2>/dev/null
	[ -f "$T/helper_made" ] && rm -f /sbin/mount.fuse.hfs
	for u in "${USERS_MADE[@]}"; do userdel -r "$u" 2>/dev/null || userdel "$u" 2>/dev/null; done
	getent group fsgqa >/dev/null && [ -f "$T/group_made" ] && groupdel fsgqa 2>/dev/null
	rm -rf "$T"
}
# kill_tree PID SIG: PID and all its descendants (children first found by ppid)
kill_tree() {
	local c
	for c in $(ps -o pid= --ppid "$1" 2>/dev/null); do kill_tree "$c" "$2"; done
	kill -"$2" "$1" 2>/dev/null
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkloop() { local d; d=$(losetup -f --show "$1") || return 1; echo "$d" >> "$T/loops"; echo "$d"; }
truncate -s "$SIZE" "$T/test.img" && truncate -s "$SSIZE" "$T/scratch.img" ||
	die "cannot create images in $T"
TDEV=$(mkloop "$T/test.img") && SDEV=$(mkloop "$T/scratch.img") || die "losetup failed"
"$B/mkfs.hfs" -f -q "$TDEV" && "$B/mkfs.hfs" -f -q "$SDEV" || die "mkfs.hfs failed"
mkdir -p "$T/test" "$T/scratch" "$RES" || die "cannot create $RES"
RES=$(cd "$RES" && pwd)

# users the permission tests run as (xfstests README); removed again at exit
for u in fsgqa fsgqa2 123456-fsgqa; do
	id "$u" >/dev/null 2>&1 && continue
	useradd -m "$u" 2>/dev/null && USERS_MADE+=("$u")
done
if ! getent group fsgqa >/dev/null; then groupadd fsgqa && touch "$T/group_made"; fi

# Tests that call mount(8) themselves (not MOUNT_PROG) need the helper
# mount -t fuse.hfs runs: made for the run if absent (pointing at this
# build), removed again at the end; an installed one is left alone.
if [ ! -e /sbin/mount.fuse.hfs ]; then
	ln -s "$B/hfs" /sbin/mount.fuse.hfs && touch "$T/helper_made"
fi

cat > "$T/local.config" <<CFG
export FSTYP=fuse
export FUSE_SUBTYP=.hfs
export TEST_DEV=$TDEV
export TEST_DIR=$T/test
export SCRATCH_DEV=$SDEV
export SCRATCH_MNT=$T/scratch
# dev,suid: what a root mount of a kernel filesystem gets; hfs, like every
# FUSE filesystem, mounts nodev,nosuid unless told (fstab "defaults" does)
export FUSE_MOUNT_OPTIONS="-o dev,suid"
export HFS_BIN=$B/hfs
export HFS_MKFS=$B/mkfs.hfs
export HFS_FSCK=$B/fsck.hfs
export MOUNT_PROG=$HERE/mount.sh
export UMOUNT_PROG=$HERE/umount.sh
export DF_PROG=$HERE/df.sh
# hfs needs 64 MiB of logical space plus its label (mkfs.hfs refuses less):
# tests that make small filesystems (_small_fs_size_mb) make them this big
export MIN_FSSIZE=$((128 << 20))
. $HERE/hooks.sh
CFG

# Watchdog: a test running longer than TMO seconds is killed (it then counts
# as failed); if its processes hang in the filesystem, our mounts' FUSE
# connections are aborted.
# The time is counted in the watchdog's own 5-second sleeps since it first
# saw the test, not read off a clock: ps's etimes once gave 4,123,168,608 s
# for a test a second old on this VM (its clocks after a host pause), which
# killed generic/362 as it started; a wall clock may be stepped as well.
# A pid gone from one listing is forgotten: pids are reused (pid_max 32768).
watchdog() {
	local pid args et ticks=0
	local -A seen now
	while sleep 5; do
		ticks=$((ticks + 1))
		now=()
		while read -r pid args; do
			case $args in *tests/*/[0-9]*) ;; *) continue ;; esac
			now[$pid]=${seen[$pid]:-$ticks}
			et=$(((ticks - now[$pid]) * 5))
			[ "$et" -gt "$TMO" ] || continue
			echo "watchdog: ${args##* } ran ${et}s > ${TMO}s, killed" | tee -a "$RES/watchdog.log"
			kill_tree "$pid" TERM; sleep 10
			if kill -0 "$pid" 2>/dev/null; then
				kill_tree "$pid" KILL; sleep 2
				if kill -0 "$pid" 2>/dev/null; then
					for m in $(awk -v t="$T/" 'index($2, t) == 1 && $3 == "fuse.hfs" {print $2}' /proc/mounts); do
						c=$(stat -c %d "$m" 2>/dev/null) || continue
						echo 1 > "/sys/fs/fuse/connections/$((c & 0xff | (c >> 12 & ~0xff)))/abort" 2>/dev/null
					done
				fi
			fi
		done < <(ps -o pid=,args= --ppid "$CHECK_PID" 2>/dev/null)
		seen=()
		for pid in "${!now[@]}"; do seen[$pid]=${now[$pid]}; done
	done
}

start=$(date +%s)
echo "xfstests: ${#tests[@]} tests from $X, results in $RES"
(cd "$X" && HOST_OPTIONS="$T/local.config" RESULT_BASE="$RES" exec ./check -E "$HERE/exclude" "${tests[@]}") \
	> "$RES/check.out" 2>&1 < /dev/null &
CHECK_PID=$!
watchdog & WATCH_PID=$!
tail -n +1 --pid="$CHECK_PID" -f "$RES/check.out" & TAIL_PID=$!
wait "$CHECK_PID"      # (a signal interrupts wait; the trap then cleans up)
CHECK_PID=""
wait "$TAIL_PID"; TAIL_PID=""
kill "$WATCH_PID" 2>/dev/null; WATCH_PID=""
secs=$(( $(date +%s) - start ))

# Counts: from check's summary; a test of the list that neither ran nor was
# notrun (check died, excluded by mistake) counts as failed.
ran=$(sed -n 's/^Ran: //p' "$RES/check.out" | tail -1 | wc -w)
nr=$(sed -n 's/^Not run: //p' "$RES/check.out" | tail -1 | wc -w)
bad=$(sed -n 's/^Failures: //p' "$RES/check.out" | tail -1 | wc -w)
passed=$((ran - bad - nr))      # check's Ran: includes the notrun tests
failed=$((${#tests[@]} - passed - nr))
echo "wall time ${secs}s; results in $RES"
echo "$passed passed, $failed failed, $nr notrun"
[ "$failed" -eq 0 ]
