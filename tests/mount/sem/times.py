# Times: nanosecond timestamps; ctime moves on every metadata change and
# mtime only on content changes; the directory's mtime/ctime on create,
# link, unlink, rename, mkdir, rmdir; atime under relatime and O_NOATIME.
import os
import sys
import time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from semlib import *  # noqa: F401,F403

m = sys.argv[1]
p = lambda *n: os.path.join(m, *n)
TICK = 0.02          # FUSE's kernel-set times are clock-tick grained


def times(path):
    st = os.fstat(path) if isinstance(path, int) else os.lstat(path)
    return st.st_atime_ns, st.st_mtime_ns, st.st_ctime_ns


def change(msg, path, op, mtime=False, ctime=True):
    """op() must move ctime (if ctime) and move mtime exactly when mtime."""
    a0, m0, c0 = times(path)
    time.sleep(TICK)
    op()
    a1, m1, c1 = times(path)
    if ctime:
        check(msg + ": ctime moves", c1 > c0, (c0, c1))
    else:
        eq(msg + ": ctime unchanged", c1, c0)
    if mtime:
        check(msg + ": mtime changes", m1 != m0 and m1 >= m0 or m1 == 5_000_000_000, (m0, m1))
    else:
        eq(msg + ": mtime unchanged", m1, m0)


# ---- nanoseconds ----------------------------------------------------------
write_file(p("ns"))
os.utime(p("ns"), ns=(1_000_000_001, 2_999_999_999))
eq("atime and mtime to the nanosecond", times(p("ns"))[:2], (1_000_000_001, 2_999_999_999))
os.utime(p("ns"), ns=(-1_500_000_000, 4_102_444_800_123_456_789))   # 1922 and 2100
eq("times before 1970 and after 2038", times(p("ns"))[:2],
   (-1_500_000_000, 4_102_444_800_123_456_789))
fr = set()
for i in range(8):
    write_file(p("ns%d" % i))
    fr.add(os.stat(p("ns%d" % i)).st_mtime_ns % 1_000_000_000)
    time.sleep(0.003)
check("automatic times carry sub-second parts", len(fr - {0}) > 0, fr)

# ---- ctime on every metadata change, mtime on content changes ------------
f = p("f")
write_file(f, b"0123456789")
change("chmod", f, lambda: os.chmod(f, 0o600))
change("chown", f, lambda: os.chown(f, 1500, 1500))
change("chown -1 -1", f, lambda: os.chown(f, -1, -1))
change("link", f, lambda: os.link(f, p("f2")))
change("unlink of another link", f, lambda: os.unlink(p("f2")))
change("rename", f, lambda: os.rename(f, p("g")) or os.rename(p("g"), f))
change("setxattr", f, lambda: os.setxattr(f, "user.a", b"1"))
change("removexattr", f, lambda: os.removexattr(f, "user.a"))
change("utime (explicit)", f, lambda: os.utime(f, (5, 5)), mtime=True)
change("utime (now)", f, lambda: os.utime(f), mtime=True)
change("write", f, lambda: write_file(f, b"x", os.O_WRONLY), mtime=True)
change("append", f, lambda: write_file(f, b"x", os.O_WRONLY | os.O_APPEND), mtime=True)
change("truncate down", f, lambda: os.truncate(f, 3), mtime=True)
change("truncate up", f, lambda: os.truncate(f, 30000), mtime=True)
change("open O_TRUNC", f, lambda: os.close(os.open(f, os.O_WRONLY | os.O_TRUNC)), mtime=True)
change("read", f, lambda: read_file(f), ctime=False)
write_file(f, b"y" * 20000)


def falloc(path, off, ln):
    fd = os.open(path, os.O_RDWR)
    try:
        os.posix_fallocate(fd, off, ln)
    finally:
        os.close(fd)


change("fallocate inside the size", f, lambda: falloc(f, 0, 8192), mtime=True)
change("fallocate past the size", f, lambda: falloc(f, 0, 300000), mtime=True)
write_file(p("ov"), b"old")
os.link(p("ov"), p("ov2"))
change("rename over it (replaced inode)", p("ov2"), lambda: (
    write_file(p("new"), b"new"), os.rename(p("new"), p("ov"))))
eq("replaced inode lost a link", os.stat(p("ov2")).st_nlink, 1)
os.symlink("t", p("sl"))
change("lchown of a symlink", p("sl"), lambda: os.chown(p("sl"), 7, 7, follow_symlinks=False))

# ---- the directory's times --------------------------------------------------
d, d2 = p("d"), p("d2")
os.mkdir(d)
os.mkdir(d2)
change("create in a directory", d, lambda: write_file(os.path.join(d, "a")), mtime=True)
change("mkdir in a directory", d, lambda: os.mkdir(os.path.join(d, "sub")), mtime=True)
change("mknod in a directory", d, lambda: os.mkfifo(os.path.join(d, "fifo")), mtime=True)
change("symlink in a directory", d, lambda: os.symlink("x", os.path.join(d, "sym")), mtime=True)
change("link in a directory", d, lambda: os.link(os.path.join(d, "a"), os.path.join(d, "b")),
       mtime=True)
change("unlink in a directory", d, lambda: os.unlink(os.path.join(d, "b")), mtime=True)
change("rename within a directory", d, lambda: os.rename(os.path.join(d, "a"),
                                                         os.path.join(d, "c")), mtime=True)
change("rename out of a directory (source)", d, lambda: os.rename(os.path.join(d, "c"),
                                                                  os.path.join(d2, "c")),
       mtime=True)
change("rename into a directory (target)", d2, lambda: os.rename(os.path.join(d, "fifo"),
                                                                 os.path.join(d2, "fifo")),
       mtime=True)
change("rmdir in a directory", d, lambda: os.rmdir(os.path.join(d, "sub")), mtime=True)
change("setxattr on a directory", d, lambda: os.setxattr(d, "user.x", b"1"))
change("chmod of an entry leaves the directory alone", d,
       lambda: os.chmod(os.path.join(d2, "c"), 0o600), ctime=False)
change("write to an entry leaves the directory alone", d2,
       lambda: write_file(os.path.join(d2, "c"), b"zz", os.O_WRONLY), ctime=False)
os.mkdir(os.path.join(d, "mv"))
mvfd = os.open(os.path.join(d, "mv"), os.O_RDONLY | os.O_DIRECTORY)
change("moving a directory changes its ctime", mvfd,
       lambda: os.rename(os.path.join(d, "mv"), os.path.join(d2, "mv")))
os.close(mvfd)

# ---- atime under relatime --------------------------------------------------
# (mount is relatime: atime moves when it is not newer than mtime/ctime, or
# is older than a day)
a = p("at")
write_file(a, b"data")
a0 = times(a)[0]
time.sleep(TICK)
read_file(a)
a1 = times(a)[0]
check("relatime: a read after a write moves atime", a1 > a0, (a0, a1))
time.sleep(TICK)
read_file(a)
eq("relatime: a second read does not", times(a)[0], a1)
old = time.time_ns() - 2 * 86400 * 10**9
os.utime(a, ns=(old, old))
time.sleep(TICK)
read_file(a)
check("relatime: a read moves an atime older than a day", times(a)[0] > old + 86400 * 10**9,
      times(a)[0])
os.utime(a, ns=(old, old))
fd = os.open(a, os.O_RDONLY | os.O_NOATIME)
os.read(fd, 10)
os.close(fd)
eq("O_NOATIME read leaves atime", times(a)[0], old)
os.utime(a, ns=(old, old + 1))
os.truncate(a, 4)
eq("a write leaves atime", times(a)[0], old)
os.mkdir(p("ad"))
write_file(p("ad", "x"))
da = times(p("ad"))[0]
time.sleep(TICK)
os.listdir(p("ad"))
check("relatime: listing a changed directory moves its atime", times(p("ad"))[0] > da)
os.symlink("target", p("asl"))
os.utime(p("asl"), ns=(old, old), follow_symlinks=False)
time.sleep(TICK)
eq("readlink", os.readlink(p("asl")), "target")
check("relatime: readlink moves a symlink's day-old atime",
      os.lstat(p("asl")).st_atime_ns > old + 86400 * 10**9, os.lstat(p("asl")).st_atime_ns)
finish()
