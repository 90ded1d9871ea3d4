#!/usr/bin/env bash
# Times (sem/times.py): nanoseconds, ctime on every metadata change, mtime
# on content changes, the directory's times on create/link/unlink/rename/
# mkdir/rmdir, atime under relatime and O_NOATIME; times survive a remount
# to the nanosecond; -o noatime and -o strictatime; all again without the
# writeback cache (-o nowriteback).
. "$(dirname "$0")/../lib.sh"
img=$(mkimg t.img 256M)
m=$T/m
"$B/mkfs.hfs" -q "$img"
check "mount" hfs_mount "$m" "$img"
pycheck times.py "$m"
snap() { (cd "$m" && find . -print0 | sort -z | xargs -0 stat -c '%n %X.%x %Y.%y %Z.%z') > "$1"; }
touch -d @1234567890.123456789 "$m/ns"; snap "$T/t.before"
check "unmount" hfs_umount "$m" "$img"
check "remount" hfs_mount "$m" "$img" -o noatime
snap "$T/t.after"
check "every time after the remount as before, to the nanosecond" diff "$T/t.before" "$T/t.after"
echo data > "$m/na"; sleep 0.05; a0=$(stat -c %X.%x "$m/na"); cat "$m/na" >/dev/null; sleep 0.05
check "noatime: a read does not move atime" test "$(stat -c %X.%x "$m/na")" = "$a0"
check "unmount" hfs_umount "$m" "$img"
check "remount strictatime" hfs_mount "$m" "$img" -o strictatime
cat "$m/na" >/dev/null; sleep 0.05; a1=$(stat -c %X%x "$m/na"); sleep 0.05; cat "$m/na" >/dev/null
check "strictatime: every read moves atime" test "$(stat -c %X%x "$m/na")" != "$a1"
check "unmount" hfs_umount "$m" "$img"
# nodiratime (libfuse 3.14 does not know it: the daemon takes it)
check "remount strictatime,nodiratime" hfs_mount "$m" "$img" -o strictatime,nodiratime
mkdir -p "$m/nd"; sleep 0.05; d0=$(stat -c %X.%x "$m/nd"); f0=$(stat -c %X.%x "$m/na"); sleep 0.05
ls "$m/nd" >/dev/null; cat "$m/na" >/dev/null
check "nodiratime: a listing does not move the directory's atime" test "$(stat -c %X.%x "$m/nd")" = "$d0"
check "nodiratime: a read still moves a file's atime" test "$(stat -c %X.%x "$m/na")" != "$f0"
check "unmount" hfs_umount "$m" "$img"
# without the kernel's writeback cache the daemon stamps every time itself
check "remount nowriteback" hfs_mount "$m" "$img" -o nowriteback
mkdir "$m/nwb"
pycheck times.py "$m/nwb"
check "unmount" hfs_umount "$m" "$img"
# lazytime (fstab users set it for ext4/xfs): accepted; times are committed
# with the next flush as always, so they survive a remount
check "remount lazytime" hfs_mount "$m" "$img" -o lazytime
touch -d @1500000000.5 "$m/lazy"
check "unmount" hfs_umount "$m" "$img"
check "remount" hfs_mount "$m" "$img"
check "a time set under lazytime survives the remount" test "$(stat -c %.9Y "$m/lazy")" = 1500000000.500000000
check "unmount" hfs_umount "$m" "$img"
check "fsck clean" "$B/fsck.hfs" -n "$img"
finish
