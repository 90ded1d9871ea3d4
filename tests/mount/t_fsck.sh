#!/usr/bin/env bash
# fsck.hfs: clean after real use; each corruption found (exit 4), the
# repairable ones repaired (-y exit 1, then -n clean); garbage never
# crashes it.
. "$(dirname "$0")/../lib.sh"
img=$(mkimg f.img 300M)
m=$T/m
expect_rc() { # expect_rc WANT DESCRIPTION CMD...
	local want=$1 what=$2; shift 2
	out=$(timeout 120 "$@" 2>&1); rc=$?
	if [ "$rc" = "$want" ]; then ok "$what (rc $rc)"; else fail "$what: rc $rc, want $want: $out"; fi
}
"$B/mkfs.hfs" -q "$img"
expect_rc 0 "fresh filesystem is clean" "$B/fsck.hfs" -n "$img"
check "mount" hfs_mount "$m" "$img"
cp -a /usr/include/linux "$m/"
ln "$m/linux/fs.h" "$m/hardlink"
mkdir -p "$m/x/y"; echo z > "$m/x/y/z"; ln -s ../x "$m/x/y/up"
check "unmount" hfs_umount "$m" "$img"
expect_rc 0 "clean after use" "$B/fsck.hfs" -n "$img"
cp "$img" "$T/good.img"

# the header free count is off: repairable
python3 - "$img" <<'PY'
import struct, sys, zlib
f = open(sys.argv[1], "r+b")
for slot in (0, 1):
    off = 1048576 + slot * 16384
    f.seek(off); h = bytearray(f.read(4096))
    struct.pack_into("<Q", h, 192, struct.unpack_from("<Q", h, 192)[0] + 5)
    struct.pack_into("<I", h, 12, 0)
    struct.pack_into("<I", h, 12, zlib.crc32(bytes(h)))
    f.seek(off); f.write(h)
PY
expect_rc 4 "wrong free count found" "$B/fsck.hfs" -n "$img"
expect_rc 1 "wrong free count repaired" "$B/fsck.hfs" -y "$img"
expect_rc 0 "clean after repair" "$B/fsck.hfs" -n "$img"

# a flipped byte inside a B-tree node (the root lives right after the free map)
cp "$T/good.img" "$img"
root=$(python3 -c "
import struct
f=open('$img','rb'); f.seek(1048576); h=f.read(4096)
print(struct.unpack_from('<Q',h,168)[0] & ((1<<60)-1))")
printf '\xff' | dd of="$img" bs=1 seek=$((1048576 + root + 200)) conv=notrunc status=none
expect_rc 4 "corrupt B-tree node found" "$B/fsck.hfs" -n "$img"

# a corrupted data block
cp "$T/good.img" "$img"
check "mount" hfs_mount "$m" "$img"
head -c 65536 /dev/urandom > "$T/blob"
cp "$T/blob" "$m/blob"
check "unmount" hfs_umount "$m" "$img"
check "blob found and damaged on disk" python3 - "$img" "$T/blob" <<'PY'
import sys
img = open(sys.argv[1], "r+b"); blob = open(sys.argv[2], "rb").read()
data = img.read(); pos = data.find(blob[:4096])
if pos < 0: sys.exit(1)
img.seek(pos + 100); img.write(bytes([data[pos + 100] ^ 0xff]))
PY
expect_rc 4 "corrupt data block found" "$B/fsck.hfs" -n "$img"

# random garbage over the metadata never crashes fsck
for i in 1 2 3 4 5; do
	cp "$T/good.img" "$img"
	python3 - "$img" "$i" <<'PY'
import random, sys
r = random.Random(int(sys.argv[2]))
f = open(sys.argv[1], "r+b")
for _ in range(200):
    off = 1048576 + r.randrange(0, 64 << 20)
    f.seek(off); f.write(bytes(r.randrange(256) for _ in range(r.randrange(1, 64))))
PY
	timeout 120 "$B/fsck.hfs" -n "$img" >/dev/null 2>&1; rc=$?
	if [ $rc -eq 0 ] || [ $rc -eq 4 ] || [ $rc -eq 8 ]; then ok "garbage round $i: rc $rc"; else fail "garbage round $i: rc $rc (crash?)"; fi
done
finish
