# bench/lib.sh — shared by bench/bench.sh and bench/raid.sh (source it).
#
# Everything a run sets up lives under $W (a fresh directory on one
# filesystem, so every image file has the same backing): sparse image
# files, loop devices over them (recorded in $W/loops), mount points,
# the zfs-fuse daemon (pid in $W/zfs.pid) and a cpuacct cgroup for the
# FUSE daemons.  bench_cleanup undoes exactly that, also on failure or
# Ctrl-C; nothing else on the machine is touched (except that caches are
# dropped between phases, which only costs other programs a re-read).
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
B=${BUILDDIR:-build}
case $B in /*) ;; *) B=$ROOT/$B ;; esac
SIZE=${BENCH_SIZE:-2G}
RUNTIME=${BENCH_RUNTIME:-15}
mkdir -p "${BENCH_DIR:-/var/tmp}"
W=$(mktemp -d "${BENCH_DIR:-/var/tmp}/hfs-bench.XXXXXX")
ZPOOL=hfsbench$$
CG=""

die() { echo "bench: $*" >&2; exit 1; }

bench_cleanup() {
	local m l
	set +e
	for m in $(awk -v w="$W" '$2 ~ "^"w {print $2}' /proc/mounts 2>/dev/null | sort -r); do
		case $(awk -v m="$m" '$2 == m {print $3}' /proc/mounts) in
		fuse.*|fuseblk) fusermount3 -u "$m" 2>/dev/null || fusermount -u "$m" 2>/dev/null || umount -l "$m" ;;
		*) umount "$m" 2>/dev/null || umount -l "$m" ;;
		esac
	done
	if [ -f "$W/zfs.pid" ]; then
		zpool destroy -f "$ZPOOL" 2>/dev/null
		zfs_stop
	fi
	sleep 0.3
	if [ -f "$W/loops" ]; then
		while read -r l; do losetup -d "$l" 2>/dev/null; done < "$W/loops"
	fi
	rm -f /run/hfs/"$(printf %s "$W" | tr / _)"_*.json 2>/dev/null
	[ -n "$CG" ] && [ -d "$CG" ] && { for l in "$CG"/*/; do rmdir "$l" 2>/dev/null; done; rmdir "$CG" 2>/dev/null; }
	[ -n "${URING_WAS:-}" ] && echo "$URING_WAS" > "$URING_PARAM" 2>/dev/null
	rm -rf "$W"
}
trap bench_cleanup EXIT
trap 'exit 130' INT TERM HUP

[ "$(id -u)" = 0 ] || die "needs root (loop devices, mounts, drop_caches)"

# FUSE over io_uring (fs/fuse_ring.c) is the fuse module's choice: turned on
# for the run where the kernel has it, and put back as found.  Daemons built
# on libfuse 3.14 (fuse2fs, ntfs-3g) do not ask for it; BENCH_FUSE_URING=N
# measures hfs on /dev/fuse.
URING_PARAM=/sys/module/fuse/parameters/enable_uring
URING_WAS=
if [ -w "$URING_PARAM" ]; then
	URING_WAS=$(cat "$URING_PARAM")
	echo "${BENCH_FUSE_URING:-Y}" > "$URING_PARAM"
fi

# ---- devices ----------------------------------------------------------------
# mkdev NAME -> a loop device over a fresh sparse image file of $DEVSIZE
# bytes.  Direct I/O on the backing file, so the guest page cache does not
# cache the "disk" twice and every filesystem sees the same device.
mkdev() {
	local img=$W/$1.img dev
	truncate -s "$DEVSIZE" "$img" || return 1
	dev=$(losetup --direct-io=on -f --show "$img" 2>/dev/null || losetup -f --show "$img") || return 1
	echo "$dev" >> "$W/loops"
	echo "$dev"
}
rmdev() { # rmdev DEV: detach and delete its image (frees the space between filesystems)
	local img
	img=$(losetup -nO BACK-FILE "$1" 2>/dev/null)
	losetup -d "$1" 2>/dev/null
	sed -i "\#^$1\$#d" "$W/loops"
	[ -n "$img" ] && rm -f "$img"
}

to_bytes() { numfmt --from=iec "$1"; }

drop_caches() { sync; echo 3 > /proc/sys/vm/drop_caches; }

# ---- CPU of FUSE daemons ----------------------------------------------------
# A cpuacct cgroup per filesystem: daemons are started inside it, so their
# CPU time is counted including what they spend after the last look (the
# final flush at unmount).  Falls back to nothing (reported as "-").
cg_init() {
	local base=/sys/fs/cgroup/cpuacct
	[ -d "$base" ] && [ -w "$base" ] || return 0
	CG=$base/hfs-bench.$$
	mkdir -p "$CG" 2>/dev/null || CG=""
}
cg_new() { [ -n "$CG" ] && mkdir -p "$CG/$1" 2>/dev/null; }
# cg_run NAME CMD...: run CMD (and whatever it forks) inside cgroup NAME
cg_run() {
	local n=$1; shift
	( [ -n "$CG" ] && echo "$BASHPID" > "$CG/$n/tasks" 2>/dev/null; exec "$@" )
}
cg_secs() { # CPU seconds used so far by cgroup NAME
	[ -n "$CG" ] && [ -r "$CG/$1/cpuacct.usage" ] || { echo -; return; }
	awk '{printf "%.3f", $1 / 1e9}' "$CG/$1/cpuacct.usage"
}

# ---- fio ----------------------------------------------------------------------
# run_fio OUT.json fio-args...: fio with json output; fails loudly
run_fio() {
	local out=$1; shift
	fio --output-format=json --output="$out" "$@" >/dev/null 2>"$out.err" ||
		{ cat "$out.err" >&2; return 1; }
}
jqn() { jq -r "$1" "$2"; }

now() { date +%s.%N; }
elapsed() { echo "$2 - $1" | bc -l; }

# seq_write MNT FILE_BYTES -> MB/s: 1 MiB writes then fsync, timed around fio
seq_write() {
	local t0 t1
	t0=$(now)
	run_fio "$W/fio.json" --name=seqw --filename="$1/seq" --rw=write --bs=1M \
		--size="$2" --end_fsync=1 --ioengine=psync || return 1
	t1=$(now)
	echo "$2 / $(elapsed "$t0" "$t1") / 1000000" | bc -l | xargs printf '%.1f'
}
# seq_read MNT FILE_BYTES -> MB/s
seq_read() {
	local t0 t1
	t0=$(now)
	run_fio "$W/fio.json" --name=seqr --filename="$1/seq" --rw=read --bs=1M \
		--size="$2" --ioengine=psync || return 1
	t1=$(now)
	echo "$2 / $(elapsed "$t0" "$t1") / 1000000" | bc -l | xargs printf '%.1f'
}

# ---- hfs ----------------------------------------------------------------------
# hfs_up CG MNT DEV...: mount hfs (daemon in cgroup CG)
hfs_up() {
	local cg=$1 mnt=$2; shift 2
	mkdir -p "$mnt"
	cg_run "$cg" "$B/hfs" "$@" "$mnt" ${BENCH_HFS_OPTS:+-o "$BENCH_HFS_OPTS"} || return 1
	timeout 10 stat "$mnt" >/dev/null
}
# hfs_down MNT DEV: unmount and wait until the daemon let go of DEV
hfs_down() {
	local i
	fusermount3 -u "$1" || return 1
	for i in $(seq 1 600); do
		flock -n "$2" true 2>/dev/null && return 0
		sleep 0.1
	done
	die "hfs daemon did not exit after unmounting $1"
}

# ---- zfs-fuse daemon ------------------------------------------------------------
zfs_start() { # start our own zfs-fuse daemon (refuse if one is already running)
	local i
	[ -S /var/run/zfs/zfs_socket ] && pgrep -x zfs-fuse >/dev/null &&
		{ echo "bench: a zfs-fuse daemon is already running; skipping zfs" >&2; return 1; }
	cg_new zfs
	cg_run zfs zfs-fuse --pidfile "$W/zfs.pid" --no-kstat-mount || return 1
	for i in $(seq 1 100); do
		zpool list >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	echo "bench: zfs-fuse did not come up" >&2
	return 1
}
zfs_stop() {
	local pid i
	[ -f "$W/zfs.pid" ] || return 0
	pid=$(cat "$W/zfs.pid")
	kill "$pid" 2>/dev/null
	for i in $(seq 1 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	rm -f "$W/zfs.pid"
}
