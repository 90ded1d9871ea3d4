#!/usr/bin/env bash
# Reads run without fs->lock around their I/O; their atime update once
# stored the inode copy loaded before the read, reverting the size and
# block count that concurrent writes had stored meanwhile (fsck: "i_blocks
# ..., data records hold ...").  Readers and extending writers on one file,
# then fsck must be clean and the size exact.
. "$(dirname "$0")/../lib.sh"
img=$(mkimg r.img 512M)
m=$T/m
check "mkfs" "$B/mkfs.hfs" -q "$img"
check "mount" hfs_mount "$m" "$img" -o strictatime
check "readers and writers" python3 - "$m/f" <<'PY'
import os, sys, threading
path = sys.argv[1]
fd = os.open(path, os.O_CREAT | os.O_RDWR | os.O_DIRECT, 0o644)
buf = os.urandom(65536)
stop = False
def reader():
    r = os.open(path, os.O_RDONLY | os.O_DIRECT)
    while not stop:
        os.preadv(r, [bytearray(1 << 20)], 0)
    os.close(r)
ts = [threading.Thread(target=reader) for _ in range(3)]
for t in ts: t.start()
import mmap
m = mmap.mmap(-1, 65536); m.write(buf)
for i in range(2000):
    os.pwritev(fd, [m], i * 65536)
stop = True
for t in ts: t.join()
os.close(fd)
PY
check "size exact" test "$(stat -c %s "$m/f")" = $((2000 * 65536))
check "blocks exact" test "$(stat -c %b "$m/f")" = $((2000 * 128))
check "umount" hfs_umount "$m" "$img"
check "fsck clean" "$B/fsck.hfs" -n "$img"
finish
