#!/usr/bin/env bash
# The page cache across opens (fs/fuse_data.c open_keeps_cache): a
# read-only open keeps the file's cached pages when a read would not move
# atime, so reading a file again costs no READ; the first read after a
# change (which relatime stamps) still reaches the daemon; data written
# around the cache (chattr +S files are opened direct_io) is never read
# back stale from it (the 6.18 kernel drops a direct_io write's pages
# itself too: this checks what a user sees, with either doing it); -o
# strictatime never keeps.  READ requests are counted by the daemon
# (hfsctl status: read_requests).
. "$(dirname "$0")/../lib.sh"
img=$(mkimg kc.img 256M)
m=$T/m
"$B/mkfs.hfs" -q "$img"
reads() { "$B/hfsctl" status "$m" --json | sed -n 's/.*"read_requests": \([0-9]*\).*/\1/p'; }
same() { cmp -s "$1" "$2"; }
head -c 65536 /dev/urandom > "$T/a"
head -c 65536 /dev/urandom > "$T/b"
head -c 65536 /dev/urandom > "$T/c"

check "mount (relatime)" hfs_mount "$m" "$img"
cp "$T/a" "$m/f"; sync
r0=$(reads)
check "first read after the write: the data" same "$m/f" "$T/a"
r1=$(reads)
check "first read after the write reached the daemon ($r0 -> $r1)" test "$r1" -gt "$r0"
at=$(stat -c %X.%x "$m/f")
check "... and moved atime past mtime" python3 -c "
import os, sys
st = os.stat('$m/f')
sys.exit(st.st_atime_ns <= st.st_mtime_ns)"
check "second read: the data" same "$m/f" "$T/a"
check "third read: the data" same "$m/f" "$T/a"
r2=$(reads)
check "reads two and three came from the page cache ($r1 -> $r2)" test "$r2" = "$r1"
check "... and left atime alone" test "$(stat -c %X.%x "$m/f")" = "$at"

# a change through the cache: the next read is stamped, so it is not kept
sleep 0.05
dd if="$T/b" of="$m/f" conv=notrunc status=none
check "after a cached rewrite: the new data" same "$m/f" "$T/b"
r3=$(reads)
check "the first read after the rewrite reached the daemon ($r2 -> $r3)" test "$r3" -gt "$r2"
check "a read with a writer open is not kept (its pages may be dirty)" python3 -c "
import os, sys
w = os.open('$m/f', os.O_WRONLY)
os.pwrite(w, b'Z' * 4096, 0)
with open('$m/f', 'rb') as f:
    d = f.read(4096)
os.close(w)
sys.exit(d != b'Z' * 4096)"
dd if="$T/b" of="$m/f" conv=notrunc status=none; cat "$m/f" >/dev/null
check "unmount" hfs_umount "$m" "$img"

# noatime: every read-only open keeps; data written around the cache must
# still be what the next open reads
check "mount -o noatime" hfs_mount "$m" "$img" -o noatime
check "noatime: the data" same "$m/f" "$T/b"
r4=$(reads)
check "noatime: a second read is cached" same "$m/f" "$T/b"
check "noatime: ... and cost no READ" test "$(reads)" = "$r4"
chattr +S "$m/f"
dd if="$T/c" of="$m/f" conv=notrunc status=none
check "a direct_io (+S) write is read back, not the cached pages before it" same "$m/f" "$T/c"
chattr -S "$m/f"
r5=$(reads)
check "... and that data is cached from then on" same "$m/f" "$T/c"
check "... costing no READ" test "$(reads)" = "$r5"
check "O_DIRECT write through a cached file is read back too" python3 -c "
import mmap, os, sys
buf = mmap.mmap(-1, 65536)
buf.write(open('$T/a', 'rb').read())
fd = os.open('$m/f', os.O_WRONLY | os.O_DIRECT)
os.pwritev(fd, [buf], 0)
os.close(fd)
sys.exit(open('$m/f', 'rb').read() != open('$T/a', 'rb').read())"
check "unmount" hfs_umount "$m" "$img"

check "mount -o strictatime" hfs_mount "$m" "$img" -o strictatime
cat "$m/f" >/dev/null
r6=$(reads)
cat "$m/f" >/dev/null
check "strictatime: every read reaches the daemon ($r6 -> $(reads))" test "$(reads)" -gt "$r6"
check "unmount" hfs_umount "$m" "$img"
check "fsck clean" "$B/fsck.hfs" -n "$img"
finish
