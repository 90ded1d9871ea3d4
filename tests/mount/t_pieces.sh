#!/usr/bin/env bash
# Pieces records (docs/FORMAT.md §5): file blocks stored as 4 KiB pieces.
# (a) On a full filesystem, punching whole 4 KiB pieces inside 64 KiB
#     blocks frees exactly those blocks (xfstests generic/256: before, the
#     block was rewritten whole with zeros, freeing nothing and needing
#     64 KiB more): the free count grows by the punched blocks less the
#     B-tree nodes the larger records took, the holes read zero, the bytes
#     around them are intact, and the freed space takes new data.
# (b) Free space in 4 KiB holes (a fill with 4 KiB files, every other one
#     removed) takes a large write (xfstests generic/416: before, ENOSPC,
#     since a 64 KiB block needed one contiguous extent); it reads back
#     intact after a remount; fsck is clean; removing everything gives the
#     space back, statfs and fsck agreeing.
# (c) SEEK_DATA and SEEK_HOLE agree on pieces blocks whose pieces hold
#     zeros: an offset SEEK_DATA returns is not one SEEK_HOLE calls a hole
#     (cp -a looped for ever between the two on such a tail block in
#     xfstests generic/251), and a cp-style walk of the file ends.
. "$(dirname "$0")/../lib.sh"
m=$T/m

# fsck_counts IMG: "NODES FREE PIECES" from fsck -n's summary line (exit 0 required)
fsck_counts() {
	local out
	out=$("$B/fsck.hfs" -n "$1") || { echo "$out" >&2; return 1; }
	sed -n 's/.* \([0-9]*\) B-tree nodes, .* \([0-9]*\) data pieces, \([0-9]*\) of [0-9]* blocks free; 0 problems.*/\1 \3 \2/p' <<<"$out"
}

cat > "$T/tool.py" <<'PY'
import errno, os, random, sys
cmd = sys.argv[1]
def pattern(seed, n):
    return random.Random(seed).randbytes(n)
if cmd == "write":            # write FILE SEED BYTES: one file of random bytes, fsync'd
    with open(sys.argv[2], "wb") as f:
        f.write(pattern(int(sys.argv[3]), int(sys.argv[4])))
        f.flush(); os.fsync(f.fileno())
elif cmd == "fill":           # fill DIR: 1 MiB files until ENOSPC (prints the count)
    i = 0
    try:
        while True:
            with open(os.path.join(sys.argv[2], "fill%d" % i), "wb") as f:
                i += 1
                for _ in range(16):
                    f.write(b"\xab" * 65536)
                f.flush(); os.fsync(f.fileno())
    except OSError as e:
        if e.errno != errno.ENOSPC:
            raise
    print(i)
elif cmd == "small":          # small DIR: 4 KiB files until ENOSPC (prints the count)
    i = 0
    buf = b"\x5a" * 4096
    try:
        while True:
            fd = os.open(os.path.join(sys.argv[2], "s%06d" % i), os.O_WRONLY | os.O_CREAT, 0o644)
            try:
                os.write(fd, buf)
            finally:
                os.close(fd)
            i += 1
    except OSError as e:
        if e.errno != errno.ENOSPC:
            raise
    print(i)
elif cmd == "patch":          # patch FILE OFF DATAFILE: one pwrite of DATAFILE's bytes, fsync'd
    fd = os.open(sys.argv[2], os.O_WRONLY)
    data = open(sys.argv[4], "rb").read()
    if os.pwrite(fd, data, int(sys.argv[3])) != len(data):
        sys.exit("short write")
    os.fsync(fd)
    os.close(fd)
elif cmd == "verify":         # verify FILE SEED BYTES HOLES: content, holes (off:len,...) zero
    want = bytearray(pattern(int(sys.argv[3]), int(sys.argv[4])))
    for h in filter(None, sys.argv[5].split(",")):
        off, n = map(int, h.split(":"))
        want[off:off + n] = bytes(n)
    with open(sys.argv[2], "rb") as f:
        got = f.read()
    if got != bytes(want):
        bad = next(i for i in range(min(len(got), len(want))) if got[i] != want[i]) \
            if len(got) == len(want) else -1
        sys.exit("content differs (length %d/%d, first difference at %d)" % (len(got), len(want), bad))
elif cmd == "seekcheck":      # seekcheck FILE: SEEK_DATA/SEEK_HOLE consistent, a walk ends
    fd = os.open(sys.argv[2], os.O_RDONLY)
    size = os.fstat(fd).st_size
    for o in range(0, size, 4096):
        try:
            d = os.lseek(fd, o, os.SEEK_DATA)
        except OSError as e:
            if e.errno != errno.ENXIO:
                raise
            continue
        h = os.lseek(fd, d, os.SEEK_HOLE)
        if not (o <= d < h <= size):
            sys.exit("from %d: SEEK_DATA %d, SEEK_HOLE from it %d (size %d)" % (o, d, h, size))
    pos, steps, copied = 0, 0, bytearray(size)
    while pos < size and steps < 10000:
        try:
            d = os.lseek(fd, pos, os.SEEK_DATA)
        except OSError as e:
            if e.errno != errno.ENXIO:
                raise
            break
        h = os.lseek(fd, d, os.SEEK_HOLE)
        copied[d:h] = os.pread(fd, h - d, d)
        pos, steps = h, steps + 1
    if steps >= 10000:
        sys.exit("the SEEK_DATA/SEEK_HOLE walk does not end")
    if bytes(copied) != os.pread(fd, size, 0):
        sys.exit("the data regions do not hold the file's bytes")
PY
tool() { python3 "$T/tool.py" "$@"; }

# ---- (a) punches of whole pieces on a full filesystem ---------------------
img=$(mkimg a.img 1G)
check "a: mkfs -S 256M" "$B/mkfs.hfs" -q -S 256M "$img"
check "a: mount" hfs_mount "$m" "$img"
check "a: 4 MiB data file" tool write "$m/data" 7 $((4 << 20))
# the file that takes the freed space later, made now: on the full volume
# a new name may need a B-tree node, which the writeback reserve refuses
# whatever the punches free (alloc.c; it depends on where the fill ended)
check "a: empty file for later" touch "$m/new"
n=$(tool fill "$m")
check "a: filled to ENOSPC ($n MiB files)" test "${n:-0}" -gt 50
check "a: umount full" hfs_umount "$m" "$img"
read -r nodes0 free0 pieces0 < <(fsck_counts "$img")
check "a: fsck clean when full (nodes $nodes0, free $free0, no pieces)" test "$pieces0" = 0
check "a: remount" hfs_mount "$m" "$img"
# 8 KiB at 16 KiB into each of the 64 blocks, then 4 KiB at 60 KiB of the
# first 16 (the last piece), then 8 KiB across blocks 20/21 (one piece each)
holes=""
for b in $(seq 0 63); do
	holes+="$((b * 65536 + 16384)):8192,"
done
for b in $(seq 0 15); do
	holes+="$((b * 65536 + 61440)):4096,"
done
holes+="$((21 * 65536 - 4096)):8192"
ok_punch=1
IFS=, read -ra hl <<<"$holes"
for h in "${hl[@]}"; do
	fallocate -p -o "${h%%:*}" -l "${h##*:}" "$m/data" || ok_punch=0
done
check "a: 81 punches on the full filesystem" test "$ok_punch" = 1
punched=$((64 * 2 + 16 + 2))
check "a: st_blocks after the punches" test "$(stat -c %b "$m/data")" = $(((1024 - punched) * 8))
check "a: holes read zero, the rest intact" tool verify "$m/data" 7 $((4 << 20)) "$holes"
check "a: umount after punching" hfs_umount "$m" "$img"
read -r nodes1 free1 pieces1 < <(fsck_counts "$img")
check "a: fsck clean after punching, the 64 blocks as $((64 * 16 - punched)) pieces ($pieces1)" \
	test "$pieces1" = $((64 * 16 - punched))
want=$((free0 + punched - 4 * (nodes1 - nodes0)))
check "a: free blocks $free0 -> $free1 = + $punched punched - 4 x $((nodes1 - nodes0)) new nodes" \
	test "$free1" = "$want"
check "a: remount 2" hfs_mount "$m" "$img"
check "a: the freed space takes a 256 KiB file" tool write "$m/new" 9 $((256 << 10))
check "a: data still intact" tool verify "$m/data" 7 $((4 << 20)) "$holes"
check "a: 4 KiB written back into a hole" \
	dd if=/dev/zero of="$m/data" bs=4096 seek=4 count=1 conv=notrunc,fsync status=none
check "a: umount 2" hfs_umount "$m" "$img"
check "a: fsck clean at the end" "$B/fsck.hfs" -n "$img"

# ---- (b) a large write into fragmented free space ---------------------------
# nowriteback: no writeback reserve held back, so the fill leaves no free
# big-block and the only free data space is the holes
img=$(mkimg b.img 256M)
check "b: mkfs -S 64M" "$B/mkfs.hfs" -q -S 64M "$img"
check "b: mount" hfs_mount "$m" "$img" -o nowriteback
bfree0=$(stat -f -c %f "$m")
n=$(tool small "$m")
check "b: filled with 4 KiB files ($n)" test "${n:-0}" -gt 4000
check "b: umount full" hfs_umount "$m" "$img"
check "b: remount" hfs_mount "$m" "$img" -o nowriteback
rm -f "$m"/s*[13579]
removed=$(( n - $(ls "$m" | wc -l) ))
size=$(( removed * 4096 * 3 / 4 / 65536 * 65536 + 12345 ))
check "b: $removed 4 KiB holes, writing $size bytes into them" test "$size" -gt $((4 << 20))
check "b: the write into the holes" tool write "$m/big" 11 "$size"
check "b: read back" tool verify "$m/big" 11 "$size" ""
blocks=$(stat -c %b "$m/big")
check "b: st_blocks of the file ($blocks)" test "$blocks" = $(( (size + 4095) / 4096 * 8 ))
check "b: umount" hfs_umount "$m" "$img"
read -r bnodes bfree bpieces < <(fsck_counts "$img")
check "b: fsck clean after the write, $bpieces data pieces" test "${bpieces:-0}" -gt 0
check "b: remount 2" hfs_mount "$m" "$img" -o nowriteback
check "b: read back after the remount" tool verify "$m/big" 11 "$size" ""
# partial overwrites of pieces blocks (copy-on-write of the pieces they touch)
cp "$m/big" "$T/big.copy"
dd if=/dev/urandom of="$T/patch" bs=1000 count=300 status=none
ok_w=1
for at in 3000000 70000 $((size - 5000)); do
	for f in "$m/big" "$T/big.copy"; do
		tool patch "$f" "$at" "$T/patch" || ok_w=0
	done
done
check "b: three 100 KB overwrites into pieces blocks" test "$ok_w" = 1
check "b: they read back" cmp "$m/big" "$T/big.copy"
rm -f "$m"/*
sf=$(stat -f -c %f "$m")
check "b: umount 2" hfs_umount "$m" "$img"
read -r bnodes bfree bpieces < <(fsck_counts "$img")
check "b: fsck clean after removing everything, no pieces left" test "$bpieces" = 0
check "b: statfs and fsck agree on free space ($sf = $bfree)" test "$sf" = "$bfree"
check "b: free space back to that of the empty filesystem ($bfree = $bfree0)" test "$bfree" = "$bfree0"

# (c) zeros written as data, then pieces punched out of them
img=$(mkimg c.img)
check "c: mkfs" "$B/mkfs.hfs" -q "$img"
check "c: mount" hfs_mount "$m" "$img"
zeropunch() { # zeropunch FILE SIZE OFF:LEN...
	local f=$1 size=$2 h; shift 2
	python3 -c 'import os,sys; fd=os.open(sys.argv[1], os.O_WRONLY|os.O_CREAT|os.O_TRUNC, 0o644); os.write(fd, bytes(int(sys.argv[2]))); os.fsync(fd)' "$f" "$size" || return
	for h in "$@"; do fallocate -p -o "${h%:*}" -l "${h#*:}" "$f" || return; done
}
# a tail block like generic/251's: its first piece a hole, zeros after it
check "c: tail block, first piece punched" zeropunch "$m/tail" $((65536 + 49881)) 65536:4096
check "c: tail block: seeks agree" tool seekcheck "$m/tail"
check "c: holes and zeros inside blocks" zeropunch "$m/mid" $((3 * 65536)) 0:4096 8192:8192 \
	$((65536 + 61440)):4096 $((131072 + 4096)):4096
check "c: inside blocks: seeks agree" tool seekcheck "$m/mid"
check "c: umount" hfs_umount "$m" "$img"
check "c: fsck clean" "$B/fsck.hfs" -n "$img"
finish
