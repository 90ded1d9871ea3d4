#!/usr/bin/env bash
# make demo: format two image files as a mirror, mount, write, show status,
# unmount, check.  Cleans up after itself.
set -u
. "$(dirname "$0")/lib.sh"
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
a=$(mkimg leg0.img 512M); b=$(mkimg leg1.img 512M); m=$T/mnt

say "mkfs.hfs -L demo $a $b"
"$B/mkfs.hfs" -L demo "$a" "$b" || exit 1
say "hfs $a $b $m"
hfs_mount "$m" "$a" "$b" || { echo "mount failed"; exit 1; }
say "writing: a copy of /usr/include/linux, a 64 MiB file, links and xattrs"
cp -a /usr/include/linux "$m/"
head -c $((64 << 20)) /dev/urandom > "$T/blob"; cp "$T/blob" "$m/blob"
ln "$m/blob" "$m/blob.link"; ln -s linux "$m/headers"
setfattr -n user.demo -v "hello" "$m/blob"
sync "$m/blob"
ls -la "$m" | head
df -h "$m"
say "hfsctl status $m"
"$B/hfsctl" status "$m"
say "unmount"
hfs_umount "$m" "$a" || exit 1
say "fsck.hfs -n $a $b"
"$B/fsck.hfs" -n "$a" "$b"; rc=$?
say "remount and verify"
hfs_mount "$m" "$a" "$b" && cmp "$T/blob" "$m/blob" && diff -r --no-dereference /usr/include/linux "$m/linux" && echo "data intact"
hfs_umount "$m" "$a"
"$B/hfsctl" status "$a" "$b"
exit $rc
