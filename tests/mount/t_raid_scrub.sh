#!/usr/bin/env bash
# hfsctl scrub on a 2-leg mirror of image files: bytes flipped on the images
# underneath the mount (data extents on both legs, a B-tree node) are found
# and repaired from the good copy while a copy runs in the background; a
# second scrub finds nothing; each leg alone is then clean (fsck), and the
# data is intact.  Then: a scrub interrupted by an unmount resumes at its
# persisted cursor after the remount.
. "$(dirname "$0")/../lib.sh"
SRC=${HFS_SRC_TREE:-/usr/include/linux}
a=$(mkimg s0.img 256M); b=$(mkimg s1.img 256M)
m=$T/m; rules=$T/rules
"$B/mkfs.hfs" -q -f "$a" "$b"
jnum() { sed -n "s/.*\"scrub\": {[^}]*\"$1\": \([0-9]*\).*/\1/p"; }
jdev() { grep "\"path\": \"$1\"" | sed -n "s/.*\"$2\": \([0-9]*\).*/\1/p"; }

: > "$rules"
check "mount" hfs_mount "$m" -o fault="$rules" "$a" "$b"
check "copy a tree" cp -a "$SRC" "$m/tree"
python3 -c "import random,sys; random.seed(5); sys.stdout.buffer.write(random.randbytes(1<<20))" > "$T/pat"
check "write a 1 MiB file" cp "$T/pat" "$m/pat"
check "sync" sync -f "$m/pat"
sleep 0.2
# flip one byte in 64 KiB blocks 0, 5, 10 of the file on leg 1, block 3 on
# leg 0, and in one live B-tree node on leg 1
out=$(python3 - "$a" "$b" "$T/pat" <<'PY'
import sys, re, struct, zlib
a, b, pat = sys.argv[1:]
p = open(pat, 'rb').read()
def flip(img, blk):
    d = open(img, 'rb').read()
    off = d.find(p[blk*65536:(blk+1)*65536])
    assert off >= 0 and d.find(p[blk*65536:(blk+1)*65536], off + 1) < 0, "chunk not unique"
    with open(img, 'r+b') as f:
        f.seek(off + 1000); c = f.read(1); f.seek(off + 1000); f.write(bytes([c[0] ^ 0x5a]))
for blk in (0, 5, 10): flip(b, blk)
flip(a, 3)
d = open(b, 'rb').read()
nodes = 0
for m in re.finditer(b'HSBN', d):
    o = m.start()
    if o % 16384: continue
    blk = bytearray(d[o:o+16384]); crc = struct.unpack_from('<I', blk, 4)[0]
    struct.pack_into('<I', blk, 4, 0)
    if (struct.unpack_from('<Q', blk, 8)[0] & ((1 << 60) - 1)) == o - 1048576 and zlib.crc32(bytes(blk)) == crc:
        with open(b, 'r+b') as f:
            f.seek(o + 8000); c = f.read(1); f.seek(o + 8000); f.write(bytes([c[0] ^ 0xff]))
        nodes += 1
        break
print(nodes)
PY
)
check "corrupted 4 data blocks and $out node" test "$out" = 1
cp -a "$SRC" "$m/tree2" & cpid=$!
check "hfsctl scrub -w (during a copy)" "$B/hfsctl" scrub -w "$m"
check "background copy finished" wait $cpid
st=$("$B/hfsctl" status "$m" --json)
errs=$(jnum errors <<< "$st"); rep=$(jnum repaired <<< "$st"); unr=$(jnum unrepairable <<< "$st")
echo "   scrub: errors=$errs repaired=$rep unrepairable=$unr"
check "scrub found the 4 bad data blocks (and the node unless rewritten meanwhile)" test "$errs" -ge 4 -a "$errs" -le 5
check "all repaired" test "$rep" = "$errs" -a "$unr" = 0
check "status: leg 1 counted CRC errors and repairs" test "$(jdev "$b" crc_errors <<< "$st")" -ge 3 -a "$(jdev "$b" repaired <<< "$st")" -ge 3
check "status: leg 0 counted 1 CRC error, 1 repair" test "$(jdev "$a" crc_errors <<< "$st")" = 1 -a "$(jdev "$a" repaired <<< "$st")" = 1
check "status: set optimal" grep -q '"set_state": "optimal"' <<< "$st"
check "second scrub" "$B/hfsctl" scrub -w "$m"
st=$("$B/hfsctl" status "$m" --json)
check "second scrub: no errors" test "$(jnum errors <<< "$st")" = 0 -a "$(jnum blocks <<< "$st")" -gt 1000
check "scrub -s shows the finished scrub" bash -c "'$B/hfsctl' scrub -s '$m' | grep -q 'scrub finished, 100%'"
check "data intact" cmp "$T/pat" "$m/pat"
check "diff -r tree" diff -r --no-dereference "$SRC" "$m/tree"
check "diff -r tree2" diff -r --no-dereference "$SRC" "$m/tree2"

# a bad copy found by a plain read is repaired too (self-healing read):
# flip block 7 of the file on leg 0, read it through a
# fresh mount (no page cache), then the scrub finds nothing left
python3 - "$a" "$T/pat" <<'PY'
import sys
img, pat = sys.argv[1:]
p = open(pat, 'rb').read()[7*65536:8*65536]
d = open(img, 'rb').read(); off = d.find(p)
assert off > 0
with open(img, 'r+b') as f:
    f.seek(off + 4242); c = f.read(1); f.seek(off + 4242); f.write(bytes([c[0] ^ 0x3c]))
PY
check "unmount (drop the page cache)" hfs_umount "$m" "$a"
check "remount" hfs_mount "$m" -o fault="$rules" "$a" "$b"
check "read: data right" cmp "$T/pat" "$m/pat"
st=$("$B/hfsctl" status "$m" --json)
check "the read repaired leg 0" test "$(jdev "$a" crc_errors <<< "$st")" -ge 1 -a "$(jdev "$a" repaired <<< "$st")" -ge 1
check "scrub after the read" "$B/hfsctl" scrub -w "$m"
check "nothing left to repair" test "$(jnum errors <<< "$("$B/hfsctl" status "$m" --json)")" = 0

# interrupted by an unmount: reads slowed by the fault device so it runs long
echo "comp=* op=read action=delay ms=10" > "$rules"
check "scrub started" bash -c "'$B/hfsctl' scrub '$m' | grep -q 'scrub started'"
sleep 1
check "a second scrub while one runs is refused" bash -c "! '$B/hfsctl' scrub '$m' 2>&1 | grep -q started"
st=$("$B/hfsctl" status "$m" --json)
check "status: scrub running" grep -q '"scrub": { "state": "running"' <<< "$st"
check "unmount mid-scrub" hfs_umount "$m" "$a"
: > "$rules"
check "remount" hfs_mount "$m" -o fault="$rules" "$a" "$b"
st=$("$B/hfsctl" status "$m" --json)
done1=$(jnum blocks <<< "$st")
check "status after remount: scrub paused with $done1 blocks done" grep -q '"scrub": { "state": "paused"' <<< "$st"
check "some but not all blocks were done" test "$done1" -gt 0 -a "$done1" -lt 1500
check "hfsctl scrub resumes it" bash -c "'$B/hfsctl' scrub -w '$m' | grep -q 'scrub resumed'"
st=$("$B/hfsctl" status "$m" --json)
check "resumed scrub finished, counted on from $done1" test "$(jnum blocks <<< "$st")" -gt "$done1" -a "$(jnum errors <<< "$st")" = 0
check "unmount" hfs_umount "$m" "$a"
check "fsck.hfs -n clean (both copies)" "$B/fsck.hfs" -n "$a" "$b"
check "fsck.hfs -n leg 0 alone" "$B/fsck.hfs" -n -o degraded "$a"
check "fsck.hfs -n leg 1 alone" "$B/fsck.hfs" -n -o degraded "$b"
finish
