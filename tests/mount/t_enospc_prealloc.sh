#!/usr/bin/env bash
# Writes into space fallocate reserved must succeed after the filesystem
# filled (xfstests generic/274): fallocate stores unwritten records and the
# first write of such a block fills its extent in place, so it needs no new
# space.  Before, fallocate wrote zero blocks and every later write copied
# on write: ENOSPC ("failed to write to test file").
. "$(dirname "$0")/../lib.sh"
img=$(mkimg p.img 1G)
m=$T/m
check "mkfs -S 256M" "$B/mkfs.hfs" -q -S 256M "$img"
check "mount" hfs_mount "$m" "$img"
head -c 65536 /dev/urandom > "$T/head"
cp "$T/head" "$m/test"
# 8 MiB past EOF, kept size (falloc -k 64k 8m)
check "fallocate -n 8 MiB past EOF" fallocate -n -o 65536 -l $((8 << 20)) "$m/test"
blocks=$(stat -c %b "$m/test")
check "blocks: 64 KiB + 8 MiB ($blocks)" test "$blocks" = $(((65536 + (8 << 20)) / 512))
dd if=/dev/zero of="$m/fill1" bs=1M status=none 2>/dev/null
dd if=/dev/zero of="$m/fill2" bs=4k status=none 2>/dev/null
check "the filesystem is full (available $(stat -f -c %a "$m") blocks)" test "$(stat -f -c %a "$m")" = 0
# odd blocks, then even ones, as generic/274 does; a part of the last one
fails=0
for i in $(seq 1 2 127) $(seq 2 2 127); do
	head -c 65536 /dev/urandom > "$T/b"
	dd if="$T/b" of="$m/test" bs=64k seek="$i" count=1 conv=notrunc status=none 2>/dev/null || fails=$((fails + 1))
	dd if="$T/b" of="$T/ref.$i" bs=64k count=1 status=none
done
check "127 writes into preallocated blocks on a full filesystem ($fails failed)" test "$fails" = 0
python3 - "$m/test" 4096 <<'PY' || fail "a part write into a preallocated block"
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY)
os.pwrite(fd, b'\x5a' * 4096, 128 * 65536 + int(sys.argv[2]))
os.close(fd)
PY
check "size: 128 blocks and a part" test "$(stat -c %s "$m/test")" = $((128 * 65536 + 8192))
check "blocks unchanged ($(stat -c %b "$m/test"))" test "$(stat -c %b "$m/test")" = "$blocks"
check "umount" hfs_umount "$m" "$img"
check "fsck clean" "$B/fsck.hfs" -n "$img"
check "remount" hfs_mount "$m" "$img"
ok=1
cmp -n 65536 "$m/test" "$T/head" || ok=0
for i in $(seq 1 127); do
	cmp -s <(dd if="$m/test" bs=64k skip="$i" count=1 status=none) "$T/ref.$i" || { ok=0; echo "block $i differs"; }
done
check "every block reads back after the remount" test "$ok" = 1
check "the part block: zeros, then the 4 KiB, then zeros to EOF" python3 - "$m/test" <<'PY'
import sys
d = open(sys.argv[1], 'rb').read()[128 * 65536:]
sys.exit(0 if d == b'\0' * 4096 + b'\x5a' * 4096 else 1)
PY
check "umount" hfs_umount "$m" "$img"
finish
