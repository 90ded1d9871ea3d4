#!/usr/bin/env bash
# A full filesystem (data writes get ENOSPC) also refuses new metadata that
# needs a new B-tree node: the space left is the reserve that writes already
# in the kernel's page cache need.  An xattr fill used to go on until the
# reserve was gone (xfstests generic/449 ran for hours); a create storm
# likewise.  Freeing data makes both work again.
. "$(dirname "$0")/../lib.sh"
img=$(mkimg x.img 1G)
m=$T/m
check "mkfs -S 256M" "$B/mkfs.hfs" -q -S 256M "$img"
check "mount" hfs_mount "$m" "$img"
touch "$m/f" "$m/keep"
out=$(timeout 120 dd if=/dev/zero of="$m/fill" bs=1M 2>&1); rc=$?
check "data fill ends with ENOSPC" test "$rc" = 1 -a -n "$(grep 'No space left' <<<"$out")"
fill() { # fill WHAT: add xattrs (or files) until ENOSPC; prints the count
	python3 - "$m" "$1" <<'PY'
import errno, os, sys
m, what = sys.argv[1], sys.argv[2]
for i in range(200000):
    try:
        if what == "xattr":
            os.setxattr(m + "/f", "user.x%06d" % i, b"v" * 200)
        else:
            os.close(os.open(m + "/n%06d" % i, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
    except OSError as e:
        if e.errno != errno.ENOSPC:
            print("error", e.errno, "after", i)
            sys.exit(1)
        print(i)
        sys.exit(0)
print("never full")
sys.exit(1)
PY
}
n=$(fill xattr); rc=$?
check "xattr fill ends with ENOSPC" test "$rc" = 0
check "  after a few leaves' worth ($n xattrs, < 2000)" test "${n:-99999}" -lt 2000
n=$(fill file); rc=$?
check "create fill ends with ENOSPC" test "$rc" = 0
check "  after a few leaves' worth ($n files, < 2000)" test "${n:-99999}" -lt 2000
check "the filesystem still reads" test -n "$(ls "$m/keep")"
rm -f "$m/fill"
sync "$m"
check "xattrs can be set again after freeing" setfattr -n user.again -v 1 "$m/f"
check "files can be created again after freeing" touch "$m/again"
check "umount" hfs_umount "$m" "$img"
check "fsck clean" "$B/fsck.hfs" -n "$img"
finish
