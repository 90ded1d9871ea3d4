#!/usr/bin/env bash
# POSIX behaviour through a real mount: links, symlinks, xattrs, renames,
# truncate, sparse files, special files, big directories, a file larger
# than the cache, and everything again after a remount.
. "$(dirname "$0")/../lib.sh"
img=$(mkimg p.img 1G)
m=$T/m
check "mkfs" "$B/mkfs.hfs" -q "$img"
check "mount (cache_size=16M)" hfs_mount "$m" "$img" -o cache_size=16M

# hard links
echo data > "$m/a"
check "link" ln "$m/a" "$m/b"
check "nlink 2" test "$(stat -c %h "$m/a")" = 2
check "same inode" test "$(stat -c %i "$m/a")" = "$(stat -c %i "$m/b")"
rm "$m/a"
check "nlink 1 after unlink" test "$(stat -c %h "$m/b")" = 1
check "content via other link" test "$(cat "$m/b")" = data

# symlinks
check "symlink" ln -s /some/where/else "$m/s"
check "readlink" test "$(readlink "$m/s")" = /some/where/else
check "lstat is a link" test -L "$m/s"

# xattrs
check "setfattr" setfattr -n user.k -v hello "$m/b"
check "getfattr" test "$(getfattr --absolute-names --only-values -n user.k "$m/b")" = hello
check "listxattr" bash -c "getfattr --absolute-names -d '$m/b' | grep -q user.k"
check "removexattr" setfattr -x user.k "$m/b"
check "ENODATA after remove" bash -c "! getfattr -n user.k '$m/b' 2>/dev/null"
# values up to the VFS's 64 KiB (chunked past 4 KiB), rewritten larger,
# smaller and inline, E2BIG past it; the file's removal takes them along
check "64 KiB xattr values" python3 -c "
import os, errno
f = '$m/bigx'; open(f, 'w').close()
for n in (65536, 5000, 4096, 4097, 8, 65536, 12289):
    v = os.urandom(n); os.setxattr(f, 'user.big', v)
    assert os.getxattr(f, 'user.big') == v, n
os.setxattr(f, 'user.two', b'y' * 30000)
assert sorted(os.listxattr(f)) == ['user.big', 'user.two']
try:
    os.setxattr(f, 'user.big', b'z' * 65537); assert False
except OSError as e:
    assert e.errno == errno.E2BIG, e
assert len(os.getxattr(f, 'user.big')) == 12289
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
buf = ctypes.create_string_buffer(29999)
assert libc.getxattr(f.encode(), b'user.two', buf, 29999) == -1 and ctypes.get_errno() == errno.ERANGE
assert libc.getxattr(f.encode(), b'user.two', None, 0) == 30000
os.removexattr(f, 'user.two')
assert os.listxattr(f) == ['user.big']
"

# renames
echo one > "$m/r1"; echo two > "$m/r2"
check "rename over a file" mv -f "$m/r1" "$m/r2"
check "target has source content" test "$(cat "$m/r2")" = one
check "source gone" test ! -e "$m/r1"
mkdir -p "$m/d1/sub" "$m/d2"
check "rename dir across dirs" mv "$m/d1/sub" "$m/d2/sub"
check "parent nlink dropped" test "$(stat -c %h "$m/d1")" = 2
check "new parent nlink" test "$(stat -c %h "$m/d2")" = 3
check "rename into own subtree fails" bash -c "! mv '$m/d2' '$m/d2/sub/x' 2>/dev/null"
mkdir -p "$m/xa/sub" "$m/xb"; touch "$m/xb/f"
check "RENAME_EXCHANGE of a directory and a file across parents" python3 -c "
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
sys.exit(libc.renameat2(-100, b'$m/xa/sub', -100, b'$m/xb/f', 2) != 0)"
check "exchanged types" bash -c "test -f '$m/xa/sub' && test -d '$m/xb/f'"
check "parents' link counts follow the directory" test "$(stat -c %h "$m/xa"):$(stat -c %h "$m/xb")" = 2:3
check "RENAME_NOREPLACE onto an existing name fails" python3 -c "
import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
sys.exit(libc.renameat2(-100, b'$m/xa/sub', -100, b'$m/b', 1) == 0 or ctypes.get_errno() != 17)"
mkdir "$m/full"; touch "$m/full/f"
check "rmdir non-empty fails" bash -c "! rmdir '$m/full' 2>/dev/null"
check "rename onto non-empty dir fails" bash -c "! mv -T '$m/d1' '$m/full' 2>/dev/null"

# timestamps: explicit, UTIME_NOW, UTIME_OMIT, nanoseconds
echo t > "$m/ts"
check "set mtime" touch -m -d @1000000000.123456789 "$m/ts"
check "mtime with nanoseconds" test "$(stat -c %.9Y "$m/ts")" = 1000000000.123456789
check "atime only (mtime omitted)" touch -a -d @1200000000 "$m/ts"
check "mtime unchanged by UTIME_OMIT" test "$(stat -c %Y "$m/ts")" = 1000000000
check "atime set" test "$(stat -c %X "$m/ts")" = 1200000000
check "UTIME_NOW" touch -m "$m/ts"
check "mtime now" test $(( $(date +%s) - $(stat -c %Y "$m/ts") )) -le 5
c0=$(stat -c %Z "$m/ts"); sleep 1.1; chmod 600 "$m/ts"
check "ctime moves on chmod" test "$(stat -c %Z "$m/ts")" -gt "$c0"

# truncate and sparse files
head -c 300000 /dev/urandom > "$T/ref"
cp "$T/ref" "$m/t"
check "truncate down" truncate -s 70000 "$m/t"
truncate -s 70000 "$T/ref"
check "content after truncate down" cmp "$m/t" "$T/ref"
check "truncate up" truncate -s 500000 "$m/t"
truncate -s 500000 "$T/ref"
check "zeros after truncate up" cmp "$m/t" "$T/ref"
check "sparse write at 5 GiB" dd if=/dev/urandom of="$m/sparse" bs=4096 count=1 seek=$((5*1024*1024/4)) status=none
check "sparse size" test "$(stat -c %s "$m/sparse")" = $((5*1024*1024*1024 + 4096))
check "sparse uses little space" test "$(stat -c %b "$m/sparse")" -lt 1000
check "hole reads as zeros" test "$(dd if="$m/sparse" bs=4096 count=1 skip=1000 status=none | tr -d '\0' | wc -c)" = 0

# fallocate, punch hole, SEEK_DATA / SEEK_HOLE
check "fallocate 1 MiB" fallocate -l 1048576 "$m/fa"
check "fallocated size" test "$(stat -c %s "$m/fa")" = 1048576
check "fallocated blocks" test "$(stat -c %b "$m/fa")" -ge 2048
head -c 1048576 /dev/urandom > "$T/fa"; cp "$T/fa" "$m/fa"
check "punch 128 KiB hole" fallocate -p -o 131072 -l 131072 "$m/fa"
dd if=/dev/zero of="$T/fa" bs=131072 seek=1 count=1 conv=notrunc status=none
check "punched content" cmp "$m/fa" "$T/fa"
check "SEEK_HOLE / SEEK_DATA" python3 -c "
import os
fd = os.open('$m/fa', os.O_RDONLY)
assert os.lseek(fd, 0, os.SEEK_HOLE) == 131072, os.lseek(fd, 0, os.SEEK_HOLE)
assert os.lseek(fd, 131072, os.SEEK_DATA) == 262144
fd2 = os.open('$m/sparse', os.O_RDONLY)
assert os.lseek(fd2, 0, os.SEEK_DATA) == 5 * 1024**3 - (5 * 1024**3) % 65536
"
# data still only in the kernel's page cache (no fsync) is data to SEEK_DATA;
# the zeros a write into a fresh 64 KiB block stores in front of it, and the
# unstored tail of a block, are holes at 4 KiB granularity
check "SEEK_DATA / SEEK_HOLE see unflushed writes" python3 -c "
import os, errno
fd = os.open('$m/sk', os.O_CREAT | os.O_RDWR, 0o644)
os.pwrite(fd, b'ABCDEFGH', 8192)
assert os.lseek(fd, 0, os.SEEK_DATA) == 8192, os.lseek(fd, 0, os.SEEK_DATA)
assert os.lseek(fd, 8191, os.SEEK_DATA) == 8192
assert os.lseek(fd, 8193, os.SEEK_DATA) == 8193
assert os.lseek(fd, 0, os.SEEK_HOLE) == 8200
os.ftruncate(fd, 0); os.ftruncate(fd, 16384); os.pwrite(fd, b'a' * 4096, 0)
try:
    os.lseek(fd, 4096, os.SEEK_DATA); assert False, 'data past the stored 4 KiB'
except OSError as e:
    assert e.errno == errno.ENXIO, e
assert os.lseek(fd, 0, os.SEEK_HOLE) == 4096
os.pwrite(fd, b'b', 200000)
assert os.lseek(fd, 4096, os.SEEK_DATA) == 196608, os.lseek(fd, 4096, os.SEEK_DATA)
"

# an unlinked open file keeps its data until the last close
head -c 300000 /dev/urandom > "$T/orph"; cp "$T/orph" "$m/orph"
exec 7<"$m/orph"
rm "$m/orph"
check "unlinked file gone from the directory" test ! -e "$m/orph"
check "open descriptor still reads the data" cmp - "$T/orph" <&7
exec 7<&-

# special files
check "mkfifo" mkfifo "$m/fifo"
check "is a fifo" test -p "$m/fifo"
check "mknod char" mknod "$m/null" c 1 3
check "char device numbers" test "$(stat -c %t:%T "$m/null")" = 1:3

# readdir(plus) attributes agree with stat
check "listing matches stat" bash -c "cd '$m' && for f in *; do l=\$(ls -ldn -- \"\$f\" | awk '{print \$1, \$2, \$5}'); s=\$(stat -c '%A %h %s' -- \"\$f\"); [ \"\$l\" = \"\$s\" ] || [ -c \"\$f\" ] || { echo \"\$f: \$l vs \$s\"; exit 1; }; done"

# 20,000 entries in one directory
mkdir "$m/big"
(cd "$m/big" && seq 1 20000 | xargs touch)
check "20000 entries listed" test "$(ls "$m/big" | wc -l)" = 20000

# a file larger than the cache (16M): 200 MiB of a known pattern
head -c $((200*1024*1024)) /dev/urandom > "$T/bigref"
check "write 200 MiB" cp "$T/bigref" "$m/bigfile"
check "statfs changes" test "$(df --output=used "$m" | tail -1)" -gt 200000

check "unmount" hfs_umount "$m" "$img"
check "remount" hfs_mount "$m" "$img"
check "big file intact" cmp "$T/bigref" "$m/bigfile"
check "20000 entries after remount" test "$(ls "$m/big" | wc -l)" = 20000
check "delete 20000 entries" bash -c "cd '$m/big' && ls | xargs rm && cd / && rmdir '$m/big'"
check "hard link survived" test "$(cat "$m/b")" = data
check "symlink survived" test "$(readlink "$m/s")" = /some/where/else
check "truncated file survived" cmp "$m/t" "$T/ref"
check "a 12289-byte xattr survived" test "$(getfattr --absolute-names --only-values -n user.big "$m/bigx" | wc -c)" = 12289
check "unlink of a file with a chunked xattr" rm "$m/bigx"
used=$(df --output=used "$m" | tail -1)
rm "$m/bigfile"
check "space given back" test "$(df --output=used "$m" | tail -1)" -lt $((used - 190000))
check "unmount" hfs_umount "$m" "$img"
check "fsck clean (xattr chunks all gone with their file)" "$B/fsck.hfs" -n "$img"
finish
