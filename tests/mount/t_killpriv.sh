#!/usr/bin/env bash
# Killpriv v2 (fs/fuse_io.c): the daemon takes FUSE_HANDLE_KILLPRIV_V2 in
# the INIT reply, so the kernel stops sending GETXATTR security.capability
# before every write(2) into the page cache (once per inode at most, to mark
# it S_NOSEC), and the set-ID bits are still dropped as Linux drops them
# (the daemon does it now: the writes of an unprivileged owner, a truncate,
# a chown, chown(-1, -1)); root's write keeps them.  tests/mount/sem/perm.py
# (t_perm.sh) covers the rules in full.
. "$(dirname "$0")/../lib.sh"
chmod 755 "$T"
img=$(mkimg kp.img 256M)
m=$T/m
"$B/mkfs.hfs" -q "$img"
check "mount" hfs_mount "$m" "$img" -o allow_other
chmod 777 "$m"
gx() { "$B/hfsctl" status "$m" --json | sed -n 's/.*"getxattr_requests": \([0-9]*\).*/\1/p'; }
check "status: killpriv v2 taken" bash -c "'$B/hfsctl' status '$m' --json | grep -q '\"killpriv_v2\": true'"
python3 -c "
import os
fd = os.open('$m/f', os.O_CREAT | os.O_WRONLY, 0o644)
os.write(fd, b'x' * 4096)
os.close(fd)"
g0=$(gx)
python3 -c "
import os
fd = os.open('$m/f', os.O_WRONLY)
for i in range(256):
    os.pwrite(fd, b'y' * 4096, i * 4096)
os.fsync(fd)
os.close(fd)"
g1=$(gx)
check "256 cached write(2)s asked GETXATTR at most once ($g0 -> $g1)" test $((g1 - g0)) -le 1
check "the data is there" bash -c "[ \"\$(head -c 4096 '$m/f' | tr -d y | wc -c)\" = 0 ] && [ \$(stat -c %s '$m/f') = 1048576 ]"
mode() { stat -c %a "$m/f"; }
u=123456
chown $u "$m/f"
chmod 6755 "$m/f"
check "the owner's write(2) drops setuid and setgid" bash -c \
	"setpriv --reuid $u --regid $u --clear-groups dd if=/dev/zero of='$m/f' bs=4k count=1 conv=notrunc status=none && [ \$(stat -c %a '$m/f') = 755 ]"
chmod 6755 "$m/f"
check "root's write(2) keeps them" bash -c \
	"dd if=/dev/zero of='$m/f' bs=4k count=1 conv=notrunc status=none && [ \$(stat -c %a '$m/f') = 6755 ]"
chmod 2745 "$m/f"
check "setgid without group-exec stays on the owner's write(2)" bash -c \
	"setpriv --reuid $u --regid $u --clear-groups dd if=/dev/zero of='$m/f' bs=4k count=1 conv=notrunc status=none && [ \$(stat -c %a '$m/f') = 2745 ]"
chmod 6755 "$m/f"
check "the owner's truncate drops them" bash -c \
	"setpriv --reuid $u --regid $u --clear-groups truncate -s 8192 '$m/f' && [ \$(stat -c %a '$m/f') = 755 ]"
chmod 6755 "$m/f"
check "chown drops them" bash -c "chown 0 '$m/f' && [ \$(stat -c %a '$m/f') = 755 ]"
chmod 6755 "$m/f"
check "chown(-1, -1) drops them" bash -c "python3 -c \"import os; os.chown('$m/f', -1, -1)\" && [ \$(stat -c %a '$m/f') = 755 ]"
chmod 6755 "$m/f"
chown $u "$m/f"
setpriv --reuid $u --regid $u --clear-groups dd if=/dev/zero of="$m/f" bs=4k count=1 conv=notrunc,fsync status=none
check "umount" hfs_umount "$m" "$img"
check "fsck clean" "$B/fsck.hfs" -n "$img"
check "mount again" hfs_mount "$m" "$img"
check "the dropped bits stayed dropped (durable, not a REDO replay of the mode)" test "$(mode)" = 755
check "umount" hfs_umount "$m" "$img"
finish
