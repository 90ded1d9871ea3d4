#!/usr/bin/env bash
# File handles (name_to_handle_at / open_by_handle_at, what NFS export and
# fanotify use): a handle opens its file after the kernel dropped the inode
# (drop_caches: the kernel then looks up "." of the inode number), through a
# second hard link after the first name is gone, and after a remount; a
# directory's handle comes back connected to its path (lookups of ".."); a
# deleted file's handle and a handle with a wrong generation are ESTALE.
. "$(dirname "$0")/../lib.sh"
FH=$B/helpers/fhandle
img=$(mkimg h.img 256M)
m=$T/m
"$B/mkfs.hfs" -q "$img"
check "mount" hfs_mount "$m" "$img"
mkdir -p "$m/d/sub/deep"
echo alpha > "$m/d/f"
echo beta > "$m/d/sub/deep/g"
echo gamma > "$m/d/gone"
ln "$m/d/f" "$m/d/f2"
hf=$("$FH" save "$m/d/f"); r1=$?
hg=$("$FH" save "$m/d/sub/deep/g"); r2=$?
hd=$("$FH" save "$m/d/sub/deep"); r3=$?
hx=$("$FH" save "$m/d/gone"); r4=$?
check "name_to_handle_at of files and a directory ($hf)" test "$r1$r2$r3$r4" = 0000
ino_f=$(stat -c %i "$m/d/f") ino_d=$(stat -c %i "$m/d/sub/deep")

# expect WHAT HANDLE OUTPUT: open_by_handle_at prints exactly OUTPUT
expect() {
	local out
	out=$("$FH" open "$m" "$2")
	if [ "$out" = "$3" ]; then ok "$1"; else fail "$1: got '$out', want '$3'"; fi
}
drop() { sync; echo 2 > /proc/sys/vm/drop_caches; }

expect "open by handle, inode cached" "$hf" "ino=$ino_f data=alpha"
drop
expect "open by handle after drop_caches (lookup '.')" "$hg" \
	"ino=$(stat -c %i "$m/d/sub/deep/g") data=beta"
drop
expect "a directory's handle after drop_caches is connected (lookups '..')" "$hd" \
	"ino=$ino_d path=$m/d/sub/deep"
rm "$m/d/gone"
drop
expect "the handle of a deleted file" "$hx" "errno=ESTALE"
expect "a handle with another generation" "$("$FH" gen "$hf")" "errno=ESTALE"
rm "$m/d/f"
drop
expect "a linked file after its first name is gone" "$hf" "ino=$ino_f data=alpha"
mv "$m/d/sub" "$m/moved"
drop
expect "a directory's handle after its parent moved" "$hd" "ino=$ino_d path=$m/moved/deep"

check "unmount" hfs_umount "$m" "$img"
check "fsck clean" "$B/fsck.hfs" -n "$img"
check "remount" hfs_mount "$m" "$img"
expect "a file handle after a remount" "$hf" "ino=$ino_f data=alpha"
expect "a directory handle after a remount" "$hd" "ino=$ino_d path=$m/moved/deep"
expect "the deleted file's handle after a remount" "$hx" "errno=ESTALE"
expect "a wrong generation after a remount" "$("$FH" gen "$hd")" "errno=ESTALE"
# a file unlinked while open stays for its opener, but not for handles
echo delta > "$m/open"
ho=$("$FH" save "$m/open")
exec 7<"$m/open"
rm "$m/open"
expect "an unlinked open file's handle while it is open" "$ho" "ino=$(stat -L -c %i /proc/self/fd/7) data=delta"
exec 7<&-
drop
expect "its handle after the last close" "$ho" "errno=ESTALE"
check "unmount" hfs_umount "$m" "$img"
check "fsck clean at the end" "$B/fsck.hfs" -n "$img"
finish
