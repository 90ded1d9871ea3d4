#!/usr/bin/env bash
# An open directory that is removed (rmdir, or replaced by a rename) stays
# an orphan until its last close: fstat of the open fd reports nlink 0
# instead of ENOENT (xfstests generic/035), and nothing is left behind.
. "$(dirname "$0")/../lib.sh"
img=$(mkimg d.img 256M)
m=$T/m
check "mkfs" "$B/mkfs.hfs" -q "$img"
check "mount" hfs_mount "$m" "$img"
mkdir "$m/d1" "$m/d2" "$m/d3"
: > "$m/f1"; : > "$m/f2"
out=$(python3 - "$m" <<'PY'
import os, sys
m = sys.argv[1]
def probe(what, path, act):
    fd = os.open(path, os.O_RDONLY)
    act()
    try:
        st = os.fstat(fd)
        print(what, "nlink", st.st_nlink)
    except OSError as e:
        print(what, "fstat", e.strerror)
    if os.path.isdir("/proc/self/fd/%d" % fd):
        print(what, "listing", sorted(os.listdir(fd)))
    os.close(fd)
probe("rename-dir", m + "/d2", lambda: os.rename(m + "/d1", m + "/d2"))
probe("rmdir", m + "/d3", lambda: os.rmdir(m + "/d3"))
probe("rename-file", m + "/f2", lambda: os.rename(m + "/f1", m + "/f2"))
PY
)
echo "$out"
check "dir replaced by rename: nlink 0" grep -qx "rename-dir nlink 0" <<<"$out"
check "removed dir: nlink 0" grep -qx "rmdir nlink 0" <<<"$out"
check "removed dir lists empty" grep -qx "rmdir listing \[\]" <<<"$out"
check "file replaced by rename: nlink 0" grep -qx "rename-file nlink 0" <<<"$out"
check "names left" test "$(ls "$m" | tr '\n' ' ')" = "d2 f2 "
check "umount" hfs_umount "$m" "$img"
check "fsck clean" "$B/fsck.hfs" -n "$img"
check "inodes: root, d2, f2" grep -q "^$img: 3 inodes" <<<"$("$B/fsck.hfs" -n "$img")"
finish
