#!/usr/bin/env bash
# CRC4K DATA records (docs/FORMAT.md §5, minor 7): a full 64 KiB block's
# record carries the crc32 of each 4 KiB piece.
# (a) Random 4 KiB reads after a remount cost the device about 4 KiB each,
#     not the 64 KiB block: the daemon's read_bytes (/proc/PID/io, bytes
#     the kernel fetched from the device for it) per read stays under
#     12 KiB (whole blocks would be 64 KiB), and every byte read is right;
#     hfsctl status counts them as direct reads and shows the cache.
# (b) One rotted 4 KiB piece on a single device: fsck -n names the piece
#     (exit 4); a mount reads that piece as EIO and its neighbours right.
# (c) Mirror: piece 5 rotted on leg 0 and piece 6 on leg 1 (no copy of the
#     block verifies as a whole): reads of the pieces and of the block
#     return the right bytes, both legs are rewritten, fsck is clean.
# (d) Mirror again, pieces 3 and 4 of block 6 bad on different legs: a
#     scrub (which checks whole extents) repairs both piece by piece.
. "$(dirname "$0")/../lib.sh"
m=$T/m

cat > "$T/tool.py" <<'PY'
import os, random, sys
cmd = sys.argv[1]
def pattern(n):
    return random.Random(1).randbytes(n)
if cmd == "write":            # write FILE BYTES (no fsync: the unmount writes it)
    with open(sys.argv[2], "wb") as f:
        f.write(pattern(int(sys.argv[3])))
elif cmd == "randread":       # randread FILE BYTES N: N random 4 KiB reads, each checked
    size, n = int(sys.argv[3]), int(sys.argv[4])
    want = pattern(size)
    fd = os.open(sys.argv[2], os.O_RDONLY)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)   # as fio does: no readahead
    bad = 0
    for p in random.Random(7).sample(range(size // 4096), n):   # distinct: none from the page cache
        off = p * 4096
        bad += os.pread(fd, 4096, off) != want[off:off + 4096]
    os.close(fd)
    sys.exit(1 if bad else 0)
elif cmd == "rot":            # rot IMAGE BYTES BLOCK PIECE: flip a byte of the file's piece
    size, blk, p = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    off = blk * 65536 + p * 4096
    needle = pattern(size)[off:off + 4096]
    with open(sys.argv[2], "r+b") as f:
        data = f.read()
        at = [i for i in range(0, len(data), 4096) if data[i:i + 4096] == needle]
        if len(at) != 1:
            sys.exit("piece found %d times" % len(at))
        f.seek(at[0] + 100)
        f.write(bytes([data[at[0] + 100] ^ 0x40]))
elif cmd == "check":          # check FILE BYTES OFF LEN: pread must give the pattern's bytes (or errno)
    size, off, ln = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    fd = os.open(sys.argv[2], os.O_RDONLY)
    # from the daemon, not from pages an earlier check left cached (an
    # open may keep them): the reads are what heals the legs
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
    try:
        got = os.pread(fd, ln, off)
        print("OK" if got == pattern(size)[off:off + ln] else "WRONG")
    except OSError as e:
        import errno
        print(errno.errorcode[e.errno])
    os.close(fd)
PY

jstat() { # jstat MNT KEY: a number of the status JSON
	"$B/hfsctl" status --json "$1" | sed -n "s/^ *\"$2\": \([0-9]*\),/\1/p"
}

daemon_read_bytes() { # daemon_read_bytes MNT: read_bytes of the daemon serving MNT
	local pid
	pid=$("$B/hfsctl" status --json "$1" | sed -n 's/^ *"pid": \([0-9]*\),/\1/p')
	[ -n "$pid" ] || return 1
	sed -n 's/^read_bytes: //p' "/proc/$pid/io"
}

SZ=$((8 << 20))
N=256

# (a)
img=$(mkimg a.img 256M)
dev=$(mkloop "$img")
check "a: mkfs" "$B/mkfs.hfs" -q "$dev"
check "a: mount" hfs_mount "$m" "$dev"
check "a: write 8 MiB" python3 "$T/tool.py" write "$m/f" $SZ
check "a: umount" hfs_umount "$m" "$dev"
check "a: remount" hfs_mount "$m" "$dev"
r0=$(daemon_read_bytes "$m")
d0=$(jstat "$m" direct_reads)
check "a: $N random 4 KiB reads are right" python3 "$T/tool.py" randread "$m/f" $SZ $N
r1=$(daemon_read_bytes "$m")
d1=$(jstat "$m" direct_reads)
check "a: status counts a direct read for each ($d0 -> $d1)" test "$((${d1:-0} - ${d0:-0}))" -ge $N
check "a: hfsctl status shows the cache" bash -c "'$B/hfsctl' status '$m' | grep -Eq '^  cache:  [0-9]+ MiB \([0-9]+ MiB dirty\), [1-9][0-9]* hits, [1-9][0-9]* misses, [0-9]+ partial \([0-9]+ filled\), direct [1-9][0-9]* reads'"
per=$(( (${r1:-0} - ${r0:-0}) / N ))
echo "a: daemon read_bytes per 4 KiB read: $per (from $r0 to $r1)"
check "a: read_bytes known" test -n "$r0" -a -n "$r1"
check "a: a 4 KiB read fetches < 12 KiB from the device ($per)" test "$per" -lt 12288 -a "$per" -ge 4096
check "a: umount 2" hfs_umount "$m" "$dev"
check "a: fsck clean" "$B/fsck.hfs" -n "$dev"

# (b)
check "b: rot piece 5 of block 3" python3 "$T/tool.py" rot "$dev" $SZ 3 5
out=$("$B/fsck.hfs" -n "$dev" 2>&1); rc=$?
check "b: fsck -n exits 4 ($rc)" test "$rc" -eq 4
check "b: fsck names the piece" grep -q "offset $((3 * 65536 + 5 * 4096)): data CRC mismatch in piece 5" <<<"$out"
check "b: mount" hfs_mount "$m" "$dev"
check "b: the bad piece is EIO" test "$(python3 "$T/tool.py" check "$m/f" $SZ $((3 * 65536 + 5 * 4096 + 10)) 100)" = EIO
check "b: piece 4 reads right" test "$(python3 "$T/tool.py" check "$m/f" $SZ $((3 * 65536 + 4 * 4096)) 4096)" = OK
check "b: piece 6 reads right" test "$(python3 "$T/tool.py" check "$m/f" $SZ $((3 * 65536 + 6 * 4096)) 4096)" = OK
check "b: umount" hfs_umount "$m" "$dev"

# (c)
l0=$(mkimg l0.img 256M)
l1=$(mkimg l1.img 256M)
check "c: mkfs mirror" "$B/mkfs.hfs" -q -m mirror "$l0" "$l1"
check "c: mount" hfs_mount "$m" "$l0" "$l1"
check "c: write" python3 "$T/tool.py" write "$m/f" $SZ
check "c: umount" hfs_umount "$m" "$l0"
check "c: rot piece 5 of block 2 on leg 0" python3 "$T/tool.py" rot "$l0" $SZ 2 5
check "c: rot piece 6 of block 2 on leg 1" python3 "$T/tool.py" rot "$l1" $SZ 2 6
out=$("$B/fsck.hfs" -n "$l0" "$l1" 2>&1)
check "c: fsck -n sees both bad pieces" test "$(grep -c "data CRC mismatch in piece" <<<"$out")" -eq 2
check "c: mount 2" hfs_mount "$m" "$l0" "$l1"
check "c: piece 5 reads right" test "$(python3 "$T/tool.py" check "$m/f" $SZ $((2 * 65536 + 5 * 4096)) 4096)" = OK
check "c: pieces 5-6 read right" test "$(python3 "$T/tool.py" check "$m/f" $SZ $((2 * 65536 + 5 * 4096 + 2048)) 4096)" = OK
check "c: the block reads right" test "$(python3 "$T/tool.py" check "$m/f" $SZ $((2 * 65536)) 65536)" = OK
check "c: umount 2" hfs_umount "$m" "$l0"
out=$("$B/fsck.hfs" -n "$l0" "$l1" 2>&1)
check "c: fsck clean after the reads healed both legs" grep -q "0 problems" <<<"$out"

# (d)
jnum() { sed -n "s/.*\"scrub\": {[^}]*\"$1\": \([0-9]*\).*/\1/p"; }
check "d: rot piece 3 of block 6 on leg 0" python3 "$T/tool.py" rot "$l0" $SZ 6 3
check "d: rot piece 4 of block 6 on leg 1" python3 "$T/tool.py" rot "$l1" $SZ 6 4
check "d: mount" hfs_mount "$m" "$l0" "$l1"
check "d: scrub" "$B/hfsctl" scrub -w "$m"
st=$("$B/hfsctl" status "$m" --json)
echo "   scrub: errors=$(jnum errors <<< "$st") repaired=$(jnum repaired <<< "$st") unrepairable=$(jnum unrepairable <<< "$st")"
check "d: scrub repaired the two pieces" test "$(jnum repaired <<< "$st")" = 2 -a "$(jnum unrepairable <<< "$st")" = 0 -a "$(jnum errors <<< "$st")" = 2
check "d: umount" hfs_umount "$m" "$l0"
out=$("$B/fsck.hfs" -n "$l0" "$l1" 2>&1)
check "d: fsck clean after the scrub" grep -q "0 problems" <<<"$out"
finish
