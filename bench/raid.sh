#!/bin/bash
# bench/raid.sh — hfs sequential write and read on one loop device, on a
# mirror of two and on a stripe of two (when mkfs.hfs knows -m stripe),
# printed as ratios to the single device.  `make bench-raid`.
#
# Environment: BENCH_SIZE (file size, default 2G), BENCH_DIR (image files),
# BENCH_REPS (runs per layout, best kept; default 1).
. "$(dirname "$0")/lib.sh"

SIZE_B=$(to_bytes "$SIZE") || die "bad BENCH_SIZE=$SIZE"
DEVSIZE=$(( SIZE_B * 2 + (1 << 30) ))
REPS=${BENCH_REPS:-1}
[ -x "$B/hfs" ] && [ -x "$B/mkfs.hfs" ] || die "build hfs first ($B/hfs)"
for t in fio jq bc losetup; do command -v $t >/dev/null || die "$t missing (make bench installs it)"; done
cg_init

LAYOUTS="single mirror"
if "$B/mkfs.hfs" -h 2>&1 | grep -q stripe; then
	LAYOUTS="$LAYOUTS stripe"
else
	echo "bench-raid: stripe is unavailable (mkfs.hfs has no -m stripe yet); measuring single and mirror" >&2
fi

declare -A WR RD
for l in $LAYOUTS; do
	for r in $(seq 1 "$REPS"); do
		MNT=$W/mnt-$l
		a=$(mkdev "$l-0") || die "loop device"
		DEVS=$a
		[ "$l" != single ] && { b=$(mkdev "$l-1") || die "loop device"; DEVS="$a $b"; }
		cg_new "$l"
		"$B/mkfs.hfs" -f -q -m "$l" $DEVS >/dev/null || die "mkfs.hfs -m $l failed"
		hfs_up "$l" "$MNT" $DEVS || die "mount ($l) failed"
		echo "== $l: sequential write $SIZE" >&2
		w=$(seq_write "$MNT" "$SIZE_B") || die "$l: write failed"
		hfs_down "$MNT" "$a" && drop_caches && hfs_up "$l" "$MNT" $DEVS || die "$l: remount failed"
		echo "== $l: sequential read" >&2
		rd=$(seq_read "$MNT" "$SIZE_B") || die "$l: read failed"
		hfs_down "$MNT" "$a" || die "$l: unmount failed"
		for d in $DEVS; do rmdev "$d"; done
		[ -z "${WR[$l]:-}" ] || [ "$(echo "$w > ${WR[$l]}" | bc)" = 1 ] && WR[$l]=$w
		[ -z "${RD[$l]:-}" ] || [ "$(echo "$rd > ${RD[$l]}" | bc)" = 1 ] && RD[$l]=$rd
	done
done

echo "hfs raid benchmark: sequential 1 MiB I/O of $SIZE (write ends with fsync; read after remount, caches dropped)"
printf '%-8s %12s %12s %14s %14s\n' layout "write MB/s" "read MB/s" "write/single" "read/single"
for l in $LAYOUTS; do
	printf '%-8s %12s %12s %14.2f %14.2f\n' "$l" "${WR[$l]}" "${RD[$l]}" \
		"$(echo "${WR[$l]} / ${WR[single]}" | bc -l)" "$(echo "${RD[$l]} / ${RD[single]}" | bc -l)"
done
[ -n "$(echo "$LAYOUTS" | grep stripe)" ] || echo "stripe: unavailable in this build (it comes with the raid layouts)"
echo "note: all legs are loop devices over image files on one disk ($(df --output=source "$W" | tail -1)):"
echo "      they share that disk's bandwidth, so striping cannot show the gain of separate disks here;"
echo "      the ratios show the cost of the layout in hfs (a mirror writes every byte twice)."
