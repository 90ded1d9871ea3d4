#!/usr/bin/env bash
# FUSE over io_uring (fs/fuse_ring.c).  With the fuse module's enable_uring
# on, the daemon takes the requests from per-CPU io_uring queues: every
# kind of request works through them (data in all sizes, through the page
# cache and mmap, names, links, xattrs, set-ID clearing, SEEK_DATA, which
# waits for WRITEs sent from the handler's own CPU), under concurrency,
# survives an unmount and a remount byte for byte, and a SIGTERM and a
# SIGKILL end the daemon without a hang.  With -o nofuse_uring, or with
# enable_uring off, requests go through /dev/fuse.  The parameter is put
# back as found, also on failure.
. "$(dirname "$0")/../lib.sh"
P=/sys/module/fuse/parameters/enable_uring
if [ ! -w "$P" ]; then
	# a kernel without FUSE over io_uring (before 6.14, or built without
	# it): nothing here can run, and the /dev/fuse path is every other test
	echo "SKIP: $(basename "$0"): no $P on this kernel"
	exit 0
fi
orig=$(cat "$P")
restore() { echo "$orig" > "$P"; cleanup; }
trap restore EXIT
chmod 755 "$T"
img=$(mkimg ring.img 512M)
m=$T/m
st() { "$B/hfsctl" status "$m" --json | sed -n "s/.*\"$1\": \"\{0,1\}\([^\",]*\)\"\{0,1\},\{0,1\}$/\1/p"; }
ncpu=$(python3 -c "
s = open('/sys/devices/system/cpu/possible').read().strip()
print(int(s.split('-')[-1]) + 1)")

"$B/mkfs.hfs" -q "$img"
echo Y > "$P"
check "mount with enable_uring on" hfs_mount "$m" "$img" -o allow_other
check "status: io_uring transport" test "$(st fuse_transport)" = io_uring
check "status: one queue per possible CPU ($ncpu)" test "$(st fuse_uring_queues)" = "$ncpu"
check "status: at least 4 threads a queue" test "$(st fuse_uring_threads_per_queue)" -ge 4
r0=$(st fuse_uring_requests)
check "hfsctl status names the transport" bash -c "'$B/hfsctl' status '$m' | grep -q 'fuse:   io_uring'"

cat > "$T/work.py" <<'EOF'
import errno, hashlib, mmap, os, random, sys
m = sys.argv[1]
rnd = random.Random(7)
sums = {}
def put(path, data):
    fd = os.open(path, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, 0o644)
    for off in range(0, len(data), 1 << 20):
        os.write(fd, data[off:off + (1 << 20)])
    os.close(fd)
    sums[path] = hashlib.md5(data).hexdigest()
os.mkdir(m + '/d')
for i, n in enumerate([0, 1, 4095, 4096, 4097, 65536, 65537, (1 << 20) + 3, 3 << 20]):
    put('%s/d/f%d' % (m, i), rnd.randbytes(n))
for i in range(200):
    put('%s/d/s%d' % (m, i), rnd.randbytes(rnd.randrange(1, 9000)))
bad = [p for p, s in sums.items() if hashlib.md5(open(p, 'rb').read()).hexdigest() != s]
assert not bad, 'read back differs: %s' % bad[:3]
names = set(os.listdir(m + '/d'))
assert len(names) == 209, len(names)
os.rename(m + '/d/s0', m + '/d/r0'); sums[m + '/d/r0'] = sums.pop(m + '/d/s0')
os.link(m + '/d/s1', m + '/d/l1'); sums[m + '/d/l1'] = sums[m + '/d/s1']
os.symlink('s2', m + '/d/y2')
assert os.readlink(m + '/d/y2') == 's2'
assert os.stat(m + '/d/s1').st_nlink == 2
os.setxattr(m + '/d/s3', 'user.k', b'v' * 300)
assert os.getxattr(m + '/d/s3', 'user.k') == b'v' * 300
assert 'user.k' in os.listxattr(m + '/d/s3')
os.removexattr(m + '/d/s3', 'user.k')
try:
    os.getxattr(m + '/d/s3', 'user.k'); assert False
except OSError as e:
    assert e.errno == errno.ENODATA
os.truncate(m + '/d/f7', 5000)
d = open(m + '/d/f7', 'rb').read(); assert len(d) == 5000; sums[m + '/d/f7'] = hashlib.md5(d).hexdigest()
fd = os.open(m + '/d/fa', os.O_CREAT | os.O_RDWR, 0o644)
os.posix_fallocate(fd, 0, 1 << 20)
mm = mmap.mmap(fd, 1 << 20)
mm[4096:8192] = b'm' * 4096
mm.flush(); mm.close()
os.fsync(fd)
os.close(fd)
d = open(m + '/d/fa', 'rb').read()
assert d[4096:8192] == b'm' * 4096 and d[:4096] == bytes(4096), 'mmap'
sums[m + '/d/fa'] = hashlib.md5(d).hexdigest()
# random 4 KiB writes, an fsync every 32: writebacks of many pages of one
# file, served with the queue busy (R6 in fs/fuse_ring.c)
img = bytearray(rnd.randbytes(4 << 20))
fd = os.open(m + '/d/rw', os.O_CREAT | os.O_RDWR, 0o644)
os.write(fd, img)
for i in range(1024):
    off = rnd.randrange(1024) * 4096
    blk = rnd.randbytes(4096)
    os.pwrite(fd, blk, off); img[off:off + 4096] = blk
    if i % 32 == 31:
        os.fsync(fd)
os.close(fd)
assert open(m + '/d/rw', 'rb').read() == img, 'random writes read back differ'
sums[m + '/d/rw'] = hashlib.md5(img).hexdigest()
for i in range(100, 150):
    os.unlink('%s/d/s%d' % (m, i)); del sums['%s/d/s%d' % (m, i)]
os.mkdir(m + '/d/sub'); os.rmdir(m + '/d/sub')
with open(m + '/sums', 'w') as f:
    for p, s in sorted(sums.items()):
        f.write('%s  %s\n' % (s, p))
print('ok: workload')
EOF
check "workload through the rings" python3 "$T/work.py" "$m"
check "md5 of every file" bash -c "cd / && md5sum --quiet -c '$m/sums'"
r1=$(st fuse_uring_requests)
check "the requests went through the rings ($r0 -> $r1)" test $((r1 - r0)) -gt 1000

# (F1 in fs/fuse_loop.c) with the ring serving, /dev/fuse brings only
# FORGET and INTERRUPT: one thread reads it, the others wait for the end of
# the session, so a forget wakes no thread while the reader naps
pid=$(st pid)
f0=$(st forgets)
python3 -c "
import os
for i in range(300):
    os.close(os.open('$m/fg%d' % i, os.O_CREAT | os.O_WRONLY, 0o644))
for i in range(300):
    os.unlink('$m/fg%d' % i)"
n=$f0
for i in $(seq 1 50); do
	n=$(st forgets)
	[ "$n" -ge $((f0 + 300)) ] && break
	sleep 0.1
done
check "the kernel's forgets are read (300 unlinked inodes: $f0 -> $n)" test "$n" -ge $((f0 + 300))
readers=$(grep -l '^fuse_dev_do_read' /proc/"$pid"/task/*/wchan | wc -l)
parked=$(grep -l 'pause' /proc/"$pid"/task/*/wchan | wc -l)
check "one /dev/fuse reader at most ($readers), the others parked ($parked)" \
	test "$readers" -le 1 -a "$parked" -ge 1

# the handler of SEEK_DATA invalidates the cached pages, and waits for the
# WRITEs that write them back: those are sent from the handler's CPU, so
# another thread of the same queue must take them.  One CPU pinned.
check "SEEK_DATA right after a cached write, caller on CPU 0" timeout 30 taskset -c 0 python3 -c "
import os
fd = os.open('$m/seek', os.O_CREAT | os.O_RDWR, 0o644)
for i in range(50):
    os.pwrite(fd, b'x', i * 131072)
    assert os.lseek(fd, 0, os.SEEK_DATA) == 0
    assert os.lseek(fd, i * 131072, os.SEEK_DATA) == i * 131072
os.close(fd)"

parallel() {
	local i
	for i in 1 2 3 4; do
		dd if=/dev/urandom of="$m/p$i" bs=64k count=160 status=none &
	done
	for i in 0 1 2 3; do
		cat "$m/d/f8" "$m/d/s5$i" > /dev/null &
	done
	wait
	for i in 1 2 3 4; do [ "$(stat -c %s "$m/p$i")" = 10485760 ] || return 1; done
}
check "4 writers and 4 readers at once" parallel
md5sum "$m"/p1 "$m"/p2 "$m"/p3 "$m"/p4 | sed "s#$m#MNT#" > "$T/p.md5"
check "their checksums taken" test "$(wc -l < "$T/p.md5")" = 4

u=123456
touch "$m/k"; chown $u "$m/k"; chmod 6755 "$m/k"
check "the owner's write(2) drops set-ID bits (kill flag noted in the ring)" bash -c \
	"setpriv --reuid $u --regid $u --clear-groups dd if=/dev/zero of='$m/k' bs=4k count=1 conv=notrunc status=none && [ \$(stat -c %a '$m/k') = 755 ]"

check "umount" hfs_umount "$m" "$img"
check "fsck clean" "$B/fsck.hfs" -n "$img"
check "mount again" hfs_mount "$m" "$img"
check "after the remount: md5 of every file" bash -c "cd / && md5sum --quiet -c '$m/sums'"
check "after the remount: the parallel writers' files" bash -c \
	"md5sum '$m'/p1 '$m'/p2 '$m'/p3 '$m'/p4 | sed 's#$m#MNT#' | cmp -s - '$T/p.md5'"

# SIGTERM: the session ends without an unmount first; the ring threads
# notice within their 1 s wait and the daemon unmounts and exits
pid=$(st pid)
kill -TERM "$pid"
for i in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
check "SIGTERM: the daemon exits within 10 s" bash -c "! kill -0 $pid 2>/dev/null"
check "SIGTERM: the mount is gone" bash -c "! grep -q ' $m fuse.hfs ' /proc/mounts"
check "SIGTERM: fsck clean" "$B/fsck.hfs" -n "$img"

check "mount for SIGKILL" hfs_mount "$m" "$img"
pid=$(st pid)
dd if=/dev/zero of="$m/z" bs=1M count=8 status=none
kill -KILL "$pid"
for i in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
check "SIGKILL: the daemon is gone" bash -c "! kill -0 $pid 2>/dev/null"
check "SIGKILL: the mount answers ENOTCONN, no hang" \
	test "$(timeout 10 python3 -c "
import os, errno
try:
    os.stat('$m/z'); print('OK')
except OSError as e:
    print(errno.errorcode[e.errno])")" = ENOTCONN
fusermount3 -u "$m" 2>/dev/null || umount -l "$m"
check "SIGKILL: the device is let go" bash -c "for i in \$(seq 1 100); do flock -n '$img' true && exit 0; sleep 0.1; done; exit 1"
check "SIGKILL: the volume mounts and the data is there" bash -c "
	'$B/hfs' '$img' '$m' && cd / && md5sum --quiet -c '$m/sums'"
check "umount" hfs_umount "$m" "$img"

check "-o nofuse_uring: mount" hfs_mount "$m" "$img" -o nofuse_uring
check "-o nofuse_uring: /dev/fuse transport" test "$(st fuse_transport)" = /dev/fuse
check "-o nofuse_uring: md5 of every file" bash -c "cd / && md5sum --quiet -c '$m/sums'"
check "umount" hfs_umount "$m" "$img"

echo N > "$P"
check "enable_uring off: mount" hfs_mount "$m" "$img"
check "enable_uring off: /dev/fuse transport" test "$(st fuse_transport)" = /dev/fuse
check "enable_uring off: no ring requests" test "$(st fuse_uring_requests)" = 0
check "umount" hfs_umount "$m" "$img"
check "fsck clean" "$B/fsck.hfs" -n "$img"
finish
