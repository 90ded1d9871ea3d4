#!/usr/bin/env bash
# FITRIM (fstrim): the free space of the last commit goes back to the image
# files (st_blocks shrink), freed-but-uncommitted space is left alone (the
# committed state still references it), the data of the remaining files is
# intact before and after a remount and fsck.hfs -n is clean; the range,
# minlen and privilege errors are ext4's (exact errno); a read-only mount
# is EROFS; a mirror trims both legs; a loop device gets BLKDISCARD (its
# backing file shrinks); a device that cannot discard is EOPNOTSUPP and
# one that fails it EIO, and the filesystem goes on working.
. "$(dirname "$0")/../lib.sh"
m=$T/m
chmod 755 "$T"   # the unprivileged caller must reach the mount point
MiB=$((1 << 20))

blocks() { echo $(($(stat -c %b "$1") * 512)); }   # bytes allocated to an image
commit() { python3 -c "import os,sys; fd=os.open(sys.argv[1], os.O_RDONLY); os.fsync(fd)" "$1"; }
# trim START LEN MINLEN [UID]: FITRIM on the mount point; prints "OK <bytes>" or the errno name
trim() { python3 -c "
import errno, fcntl, os, struct, sys
os.setuid(int(sys.argv[5]))
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY)
buf = bytearray(struct.pack('QQQ', int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])))
try:
    fcntl.ioctl(fd, 0xc0185879, buf)
    print('OK', struct.unpack('QQQ', bytes(buf))[1])
except OSError as e:
    print('EOPNOTSUPP' if e.errno == errno.EOPNOTSUPP else errno.errorcode[e.errno])" \
	"$m" "$1" "$2" "$3" "${4:-0}"; }
ALL=18446744073709551615
bytes_of() { echo "${1#OK }"; }

# 1. one image: fill, delete, trim before and after the commit
a=$(mkimg a.img 256M)
"$B/mkfs.hfs" -q "$a"
check "1: mount" hfs_mount "$m" "$a" -o flush_interval=3600
for i in 1 2 3 4 5 6; do head -c $((20 * MiB)) /dev/urandom > "$m/f$i"; done
commit "$m/f1"
sums=$(cd "$m" && md5sum f1 f2)
r0=$(trim 0 $ALL 0)
check "1: fstrim of the filled filesystem ($r0)" test "${r0%% *}" = OK
b0=$(blocks "$a")
rm "$m"/f3 "$m"/f4 "$m"/f5 "$m"/f6
r1=$(trim 0 $ALL 0)
b1=$(blocks "$a")
check "1: freed but not committed: not trimmed ($r0 then $r1)" \
	test "${r1%% *}" = OK -a "$(bytes_of "$r1")" -lt $(($(bytes_of "$r0") + 8 * MiB))
check "1: ...and the image still holds the deleted data ($b0 -> $b1)" test "$b1" -ge $((b0 - 2 * MiB))
commit "$m/f1"
r2=$(trim 0 $ALL 0)
b2=$(blocks "$a")
check "1: after the commit the 80 MiB freed are trimmed ($r1 then $r2)" \
	test "${r2%% *}" = OK -a "$(bytes_of "$r2")" -ge $(($(bytes_of "$r1") + 79 * MiB))
check "1: the image gave them back ($b1 -> $b2)" test "$b2" -le $((b1 - 78 * MiB))
check "1: fstrim(8) reports it" bash -c "fstrim -v '$m' | grep -q 'trimmed'"
check "1: remaining files intact" test "$(cd "$m" && md5sum f1 f2)" = "$sums"

# 2. ranges and errors (ext4's checks)
size=$(( $(stat -f -c '%b * %S' "$m") ))
check "2: start at the end: EINVAL" test "$(trim $size $ALL 0)" = EINVAL
check "2: start beyond the end: EINVAL" test "$(trim $((size * 4)) 4096 0)" = EINVAL
check "2: len under a block: EINVAL" test "$(trim 0 4095 0)" = EINVAL
check "2: minlen over a big-block (8 MiB): EINVAL" test "$(trim 0 $ALL $((8 * MiB + 4096)))" = EINVAL
r=$(trim 0 $ALL $((8 * MiB)))
check "2: minlen of a big-block is accepted ($r)" test "${r%% *}" = OK -a "$(bytes_of "$r")" -le "$(bytes_of "$r2")"
r=$(trim $((64 * MiB)) $((16 * MiB)) 0)
check "2: a range trims at most its length ($r)" test "${r%% *}" = OK -a "$(bytes_of "$r")" -le $((16 * MiB))
half=$((size / 2 + 12 * 4096))   # not on a big-block boundary
ra=$(trim 0 $half 0); rb=$(trim $half $ALL 0); rall=$(trim 0 $ALL 0)
check "2: two halves trim what the whole does ($ra + $rb = $rall)" \
	test "$(($(bytes_of "$ra") + $(bytes_of "$rb")))" = "$(bytes_of "$rall")" -a "$(bytes_of "$ra")" -gt 0 \
	-a "$(bytes_of "$rb")" -gt 0
r=$(trim $((size - 4096)) $ALL 0)
check "2: the last block alone ($r)" test "${r%% *}" = OK -a "$(bytes_of "$r")" -le 4096
check "2: a user may not trim: EPERM" test "$(trim 0 $ALL 0 65534)" = EPERM
out=$("$B/hfsctl" trim "$m"); r=$(trim 0 $ALL 0)
check "2: hfsctl trim trims what FITRIM does ($out; $r)" test "$out" = "$m: $(bytes_of "$r") bytes trimmed"
out=$("$B/hfsctl" trim -m $((8 * MiB + 4096)) "$m" 2>&1); rc=$?
check "2: hfsctl trim -m over a big-block fails ($rc: $out)" test "$rc" = 1 -a \
	"$out" = "hfsctl: $m: minlen is over a big-block (8 MiB)"
check "2: unmount" hfs_umount "$m" "$a"
check "2: fsck.hfs -n clean after the trims" "$B/fsck.hfs" -n "$a"
check "2: mount -o ro" hfs_mount "$m" "$a" -o ro
check "2: read-only: EROFS" test "$(trim 0 $ALL 0)" = EROFS
out=$("$B/hfsctl" trim "$m" 2>&1); rc=$?
check "2: hfsctl trim of a read-only mount fails ($rc: $out)" test "$rc" = 1 -a \
	"$out" = "hfsctl: $m: the filesystem is read-only"
check "2: files intact after the remount" test "$(cd "$m" && md5sum f1 f2)" = "$sums"
check "2: unmount (ro)" hfs_umount "$m" "$a"

# 3. a mirror: both legs trimmed, each leg alone fsck-clean
l0=$(mkimg l0.img 256M); l1=$(mkimg l1.img 256M)
"$B/mkfs.hfs" -q -m mirror "$l0" "$l1"
check "3: mount the mirror" hfs_mount "$m" "$l0" "$l1" -o flush_interval=3600
for i in 1 2 3; do head -c $((20 * MiB)) /dev/urandom > "$m/g$i"; done
commit "$m/g1"
msum=$(md5sum < "$m/g1")
rm "$m/g2" "$m/g3"
commit "$m/g1"
p0=$(blocks "$l0"); p1=$(blocks "$l1")
r=$(trim 0 $ALL 0)
check "3: fstrim ($r)" test "${r%% *}" = OK
check "3: leg 0 gave back the 40 MiB ($p0 -> $(blocks "$l0"))" test "$(blocks "$l0")" -le $((p0 - 39 * MiB))
check "3: leg 1 gave back the 40 MiB ($p1 -> $(blocks "$l1"))" test "$(blocks "$l1")" -le $((p1 - 39 * MiB))
check "3: the set stays optimal" bash -c "'$B/hfsctl' status '$m' --json | grep -q '\"set_state\": \"optimal\"'"
check "3: unmount" hfs_umount "$m" "$l0"
check "3: fsck.hfs -n of the set" "$B/fsck.hfs" -n "$l0" "$l1"
check "3: fsck.hfs -n of leg 0 alone" "$B/fsck.hfs" -n -o degraded "$l0"
check "3: fsck.hfs -n of leg 1 alone" "$B/fsck.hfs" -n -o degraded "$l1"
check "3: mount leg 1 alone" hfs_mount "$m" "$l1" -o ro,degraded
check "3: the kept file intact on leg 1" test "$(md5sum < "$m/g1")" = "$msum"
check "3: unmount" hfs_umount "$m" "$l1"

# 4. a loop device: BLKDISCARD, which the loop driver turns into holes
li=$(mkimg loop.img 256M)
dev=$(mkloop "$li")
"$B/mkfs.hfs" -q "$dev"
check "4: mount the loop device" hfs_mount "$m" "$dev" -o flush_interval=3600
head -c $((40 * MiB)) /dev/urandom > "$m/h1"
head -c $((4 * MiB)) /dev/urandom > "$m/h2"
commit "$m/h1"
rm "$m/h1"
commit "$m/h2"
q0=$(blocks "$li")
r=$(trim 0 $ALL 0)
check "4: fstrim of the loop device ($r)" test "${r%% *}" = OK
check "4: its backing file gave back the 40 MiB ($q0 -> $(blocks "$li"))" test "$(blocks "$li")" -le $((q0 - 39 * MiB))
check "4: unmount" hfs_umount "$m" "$dev"
check "4: fsck.hfs -n" "$B/fsck.hfs" -n "$dev"

# 5. devices that cannot or will not discard (fault device)
rules=$T/rules
echo "comp=* op=discard action=fail err=EOPNOTSUPP" > "$rules"
check "5: mount with discards refused" hfs_mount "$m" "$a" -o fault="$rules"
check "5: a device without discard: EOPNOTSUPP" test "$(trim 0 $ALL 0)" = EOPNOTSUPP
check "5: fstrim(8) says not supported" bash -c "fstrim '$m' 2>&1 | grep -q 'not supported'"
echo "comp=0 op=discard action=fail err=EIO" > "$rules"
sleep 0.2   # the rules are re-read at most every 50 ms
check "5: a device failing the discard: EIO" test "$(trim 0 $ALL 0)" = EIO
: > "$rules"
sleep 0.2
check "5: still writable afterwards" bash -c "head -c 1000000 /dev/urandom > '$m/after' && cmp -s '$m/after' '$m/after'"
check "5: files intact" test "$(cd "$m" && md5sum f1 f2)" = "$sums"
check "5: unmount" hfs_umount "$m" "$a"
check "5: fsck.hfs -n" "$B/fsck.hfs" -n "$a"
finish
