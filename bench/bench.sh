#!/bin/bash
# bench/bench.sh — hfs against fuse2fs, ntfs-3g, zfs-fuse (single and
# mirror) and the kernel's ext4, on identical loop devices (same size,
# fresh sparse image files in one directory), in one run.  `make bench`.
#
# Environment:
#   BENCH_SIZE=2G      sequential file size (device size = 2 x this + 1G)
#   BENCH_RUNTIME=15   seconds per random-I/O phase
#   BENCH_FS="..."     which configurations (default: all of
#                      hfs hfs-mirror fuse2fs ntfs-3g zfs zfs-mirror ext4
#                      fuse-null); fuse-null (bench/nullfs.c) keeps no data,
#                      so it runs the sequential phases only: the ceiling
#                      of the FUSE transport itself on this machine
#   BENCH_FILES=20000  files of the metadata phase (in 100 directories)
#   BENCH_SMALL=10000  4 KiB files of the small-file phase
#   BENCH_FSYNC=1000   append+fsync pairs of the latency phase
#   BENCH_DIR=/var/tmp where the image files go
#   BENCH_OUT=FILE     also write the raw results (fs metric value) there
#   BENCH_HFS_OPTS=..  mount options for hfs (e.g. noredo: fsync always commits)
#   BENCH_FUSE_URING=Y the fuse module's enable_uring for the run (N: hfs
#                      serves /dev/fuse; put back afterwards either way)
#   BENCH_PHASES="..." only these phases (default all: seqw seqr randw randr
#                      meta small fsync); randw/randr lay their file out
#                      themselves when seqw did not run
#   BENCH_ROUNDS=1     run every configuration this many times, in turn
#                      (the order reversed every other round); the table
#                      gives medians, and each ratio is the median of the
#                      rounds' own ratios, so a host whose speed drifts
#                      within the run compares figures taken minutes apart
. "$(dirname "$0")/lib.sh"

FSLIST=${BENCH_FS:-"hfs hfs-mirror fuse2fs ntfs-3g zfs zfs-mirror ext4 fuse-null"}
NFILES=${BENCH_FILES:-20000}
NSMALL=${BENCH_SMALL:-10000}
NFSYNC=${BENCH_FSYNC:-1000}
SIZE_B=$(to_bytes "$SIZE") || die "bad BENCH_SIZE=$SIZE"
DEVSIZE=$(( SIZE_B * 2 + (1 << 30) ))
[ "$DEVSIZE" -ge $((2 << 30)) ] || DEVSIZE=$((2 << 30))
RES=$W/results
: > "$RES"
PHASES=${BENCH_PHASES:-"seqw seqr randw randr meta small fsync"}
ROUNDS=${BENCH_ROUNDS:-1}
case $ROUNDS in ''|*[!0-9]*|0) die "bad BENCH_ROUNDS=$ROUNDS (a count, 1 or more)" ;; esac
want() { case " $PHASES " in *" $1 "*) return 0 ;; esac; return 1; }

for t in fio jq python3 bc losetup mkfs.ext4; do
	command -v $t >/dev/null || die "$t missing (make bench installs it)"
done
[ -x "$B/hfs" ] && [ -x "$B/mkfs.hfs" ] || die "build hfs first ($B/hfs)"
cg_init

# ---- per-filesystem setup -------------------------------------------------------
# Each configuration gets fresh devices; DEVS and MNT describe the current one.
DEVS=""
MNT=""

fs_mount() { # fs_mount CONFIG
	case $1 in
	hfs|hfs-mirror) hfs_up "$1" "$MNT" $DEVS ;;
	fuse2fs) cg_run "$1" fuse2fs $DEVS "$MNT" ;;
	ntfs-3g) cg_run "$1" ntfs-3g $DEVS "$MNT" ;;
	fuse-null)
		cg_run "$1" "$B/nullfs" "$MNT" || return 1
		# the readahead window hfs sets on its own mount (fs/mountinfo.c)
		echo 4096 > "/sys/class/bdi/$(mountpoint -d "$MNT")/read_ahead_kb" ;;
	zfs|zfs-mirror) zpool import -d "$W/zdev" "$ZPOOL" ;;
	ext4) mount $DEVS "$MNT" ;;
	esac
}

# wait until every process of cgroup $1 has exited (the daemon's final flush)
cg_drain() {
	local i
	[ -n "$CG" ] && [ -f "$CG/$1/tasks" ] || { sleep 2; return 0; }
	for i in $(seq 1 1200); do
		[ -s "$CG/$1/tasks" ] || return 0
		sleep 0.1
	done
	die "$1: daemon did not exit after unmount"
}

fs_umount() {
	case $1 in
	hfs|hfs-mirror) hfs_down "$MNT" "${DEVS%% *}" ;;
	fuse2fs|ntfs-3g|fuse-null)
		{ fusermount -u "$MNT" 2>/dev/null || fusermount3 -u "$MNT"; } && cg_drain "$1" ;;
	zfs|zfs-mirror) zpool export "$ZPOOL" ;;
	ext4) umount "$MNT" ;;
	esac
}

# fuse-null keeps its files only while mounted: its "cold" read drops the
# page cache instead
fs_remount() {
	if [ "$1" = fuse-null ]; then drop_caches; return 0; fi
	fs_umount "$1" && drop_caches && fs_mount "$1"
}

fs_setup() { # fs_setup CONFIG: devices, mkfs, mount
	local c=$1 a b
	MNT=$W/mnt-$c
	mkdir -p "$MNT"
	if [ "$c" = fuse-null ]; then
		DEVS=""
		cg_new "$c"
		fs_mount "$c"
		return
	fi
	a=$(mkdev "$c-0") || return 1
	DEVS=$a
	case $c in *-mirror) b=$(mkdev "$c-1") || return 1; DEVS="$a $b" ;; esac
	cg_new "$c"
	case $c in
	hfs|hfs-mirror) "$B/mkfs.hfs" -f -q $DEVS >/dev/null || return 1 ;;
	fuse2fs|ext4) mkfs.ext4 -F -q $DEVS || return 1 ;;
	ntfs-3g) mkntfs -Q -F -q $DEVS >"$W/mkntfs.log" 2>&1 || { cat "$W/mkntfs.log" >&2; return 1; } ;;
	zfs|zfs-mirror)
		[ -f "$W/zfs.pid" ] || zfs_start || return 1
		mkdir -p "$W/zdev"
		for a in $DEVS; do ln -sf "$a" "$W/zdev/$(basename "$a")"; done
		if [ "$c" = zfs ]; then
			zpool create -f -m "$MNT" "$ZPOOL" $DEVS || return 1
		else
			zpool create -f -m "$MNT" "$ZPOOL" mirror $DEVS || return 1
		fi
		return 0 ;;
	esac
	fs_mount "$c"
}

fs_teardown() {
	local d
	case $1 in
	zfs|zfs-mirror)
		# right after heavy use the pool can be briefly busy
		for d in 1 2 3 4 5 6 7 8 9 10; do
			zpool destroy -f "$ZPOOL" 2>/dev/null && break
			sleep 1
		done ;;
	*) fs_umount "$1" ;;
	esac
	for d in $DEVS; do rmdev "$d"; done
	rm -rf "$W/zdev"
	rmdir "$MNT" 2>/dev/null
}

put() { echo "$1 $2 ${3:--} $ROUND" >> "$RES"; }

# ---- one configuration ------------------------------------------------------------
run_one() {
	local c=$1 v c0 c1 p
	# want() reads PHASES: fuse-null has no data for the other phases
	local PHASES=$PHASES
	[ "$c" = fuse-null ] && PHASES=$(for v in $PHASES; do case $v in seqw|seqr) printf '%s ' "$v" ;; esac; done)
	echo "== $c: setup" >&2
	if ! fs_setup "$c"; then
		echo "bench: $c: setup failed, skipped" >&2
		fs_teardown "$c" 2>/dev/null
		return 0
	fi
	p=$c; case $c in zfs*) p=zfs ;; esac   # one zfs-fuse daemon serves both pools
	c0=$(cg_secs "$p")

	local w0 w1
	if want seqw || want seqr; then
	echo "== $c: sequential write $SIZE" >&2
	w0=$(cg_secs "$p")
	v=$(seq_write "$MNT" "$SIZE_B") || v=-
	w1=$(cg_secs "$p")
	put "$c" seqw "$v"
	if [ "$w0" != - ] && [ "$c" != ext4 ]; then
		put "$c" cpu_gib "$(echo "($w1 - $w0) * 1073741824 / $SIZE_B" | bc -l | xargs printf '%.2f')"
	fi
	fi

	if want seqr; then
	echo "== $c: sequential read" >&2
	fs_remount "$c" || { echo "bench: $c: remount failed" >&2; fs_teardown "$c"; return 0; }
	v=$(seq_read "$MNT" "$SIZE_B") || v=-
	put "$c" seqr "$v"
	fi

	if want randw; then
	echo "== $c: random 4 KiB writes, fsync every 32" >&2
	if run_fio "$W/fio.json" --name=randw --filename="$MNT/seq" --size="$SIZE_B" \
		--rw=randwrite --bs=4k --fsync=32 --ioengine=psync \
		--runtime="$RUNTIME" --time_based; then
		put "$c" randw "$(jqn '.jobs[0].write.iops' "$W/fio.json" | xargs printf '%.0f')"
	else put "$c" randw -; fi
	fi

	want randr &&
	for j in 1 4; do
		echo "== $c: random 4 KiB reads, $j job(s)" >&2
		fs_remount "$c" || { fs_teardown "$c"; return 0; }
		if run_fio "$W/fio.json" --name=randr --filename="$MNT/seq" --size="$SIZE_B" \
			--rw=randread --bs=4k --ioengine=psync --numjobs=$j --group_reporting \
			--runtime="$RUNTIME" --time_based; then
			put "$c" randr$j "$(jqn '.jobs[0].read.iops' "$W/fio.json" | xargs printf '%.0f')"
		else put "$c" randr$j -; fi
	done
	rm -f "$MNT/seq"

	if want meta; then
	echo "== $c: create/stat/delete $NFILES files in 100 directories" >&2
	mkdir -p "$MNT/meta"
	v=$(python3 "$ROOT/bench/fsops.py" create "$MNT/meta" "$NFILES" 100) || v=-
	put "$c" create "$v"
	fs_remount "$c" || { fs_teardown "$c"; return 0; }
	v=$(python3 "$ROOT/bench/fsops.py" stat "$MNT/meta" "$NFILES" 100) || v=-
	put "$c" stat "$v"
	v=$(python3 "$ROOT/bench/fsops.py" delete "$MNT/meta" "$NFILES" 100) || v=-
	put "$c" delete "$v"
	fi

	if want small; then
	echo "== $c: write and read back $NSMALL 4 KiB files" >&2
	mkdir -p "$MNT/small"
	v=$(python3 "$ROOT/bench/fsops.py" smallw "$MNT/small" "$NSMALL") || v=-
	put "$c" smallw "$v"
	fs_remount "$c" || { fs_teardown "$c"; return 0; }
	v=$(python3 "$ROOT/bench/fsops.py" smallr "$MNT/small" "$NSMALL") || v=-
	put "$c" smallr "$v"
	fi

	if want fsync; then
	echo "== $c: $NFSYNC x (append 4 KiB, fsync)" >&2
	v=$(python3 "$ROOT/bench/fsops.py" fsync "$MNT/fsync" "$NFSYNC") || v="- -"
	put "$c" fsync50 "${v%% *}"
	put "$c" fsync99 "${v##* }"
	fi

	fs_teardown "$c"
	c1=$(cg_secs "$p")
	[ "$c0" != - ] && [ "$c" != ext4 ] &&
		put "$c" cpu "$(echo "$c1 - $c0" | bc -l | xargs printf '%.2f')"
	return 0
}

HAVE=""
for c in $FSLIST; do
	case $c in
	hfs|hfs-mirror) ;;
	fuse2fs) command -v fuse2fs >/dev/null || { echo "bench: no fuse2fs, skipped" >&2; continue; } ;;
	ntfs-3g) command -v ntfs-3g >/dev/null && command -v mkntfs >/dev/null ||
		{ echo "bench: no ntfs-3g, skipped" >&2; continue; } ;;
	zfs|zfs-mirror) command -v zfs-fuse >/dev/null || { echo "bench: no zfs-fuse, skipped" >&2; continue; } ;;
	ext4) ;;
	fuse-null) [ -x "$B/nullfs" ] || { echo "bench: no $B/nullfs (make $B/nullfs), skipped" >&2; continue; } ;;
	*) die "unknown configuration $c" ;;
	esac
	HAVE="$HAVE $c"
done

echo "bench: $(nproc) CPUs, $(uname -r), devices: loop over sparse files in $(df --output=source "$W" | tail -1) ($(numfmt --to=iec $DEVSIZE) each), file $SIZE, random phases ${RUNTIME}s, $ROUNDS round(s), FUSE over io_uring: $(cat "$URING_PARAM" 2>/dev/null || echo "not in this kernel")" >&2
ORDER=$HAVE
for ROUND in $(seq 1 "$ROUNDS"); do
	[ "$ROUNDS" -gt 1 ] && echo "== round $ROUND of $ROUNDS:$ORDER" >&2
	for c in $ORDER; do run_one "$c"; done
	ORDER=$(for c in $ORDER; do echo "$c"; done | tac | tr '\n' ' ')
done
zfs_stop

[ -n "${BENCH_OUT:-}" ] && cp "$RES" "$BENCH_OUT"
python3 "$ROOT/bench/table.py" "$RES" "$SIZE" "$RUNTIME" "$NFILES" "$NSMALL" "$NFSYNC"
