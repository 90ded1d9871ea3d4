#!/bin/bash
# bench/cpu.sh — instructions hfs executes per fsync'd random 4 KiB write
# (bench/cpu.c under callgrind), `make bench-cpu`.  A figure that is the
# same from run to run: compare two builds with it (BUILDDIR=...).
#
# Environment: BENCH_CPU_MIB (file size, default 256), BENCH_CPU_WRITES
# (default 20000), BENCH_DIR (the image file, default /var/tmp).
# callgrind counts each iteration of a `rep stos`/`rep movs` (glibc's large
# memset and memcpy) as an instruction: large clears and copies weigh more
# here than in time.
set -u
B=${BUILDDIR:-build}
MIB=${BENCH_CPU_MIB:-256}
N=${BENCH_CPU_WRITES:-20000}
die() { echo "bench-cpu: $*" >&2; exit 1; }
command -v valgrind >/dev/null || die "valgrind missing (apt-get install valgrind)"
[ -x "$B/benchcpu" ] && [ -x "$B/mkfs.hfs" ] || die "build it first ($B/benchcpu, $B/mkfs.hfs)"
W=$(mktemp -d "${BENCH_DIR:-/var/tmp}/hfs-benchcpu.XXXXXX") || die "no scratch directory"
trap 'rm -rf "$W"' EXIT

# instructions of one run: IMAGE size follows the file (twice it, and 1 GiB)
count() {
	rm -f "$W/img" "$W/cg.out"
	truncate -s $(( (MIB * 2 + 1024) << 20 )) "$W/img" || die "cannot make $W/img"
	"$B/mkfs.hfs" "$W/img" >"$W/log" 2>&1 || { cat "$W/log" >&2; die "mkfs.hfs failed"; }
	valgrind --tool=callgrind --callgrind-out-file="$W/cg.out" "$B/benchcpu" "$W/img" "$MIB" "$1" \
		>"$W/log" 2>&1 || { cat "$W/log" >&2; die "run with $1 writes failed"; }
	awk '/^summary:/ { print $2 }' "$W/cg.out"
}

base=$(count 0) || exit 1
full=$(count "$N") || exit 1
[ -n "$base" ] && [ -n "$full" ] || die "no instruction count in callgrind's output"
echo "hfs: $(( (full - base) / N )) instructions per random 4 KiB write (fsync every 32;" \
     "$MIB MiB file, $N writes, $B)"
