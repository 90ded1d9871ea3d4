#!/usr/bin/env bash
# -o norecovery and write-protected devices (xfstests generic/050):
#   1. an interrupted flush (the header write fails, fault device) mounted
#      -o ro,norecovery shows the last commit (fsync'd files exact, later
#      ones absent), the image stays byte-identical, a remount rw is
#      refused; -o norecovery without ro is refused with a clear message;
#   2. a read-only loop device (losetup -r) of a clean filesystem mounted
#      without -o ro mounts read-only with mount(8)'s warning (EROFS to
#      writers; remount rw refused: write-protected);
#   3. one that was not unmounted cleanly (FS_IOC_SHUTDOWN) is refused with
#      one mount(8)-style line unless -o norecovery, which mounts its last
#      commit read-only without writing; on a writable device -o ro then
#      recovers, and a clean unmount makes it mountable read-only again.
. "$(dirname "$0")/../lib.sh"
m=$T/m
mkdir -p "$m"
rules=$T/rules
ro_loop() { # ro_loop IMAGE -> a read-only loop device (recorded for cleanup)
	local dev
	dev=$(losetup -r -f --show "$1") || return 1
	echo "$dev" >> "$T/loops"
	echo "$dev"
}
mounted() { grep -q " $m fuse.hfs " /proc/mounts; }
mounted_ro() { awk -v m="$m" '$2 == m && $3 == "fuse.hfs" { split($4, o, ","); f = o[1] == "ro" } END { exit !f }' /proc/mounts; }

# 1. an interrupted flush
img=$(mkimg n.img 256M)
"$B/mkfs.hfs" -q "$img"
: > "$rules"
"$B/hfs" -f -o "fault=$rules,flush_interval=3600" "$img" "$m" 2> "$T/daemon.log" &
pid=$!
for i in $(seq 1 100); do mounted && break; sleep 0.1; done
check "1: mount with the fault device" mounted
mkdir "$m/d"
for i in 1 2 3; do
	head -c $((i * 40000)) /dev/urandom > "$T/durable$i"
	dd if="$T/durable$i" of="$m/d/durable$i" conv=fsync status=none
done
echo "never committed" > "$m/d/late"
# only the header writes fail: UNDO, META and data of the group reach the
# disk, the commit does not (the disk's B-tree holds "late", its last commit not)
echo "comp=0 op=write action=fail off=1M-1056K" > "$rules"
sleep 0.2
check "1: the flush fails (critical write error)" \
	test "$(errno_of "fd = os.open('$m/d/late', os.O_RDONLY); os.fsync(fd)")" = EIO
: > "$rules"
check "1: unmount" hfs_umount "$m" "$img"
wait "$pid"
check "1: precondition: UNDO of an interrupted flush is pending" \
	bash -c "'$B/fsck.hfs' -n '$img' | grep -q 'records of an interrupted flush'"
sum0=$(md5sum < "$img")
out=$("$B/hfs" -o norecovery "$img" "$m" 2>&1); rc=$?
check "1: -o norecovery without ro is refused ($rc)" test "$rc" = 1 -a \
	"$out" = "hfs: -o norecovery needs -o ro: a read-write mount always recovers"
check "1: ... and nothing is mounted" bash -c "! grep -q ' $m fuse.hfs ' /proc/mounts"
check "1: mount -o ro,norecovery" hfs_mount "$m" "$img" -o ro,norecovery
check "1: read-only" mounted_ro
for i in 1 2 3; do check "1: fsync'd durable$i exact" cmp "$T/durable$i" "$m/d/durable$i"; done
check "1: the uncommitted file is absent (the last commit)" test ! -e "$m/d/late"
check "1: listing shows exactly the committed files" \
	test "$(ls "$m/d" | tr '\n' ' ')" = "durable1 durable2 durable3 "
check "1: writes fail with EROFS" \
	test "$(errno_of "os.open('$m/d/new', os.O_WRONLY | os.O_CREAT, 0o644)")" = EROFS
out=$("$B/hfs" -o remount,rw "$m" 2>&1); rc=$?
check "1: remount rw of a norecovery mount is refused ($rc: $out)" test "$rc" != 0 -a \
	"${out#*norecovery}" != "$out"
check "1: unmount" hfs_umount "$m" "$img"
check "1: the image is byte-identical after the norecovery mount" test "$(md5sum < "$img")" = "$sum0"
check "1: fsck -n still sees the pending UNDO" \
	bash -c "'$B/fsck.hfs' -n '$img' | grep -q 'records of an interrupted flush'"

# 2. a clean filesystem on a read-only loop device
c=$(mkimg clean.img 256M)
"$B/mkfs.hfs" -q "$c"
check "2: mount rw to write a file" hfs_mount "$m" "$c"
head -c 100000 /dev/urandom > "$T/kept"
cp "$T/kept" "$m/kept"
check "2: clean unmount" hfs_umount "$m" "$c"
csum=$(md5sum < "$c")
dev=$(ro_loop "$c")
out=$("$B/hfs" "$dev" "$m" 2>&1); rc=$?
check "2: a write-protected device mounts ($rc)" test "$rc" = 0
check "2: ... with mount(8)'s warning" \
	test "$out" = "hfs: $dev: WARNING: source write-protected, mounted read-only"
check "2: ... read-only" mounted_ro
check "2: the file is there" cmp "$T/kept" "$m/kept"
check "2: touch fails with EROFS" test "$(errno_of "os.open('$m/foo', os.O_WRONLY | os.O_CREAT, 0o644)")" = EROFS
out=$("$B/hfs" -o remount,rw "$m" 2>&1); rc=$?
check "2: remount rw is refused: write-protected ($rc: $out)" test "$rc" != 0 -a \
	"${out#*write-protected}" != "$out"
check "2: still mounted read-only" mounted_ro
check "2: unmount" hfs_umount "$m" "$dev"
losetup -d "$dev"
check "2: the image did not change" test "$(md5sum < "$c")" = "$csum"

# 3. not unmounted cleanly (shutdown), then write-protected
check "3: mount rw" hfs_mount "$m" "$c"
for i in 0 1 2 3 4 5 6 7 8 9; do touch "$m/t$i"; done
check "3: shut down (LOGFLUSH: commit, then stop)" python3 -c "
import fcntl, os, struct
fd = os.open('$m', os.O_RDONLY | os.O_DIRECTORY)
fcntl.ioctl(fd, 0x8004587d, struct.pack('I', 1))"
check "3: unmount the shut-down filesystem" hfs_umount "$m" "$c"
dsum=$(md5sum < "$c")
dev=$(ro_loop "$c")
out=$("$B/hfs" "$dev" "$m" 2>&1); rc=$?
check "3: a write-protected device needing recovery is refused ($rc)" test "$rc" = 1
check "3: ... with one mount(8)-style line" test "$(printf '%s\n' "$out" | wc -l)" = 1 -a \
	"${out#mount: $m: cannot mount $dev read-only: it was not unmounted cleanly}" != "$out"
check "3: ... and nothing is mounted" bash -c "! grep -q ' $m fuse.hfs ' /proc/mounts"
out=$("$B/hfs" -o ro "$dev" "$m" 2>&1); rc=$?
check "3: -o ro is refused the same way ($rc)" test "$rc" = 1 -a "${out#mount: $m: cannot mount}" != "$out"
out=$("$B/hfs" -o norecovery "$dev" "$m" 2>&1); rc=$?
check "3: -o norecovery mounts it ($rc: $out)" test "$rc" = 0 -a \
	"$out" = "hfs: $dev: WARNING: source write-protected, mounted read-only"
check "3: ... read-only" mounted_ro
check "3: the committed files are there" test -e "$m/t9" -a -e "$m/kept"
check "3: unmount" hfs_umount "$m" "$dev"
losetup -d "$dev"
check "3: the image did not change" test "$(md5sum < "$c")" = "$dsum"
check "3: on a writable device -o ro mounts (recovery is possible)" hfs_mount "$m" "$c" -o ro
check "3: unmount" hfs_umount "$m" "$c"
check "3: a read-write mount and a clean unmount" hfs_mount "$m" "$c"
check "3: unmount" hfs_umount "$m" "$c"
dev=$(ro_loop "$c")
out=$("$B/hfs" "$dev" "$m" 2>&1); rc=$?
check "3: clean again: the write-protected device mounts ($rc: $out)" test "$rc" = 0
check "3: unmount" hfs_umount "$m" "$dev"
losetup -d "$dev"
check "3: fsck -n clean" "$B/fsck.hfs" -n "$c"
# the interrupted flush of 1 on a write-protected device: norecovery only
dev=$(ro_loop "$img")
out=$("$B/hfs" -o ro "$dev" "$m" 2>&1); rc=$?
check "3: an interrupted flush on a write-protected device is refused ($rc)" test "$rc" = 1 -a \
	"${out#mount: $m: cannot mount $dev read-only}" != "$out"
check "3: -o ro,norecovery shows its last commit" hfs_mount "$m" "$dev" -o ro,norecovery
check "3: ... exact" cmp "$T/durable3" "$m/d/durable3"
check "3: unmount" hfs_umount "$m" "$dev"
losetup -d "$dev"
check "3: the image is still byte-identical" test "$(md5sum < "$img")" = "$sum0"
finish
