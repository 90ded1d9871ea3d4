# Open files: O_EXCL (also racing), O_TRUNC, O_APPEND under concurrent
# writers, O_NOATIME rules, O_DIRECT (FUSE passes any alignment through:
# asserted as such, with data coherent with buffered I/O), mmap shared
# writes with msync, unlinked open files across flush cycles.
# usage: openf.py DIR write [DIO]  (phase 1: before an unmount; DIO=align
#                                   to expect EINVAL for misaligned O_DIRECT,
#                                   as on a block filesystem such as ext4)
#        openf.py DIR verify        (phase 2: after the remount)
import hashlib
import mmap
import os
import sys
import time
from errno import EEXIST, EPERM, EINVAL
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from semlib import *  # noqa: F401,F403

m, phase = sys.argv[1], sys.argv[2]
DIO_ALIGN = len(sys.argv) > 3 and sys.argv[3] == "align"
p = lambda *n: os.path.join(m, *n)
pat = lambda n, seed: hashlib.sha256(b"%d" % seed).digest() * (n // 32) + b"\0" * (n % 32)

if phase == "verify":
    eq("mmap'd writes after msync survived the remount", read_file(p("mm")), pat(1 << 20, 7))
    eq("mmap'd writes without msync (munmap, close) survived", read_file(p("mm2")),
       b"M" * 8192 + b"\0" * 8192)
    eq("O_DIRECT writes survived", read_file(p("od")), pat(65536, 3)[:1000] + b"buffered" +
       pat(65536, 3)[1008:65536])
    rec = read_file(p("app"))
    eq("appended records survived", len(rec), 4 * 2000 * 64)
    finish()

# ---- O_EXCL ----------------------------------------------------------------
write_file(p("ex"))
expect("O_CREAT|O_EXCL on an existing file", EEXIST, os.open, p("ex"),
       os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
os.symlink("nowhere", p("dangling"))
expect("O_CREAT|O_EXCL on a dangling symlink (not followed)", EEXIST, os.open, p("dangling"),
       os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
check("... and nothing created behind it", not os.path.exists(p("nowhere")))
os.mkdir(p("exd"))
expect("O_CREAT|O_EXCL on a directory", EEXIST, os.open, p("exd"), os.O_CREAT | os.O_EXCL |
       os.O_WRONLY, 0o644)
wins = []
for round_ in range(20):
    pids, r_w = [], os.pipe()
    for k in range(4):
        pid = os.fork()
        if pid == 0:
            try:
                os.close(os.open(p("race%d" % round_), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
                os.write(r_w[1], b"W")
            except OSError as e:
                os.write(r_w[1], b"E" if e.errno == EEXIST else b"?")
            os._exit(0)
        pids.append(pid)
    for pid in pids:
        os.waitpid(pid, 0)
    os.close(r_w[1])
    wins.append(os.read(r_w[0], 16))
    os.close(r_w[0])
eq("4 racing O_EXCL creates: exactly one wins, the others get EEXIST (20 rounds)",
   [sorted(w.decode()) for w in wins].count(["E", "E", "E", "W"]), 20)

# ---- O_TRUNC -------------------------------------------------------------
write_file(p("tr"), b"0123456789" * 1000)
rfd = os.open(p("tr"), os.O_RDONLY)
os.close(os.open(p("tr"), os.O_WRONLY | os.O_TRUNC))
eq("O_TRUNC empties the file", os.stat(p("tr")).st_size, 0)
eq("another descriptor sees it empty", os.pread(rfd, 100, 0), b"")
os.close(rfd)
write_file(p("tr"), b"new", os.O_WRONLY | os.O_TRUNC)
eq("write after O_TRUNC", read_file(p("tr")), b"new")

# ---- O_APPEND with concurrent writers -------------------------------------
N, K, R = 4, 2000, 64
fd0 = os.open(p("app"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.close(fd0)
pids = []
for w in range(N):
    pid = os.fork()
    if pid == 0:
        fd = os.open(p("app"), os.O_WRONLY | os.O_APPEND)
        for i in range(K):
            rec = (b"w%d r%06d " % (w, i)).ljust(R - 1, b"x") + b"\n"
            if os.write(fd, rec) != R:
                os._exit(1)
        os.close(fd)
        os._exit(0)
    pids.append(pid)
st = [os.waitpid(pid, 0)[1] for pid in pids]
eq("%d writers x %d O_APPEND records: all writes complete" % (N, K), st, [0] * N)
data = read_file(p("app"))
eq("file size is every record", len(data), N * K * R)
recs = [data[i:i + R] for i in range(0, len(data), R)]
good = [r for r in recs if r.endswith(b"\n") and r.startswith(b"w") and r.count(b"\n") == 1]
eq("no record torn or overwritten", len(good), N * K)
seqs = {}
for r in good:
    w, i = r.split()[0], int(r.split()[1][1:])
    seqs.setdefault(w, []).append(i)
eq("each writer's records all there, in its order",
   {k: v == list(range(K)) for k, v in seqs.items()}, {b"w%d" % w: True for w in range(N)})
fd = os.open(p("app"), os.O_WRONLY | os.O_APPEND)
os.lseek(fd, 0, os.SEEK_SET)
os.write(fd, b"tail")
os.close(fd)
eq("O_APPEND writes at the end whatever the offset", read_file(p("app"))[-4:], b"tail")
os.truncate(p("app"), N * K * R)

# ---- O_NOATIME ----------------------------------------------------------------
write_file(p("na"))
os.chmod(p("na"), 0o644)
expect_as((1500, 1500, []), "O_NOATIME on another user's file", EPERM, os.open, p("na"),
          os.O_RDONLY | os.O_NOATIME)
expect("O_NOATIME by the owner", 0, lambda: os.close(os.open(p("na"), os.O_RDONLY | os.O_NOATIME)))

# ---- O_DIRECT ----------------------------------------------------------------
buf = mmap.mmap(-1, 1 << 20)
buf.write(pat(65536, 3) * 16)
fd = os.open(p("od"), os.O_RDWR | os.O_CREAT | os.O_DIRECT, 0o644)
eq("O_DIRECT aligned 64 KiB write", os.pwritev(fd, [memoryview(buf)[:65536]], 0), 65536)
rb = mmap.mmap(-1, 1 << 20)
eq("O_DIRECT aligned read", os.preadv(fd, [memoryview(rb)[:65536]], 0), 65536)
eq("O_DIRECT read data", rb[:65536], pat(65536, 3))
# FUSE has no O_DIRECT alignment rule (the kernel passes any buffer, offset
# and length through; statx reports no DIO alignment): asserted as such
if DIO_ALIGN:
    expect("O_DIRECT misaligned buffer", EINVAL, os.pwritev, fd, [memoryview(buf)[1:4097]], 65536)
else:
    eq("O_DIRECT misaligned buffer works on FUSE", os.pwritev(fd, [memoryview(buf)[1:4097]],
                                                              65536), 4096)
    eq("O_DIRECT misaligned offset and length", os.preadv(fd, [memoryview(rb)[3:103]], 7), 100)
    eq("... with the right data", rb[3:103], pat(65536, 3)[7:107])
os.ftruncate(fd, 65536)
bfd = os.open(p("od"), os.O_RDWR)
os.pwrite(bfd, b"buffered", 1000)
eq("O_DIRECT read sees a buffered write", os.preadv(fd, [memoryview(rb)[:4096]], 0) and
   bytes(rb[1000:1008]), b"buffered")
os.pwritev(fd, [memoryview(buf)[:4096]], 0)
eq("a buffered read sees an O_DIRECT write", os.pread(bfd, 8, 1000), pat(65536, 3)[1000:1008])
os.pwrite(bfd, b"buffered", 1000)
os.fsync(bfd)
os.close(bfd)
os.close(fd)

# ---- mmap ---------------------------------------------------------------------
fd = os.open(p("mm"), os.O_RDWR | os.O_CREAT, 0o644)
os.ftruncate(fd, 1 << 20)
mp = mmap.mmap(fd, 1 << 20, mmap.MAP_SHARED)
mp[:] = pat(1 << 20, 7)
mp.flush()                     # msync(MS_SYNC)
eq("a read(2) sees the mmap'd writes", os.pread(fd, 64, 4096), pat(1 << 20, 7)[4096:4160])
mp.close()
os.close(fd)
fd = os.open(p("mm2"), os.O_RDWR | os.O_CREAT, 0o644)
os.ftruncate(fd, 16384)
mp = mmap.mmap(fd, 16384, mmap.MAP_SHARED)
mp[:8192] = b"M" * 8192
mp.close()                     # munmap without msync
os.close(fd)
write_file(p("mr"), b"written by write(2)")
fd = os.open(p("mr"), os.O_RDONLY)
mp = mmap.mmap(fd, 19, mmap.MAP_SHARED, mmap.PROT_READ)
eq("mmap reads what write(2) wrote", mp[:], b"written by write(2)")
mp.close()
os.close(fd)

# ---- unlinked open file across flush cycles ----------------------------------
write_file(p("ul"), pat(300000, 9))
fd = os.open(p("ul"), os.O_RDWR)
os.unlink(p("ul"))
time.sleep(2.5)                # flush_interval=1: at least two flush cycles
eq("unlinked open file still reads after flush cycles", os.pread(fd, 300000, 0), pat(300000, 9))
eq("and takes writes", os.pwrite(fd, b"more", 300000), 4)
expect("fsync of an unlinked file", 0, os.fsync, fd)
eq("its link count is 0", os.fstat(fd).st_nlink, 0)
os.close(fd)
finish()
