#!/usr/bin/env bash
# raid10 of 4 image files, each case during a running copy, each ending
# with the data intact (diff -r), fsck.hfs clean and the right state in
# `hfsctl status --json`: a leg starts failing every write (fault device),
# then comes back at the remount (bitmap resync); a leg of the other pair
# vanishes mid-copy and comes back the same way; bytes flipped on one leg
# underneath the mount are repaired by a scrub; a leg is replaced online.
# And a stripe set with a failed leg: every read is right or EIO, never
# wrong data.
. "$(dirname "$0")/../lib.sh"
SRC=${HFS_SRC_TREE:-/usr/include/linux}
for i in 0 1 2 3 4; do eval "i$i=\$(mkimg q$i.img 160M)"; done
m=$T/m; rules=$T/rules
: > "$rules"
st() { "$B/hfsctl" status "$m" --json; }
devstate() { st | grep "\"path\": \"$1\"" | sed -n 's/.*"state": "\([a-z]*\)".*/\1/p'; }
jnum() { sed -n "s/.*\"scrub\": {[^}]*\"$1\": \([0-9]*\).*/\1/p"; }
wait_optimal() {
	local i
	for i in $(seq 1 300); do
		st | grep -q '"set_state": "optimal"' && return 0
		sleep 0.2
	done
	st; return 1
}
wait_state() {
	local i
	for i in $(seq 1 100); do
		[ "$(devstate "$1")" = "$2" ] && return 0
		sleep 0.1
	done
	return 1
}
check "raid10: mkfs" "$B/mkfs.hfs" -q -f -m raid10 "$i0" "$i1" "$i2" "$i3"

# a leg fails every write, then comes back
check "1: mount" hfs_mount "$m" -o fault="$rules",flush_interval=1 "$i0" "$i1" "$i2" "$i3"
check "1: status says raid10" bash -c "'$B/hfsctl' status '$m' --json | grep -q '\"layout\": \"raid10\"'"
cp -a "$SRC" "$m/t1" & cpid=$!
sleep 0.3
echo "comp=2 op=write action=fail" > "$rules"
check "1: copy completes while leg 2 fails writes" wait $cpid
check "1: leg 2 failed" wait_state "$i2" failed
check "1: set degraded" bash -c "'$B/hfsctl' status '$m' --json | grep -q '\"set_state\": \"degraded\"'"
check "1: diff -r while degraded" diff -r --no-dereference "$SRC" "$m/t1"
: > "$rules"
check "1: unmount" hfs_umount "$m" "$i0"
check "1: remount, leg 2 back" hfs_mount "$m" -o fault="$rules" "$i0" "$i1" "$i2" "$i3"
cp -a "$SRC" "$m/t1b" & cpid=$!
check "1: bitmap resync finishes (during a copy)" wait_optimal
check "1: copy completes" wait $cpid
check "1: incremental resync of leg 2" bash -c "'$B/hfsctl' status '$m' --json | grep -q '\"rebuild\": { \"state\": \"finished\", \"progress_pct\": 100, \"comp\": 2, [^}]*\"full\": false'"
check "1: diff -r t1" diff -r --no-dereference "$SRC" "$m/t1"
check "1: diff -r t1b" diff -r --no-dereference "$SRC" "$m/t1b"

# a leg of the other pair vanishes mid-copy and comes back at the remount
cp -a "$SRC" "$m/t1v" & cpid=$!
sleep 0.3
echo "comp=1 action=vanish" > "$rules"
check "1v: copy completes while leg 1 is gone" wait $cpid
check "1v: leg 1 failed" wait_state "$i1" failed
: > "$rules"
check "1v: unmount" hfs_umount "$m" "$i0"
check "1v: remount, leg 1 back" hfs_mount "$m" -o fault="$rules" "$i0" "$i1" "$i2" "$i3"
check "1v: bitmap resync finishes" wait_optimal
check "1v: incremental resync of leg 1" bash -c "'$B/hfsctl' status '$m' --json | grep -q '\"rebuild\": { \"state\": \"finished\", \"progress_pct\": 100, \"comp\": 1, [^}]*\"full\": false'"
check "1v: diff -r t1v" diff -r --no-dereference "$SRC" "$m/t1v"

# bytes flipped on leg 1 and leg 2 underneath the mount: scrub repairs them
python3 -c "import random,sys; random.seed(9); sys.stdout.buffer.write(random.randbytes(1<<20))" > "$T/pat"
check "2: write a 1 MiB file" cp "$T/pat" "$m/pat"
check "2: fsync it" sync "$m/pat"
out=$(python3 - "$T/pat" "$i0" "$i1" "$i2" "$i3" <<'PY'
import sys
p = open(sys.argv[1], 'rb').read()
imgs = sys.argv[2:]
data = [open(i, 'rb').read() for i in imgs]
flipped = 0
for blk in range(16):
    chunk = p[blk*65536:(blk+1)*65536]
    where = [k for k in range(4) if data[k].find(chunk) >= 0]
    # a 64 KiB block of a raid10 with a 64 KiB stripe unit: both legs of one pair
    assert len(where) == 2 and where[0] // 2 == where[1] // 2, (blk, where)
    if blk in (2, 7, 11):
        k = where[blk % 2]
        off = data[k].find(chunk)
        with open(imgs[k], 'r+b') as f:
            f.seek(off + 77); c = f.read(1); f.seek(off + 77); f.write(bytes([c[0] ^ 0x81]))
        flipped += 1
print(flipped)
PY
)
check "2: flipped bytes in 3 blocks" test "$out" = 3
cp -a "$SRC" "$m/t2" & cpid=$!
check "2: hfsctl scrub -w (during a copy)" "$B/hfsctl" scrub -w "$m"
check "2: copy completes" wait $cpid
s=$(st)
check "2: scrub found and repaired the 3 blocks" test "$(jnum errors <<< "$s")/$(jnum repaired <<< "$s")/$(jnum unrepairable <<< "$s")" = 3/3/0
check "2: file intact" cmp "$T/pat" "$m/pat"
check "2: diff -r t2" diff -r --no-dereference "$SRC" "$m/t2"

# replace leg 3 online
cp -a "$SRC" "$m/t3" & cpid=$!
check "3: hfsctl replace -w (during a copy)" "$B/hfsctl" replace -w "$m" "$i3" "$i4"
check "3: copy completes" wait $cpid
check "3: new leg optimal" test "$(devstate "$i4")" = optimal
check "3: set optimal" wait_optimal
for t in t1 t1b t1v t2 t3; do check "3: diff -r $t" diff -r --no-dereference "$SRC" "$m/$t"; done
check "3: unmount" hfs_umount "$m" "$i0"
check "3: fsck.hfs -n" "$B/fsck.hfs" -n "$i0" "$i1" "$i2" "$i4"
check "3: fsck.hfs -n without one leg of each pair" "$B/fsck.hfs" -n -o degraded "$i1" "$i4"
check "3: fsck.hfs -n without the other legs" "$B/fsck.hfs" -n -o degraded "$i0" "$i2"

# stripe with a failed leg: right data or EIO, never wrong data
check "stripe: mkfs" "$B/mkfs.hfs" -q -f -m stripe "$i0" "$i1"
check "stripe: mount" hfs_mount "$m" "$i0" "$i1"
check "stripe: copy" cp -a "$SRC" "$m/t"
check "stripe: unmount" hfs_umount "$m" "$i0"
echo "comp=1 op=read action=fail" > "$rules"
check "stripe: mount with leg 1 failing reads" hfs_mount "$m" -o fault="$rules" "$i0" "$i1"
out=$(python3 - "$SRC" "$m/t" <<'PY'
import os, sys, errno
src, dst = sys.argv[1:]
good = eio = wrong = other = 0
for root, dirs, files in os.walk(src):
    for f in files:
        p = os.path.join(root, f)
        if os.path.islink(p): continue
        q = os.path.join(dst, os.path.relpath(p, src))
        try:
            with open(q, 'rb') as fh: d = fh.read()
        except OSError as e:
            if e.errno == errno.EIO: eio += 1
            else: other += 1; print("error", q, e, file=sys.stderr)
            continue
        if d == open(p, 'rb').read(): good += 1
        else: wrong += 1; print("WRONG DATA", q, file=sys.stderr)
print(good, eio, wrong, other)
PY
)
echo "   stripe reads: right, EIO, wrong, other = $out"
read -r g e w o <<< "$out"
check "stripe: no wrong data, no other error" test "$w" = 0 -a "$o" = 0
check "stripe: reads that need leg 1 fail with EIO" test "$e" -gt 0
check "stripe: reads from leg 0 alone still work" test "$g" -gt 0
check "stripe: unmount" hfs_umount "$m" "$i0"
finish
