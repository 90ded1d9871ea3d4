#!/usr/bin/env bash
# FS_IOC_SHUTDOWN (xfstests' godown, xfs_io -x -c shutdown): only root may
# shut down; afterwards every operation fails with EIO, nothing more reaches
# the image (not even at unmount), the daemon exits 0, fsck -n is clean and
# the remount recovers to the last commit: with the flush flag (LOGFLUSH) a
# file created but never synced survives, without it (NOLOGFLUSH) it is gone.
. "$(dirname "$0")/../lib.sh"
img=$(mkimg s.img 256M)
m=$T/m
log=$T/daemon.log
"$B/mkfs.hfs" -q "$img"
mkdir -p "$m"
chmod 755 "$T"

# shut FLAGS [UID]: the ioctl on the mount point, prints OK or the errno name
shut() { python3 -c "
import errno, fcntl, os, struct, sys
os.setuid(int(sys.argv[3]))
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY)
for i in range(int(sys.argv[4])):   # again on the same descriptor: a no-op
    try:
        fcntl.ioctl(fd, 0x8004587d, struct.pack('I', int(sys.argv[2])))
        print('OK', end=' ')
    except OSError as e:
        print(errno.errorcode[e.errno], end=' ')" "$m" "$1" "${2:-0}" "${3:-1}"; }

for flags in 1 2; do
	: > "$log"
	# foreground: the daemon's log and exit status are ours; no periodic
	# flush, so only the shutdown's own flush can commit "late"
	"$B/hfs" -f -o flush_interval=3600 "$img" "$m" 2> "$log" &
	pid=$!
	for i in $(seq 1 100); do grep -q " $m fuse.hfs " /proc/mounts && break; sleep 0.1; done
	check "[flags $flags] mounted" grep -q " $m fuse.hfs " /proc/mounts
	head -c 300000 /dev/urandom > "$T/durable$flags"
	dd if="$T/durable$flags" of="$m/durable$flags" bs=64k conv=fsync status=none
	mkdir "$m/late$flags"
	check "[flags $flags] a user may not shut down" test "$(shut $flags 65534)" = "EPERM "
	check "[flags $flags] root shuts down; again on the same descriptor is a no-op" \
		test "$(shut $flags 0 2)" = "OK OK "
	check "[flags $flags] the daemon logs the shutdown" grep -q "shut down (FS_IOC_SHUTDOWN" "$log"
	sum1=$(md5sum < "$img")
	check "[flags $flags] a new file fails with EIO" \
		test "$(errno_of "os.open('$m/new', os.O_WRONLY | os.O_CREAT, 0o644)")" = EIO
	check "[flags $flags] a read fails with EIO" \
		test "$(errno_of "os.read(os.open('$m/durable$flags', os.O_RDONLY), 10)")" = EIO
	check "[flags $flags] a listing fails with EIO" \
		test "$(errno_of "os.listdir('$m/late$flags')")" = EIO
	check "[flags $flags] fsync fails with EIO" \
		test "$(errno_of "os.fsync(os.open('$m', os.O_RDONLY))")" = EIO
	check "[flags $flags] hfsctl status says shut down" \
		bash -c "'$B/hfsctl' status '$m' | grep -q 'mode: *shut down'"
	check "[flags $flags] unmount" hfs_umount "$m" "$img"
	wait "$pid"
	check "[flags $flags] the daemon exits 0" test $? = 0
	check "[flags $flags] nothing written after the shutdown, not even at unmount" \
		test "$sum1" = "$(md5sum < "$img")"
	check "[flags $flags] fsck -n clean (UNDO replayed in memory)" "$B/fsck.hfs" -n "$img"
	check "[flags $flags] remount" hfs_mount "$m" "$img"
	check "[flags $flags] the fsync'd file is exact" cmp "$T/durable$flags" "$m/durable$flags"
	if [ "$flags" = 1 ]; then
		check "[flags 1] LOGFLUSH committed the unsynced mkdir" test -d "$m/late1"
	else
		check "[flags 2] NOLOGFLUSH: the unsynced mkdir is gone" test ! -e "$m/late2"
	fi
	check "[flags $flags] writable again" bash -c "echo z > '$m/after$flags' && sync -f '$m'"
	check "[flags $flags] unmount" hfs_umount "$m" "$img"
	check "[flags $flags] fsck clean" "$B/fsck.hfs" -n "$img"
done
check "bad flags are refused (EINVAL)" bash -c "
	'$B/hfs' '$img' '$m' && r=\$(python3 -c \"
import errno, fcntl, os, struct
fd = os.open('$m', os.O_RDONLY)
try:
    fcntl.ioctl(fd, 0x8004587d, struct.pack('I', 7)); print('OK')
except OSError as e:
    print(errno.errorcode[e.errno])\"); fusermount3 -u '$m'; test \"\$r\" = EINVAL"
finish
