#!/usr/bin/env bash
# Inode flags (sem/iflags.py): chattr/lsattr through FS_IOC_GETFLAGS/SETFLAGS
# and FS_IOC_FSGETXATTR/FSSETXATTR; +i, +a (files and directories), +A, +d,
# +S and inheritance enforced by the daemon with exact errnos, as root and
# as unprivileged users; the flags (and the ctime chattr stored) survive a
# remount, fsck accepts them; all again without the writeback cache.
. "$(dirname "$0")/../lib.sh"
chmod 755 "$T"   # the unprivileged users must reach the mount point
img=$(mkimg t.img 256M)
m=$T/m
"$B/mkfs.hfs" -q "$img"
check "mount" hfs_mount "$m" "$img"
chmod 755 "$m"
pycheck iflags.py "$m"
touch "$m/ctf"; c0=$(stat -c %Z.%z "$m/ctf"); sleep 0.05; chattr +d "$m/ctf"
lsattr "$m/keep" > "$T/lsattr.before" 2>&1
check "lsattr shows the kept flags" grep -q -- "----i-.* $m/keep/imm" "$T/lsattr.before"
check "unmount" hfs_umount "$m" "$img"
check "fsck accepts the flags" "$B/fsck.hfs" -n "$img"
check "remount" hfs_mount "$m" "$img"
lsattr "$m/keep" > "$T/lsattr.after" 2>&1
check "flags after the remount as before" cmp "$T/lsattr.before" "$T/lsattr.after"
check "chattr's ctime was stored" test "$(stat -c %Z.%z "$m/ctf")" != "$c0"
check "+i still holds after the remount" bash -c "! echo x >> '$m/keep/imm'"
check "+a still appends only after the remount" bash -c "echo x >> '$m/keep/app' && ! echo x > '$m/keep/app'"
check "root clears the flags" chattr -ia "$m/keep/imm" "$m/keep/app"
check "then the files can go" rm -r "$m/keep"
check "unmount" hfs_umount "$m" "$img"
# without the kernel's writeback cache every write(2) reaches the daemon
check "remount nowriteback" hfs_mount "$m" "$img" -o nowriteback
mkdir "$m/nwb"; chmod 755 "$m/nwb"
pycheck iflags.py "$m/nwb"
chattr -R -ia "$m/nwb" 2>/dev/null
check "unmount" hfs_umount "$m" "$img"
check "fsck clean" "$B/fsck.hfs" -n "$img"
finish
