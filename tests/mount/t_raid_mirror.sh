#!/usr/bin/env bash
# A 2-leg mirror of image files, each case during a running workload (a copy
# of $SRC in the background), each ending with the data intact (diff -r),
# fsck.hfs clean on the set and on every leg alone, and the right state in
# `hfsctl status --json`:
#   1. a leg vanishes (fault device) and comes back at the remount: the
#      dirty-region bitmap resyncs only what was written without it;
#   2. a leg is missing at a remount with -o degraded, the set is written,
#      the leg comes back at the next remount: bitmap resync;
#   3. a leg is replaced online (hfsctl replace -w);
#   4. a replacement interrupted by an unmount resumes at the next mount.
. "$(dirname "$0")/../lib.sh"
SRC=${HFS_SRC_TREE:-/usr/include/linux}
a=$(mkimg r0.img 256M); b=$(mkimg r1.img 256M); c=$(mkimg r2.img 256M); d=$(mkimg r3.img 256M)
m=$T/m; rules=$T/rules
: > "$rules"
"$B/mkfs.hfs" -q -f "$a" "$b"
st() { "$B/hfsctl" status "$m" --json; }
devstate() { st | grep "\"path\": \"$1\"" | sed -n 's/.*"state": "\([a-z]*\)".*/\1/p'; }
rbstate() { st | sed -n 's/.*"rebuild": { "state": "\([a-z]*\)".*/\1/p'; }
wait_optimal() { # until the set is optimal (a resync finished), at most 60 s
	local i
	for i in $(seq 1 300); do
		st | grep -q '"set_state": "optimal"' && return 0
		sleep 0.2
	done
	st; return 1
}
verify() { # verify NAME DIR... : diff every copy
	local name=$1 t; shift
	for t in "$@"; do check "$name: diff -r $t" diff -r --no-dereference "$SRC" "$m/$t"; done
}
fsck_all() { # fsck_all NAME DEV... : clean as a set and leg by leg
	local name=$1 x; shift
	check "$name: fsck.hfs -n" "$B/fsck.hfs" -n "$@"
	for x in "$@"; do check "$name: fsck.hfs -n $(basename "$x") alone" "$B/fsck.hfs" -n -o degraded "$x"; done
}

# 1. vanish, come back
wait_state() { # wait_state DEV STATE: at most 10 s
	local i
	for i in $(seq 1 100); do
		[ "$(devstate "$1")" = "$2" ] && return 0
		sleep 0.1
	done
	return 1
}
check "1: mount" hfs_mount "$m" -o fault="$rules",flush_interval=1 "$a" "$b"
cp -a "$SRC" "$m/t1" & cpid=$!
sleep 0.3
echo "comp=1 action=vanish" > "$rules"
check "1: copy completes while leg 1 is gone" wait $cpid
check "1: leg 1 failed (at the next flush)" wait_state "$b" failed
check "1: set degraded" bash -c "'$B/hfsctl' status '$m' --json | grep -q '\"set_state\": \"degraded\"'"
: > "$rules"
check "1: unmount" hfs_umount "$m" "$a"
check "1: remount with leg 1 back" hfs_mount "$m" -o fault="$rules" "$a" "$b"
cp -a "$SRC" "$m/t1b" & cpid=$!
check "1: resync finishes (during a copy)" wait_optimal
check "1: copy completes" wait $cpid
s=$(st); echo "   $(grep -o '"rebuild": {[^}]*}' <<< "$s")"
check "1: it was an incremental resync" grep -q '"rebuild": { "state": "finished", "progress_pct": 100, "comp": 1, [^}]*"full": false' <<< "$s"
check "1: both legs optimal" test "$(devstate "$a")/$(devstate "$b")" = optimal/optimal
verify 1 t1 t1b
check "1: unmount again" hfs_umount "$m" "$a"
fsck_all 1 "$a" "$b"

# 2. missing at a degraded remount, back at the next
check "2: mount without leg 1 (-o degraded)" hfs_mount "$m" -o degraded "$a"
check "2: leg 1 missing" bash -c "'$B/hfsctl' status '$m' --json | grep -q '\"path\": \"(missing)\", \"state\": \"missing\"'"
check "2: write while degraded" cp -a "$SRC" "$m/t2"
check "2: remove while degraded" rm -rf "$m/t1b"
check "2: unmount" hfs_umount "$m" "$a"
check "2: remount with leg 1" hfs_mount "$m" "$a" "$b"
check "2: resync finishes" wait_optimal
verify 2 t1 t2
check "2: t1b stays removed" test ! -e "$m/t1b"
check "2: unmount again" hfs_umount "$m" "$a"
fsck_all 2 "$a" "$b"

# 3. replace online
check "3: mount" hfs_mount "$m" "$a" "$b"
cp -a "$SRC" "$m/t3" & cpid=$!
check "3: hfsctl replace -w (during a copy)" "$B/hfsctl" replace -w "$m" "$b" "$c"
check "3: copy completes" wait $cpid
check "3: new leg optimal in place of the old" test "$(devstate "$c")" = optimal -a -z "$(devstate "$b")"
check "3: set optimal" wait_optimal
check "3: rebuild finished (full)" bash -c "'$B/hfsctl' status '$m' --json | grep -q '\"rebuild\": { \"state\": \"finished\", \"progress_pct\": 100, \"comp\": 1, [^}]*\"full\": true'"
check "3: a member cannot be the new device" bash -c "! '$B/hfsctl' replace '$m' 0 '$c' 2>/dev/null"
verify 3 t1 t2 t3
check "3: unmount" hfs_umount "$m" "$a"
fsck_all 3 "$a" "$c"
check "3: the old leg does not assemble with the new" bash -c "! '$B/fsck.hfs' -n '$a' '$b' '$c' >/dev/null 2>&1"

# 4. a replacement interrupted by an unmount resumes (reads slowed so it takes a while)
echo "comp=0 op=read action=delay ms=3" > "$rules"
check "4: mount" hfs_mount "$m" -o fault="$rules" "$a" "$c"
check "4: replace starts" "$B/hfsctl" replace "$m" 1 "$d"
sleep 0.5
check "4: rebuilding" test "$(rbstate)" = running -a "$(devstate "$d")" = rebuilding
check "4: unmount mid-rebuild" hfs_umount "$m" "$a"
: > "$rules"
check "4: remount with the new leg" hfs_mount "$m" "$a" "$d"
check "4: the rebuild resumed and finishes" wait_optimal
check "4: it was the full resync, resumed" bash -c "'$B/hfsctl' status '$m' --json | grep -q '\"rebuild\": { \"state\": \"finished\", \"progress_pct\": 100, \"comp\": 1, [^}]*\"full\": true'"
verify 4 t1 t2 t3
check "4: unmount" hfs_umount "$m" "$a"
fsck_all 4 "$a" "$d"
finish
