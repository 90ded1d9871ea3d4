# Inode flags (chattr/lsattr, FS_IOC_GETFLAGS/SETFLAGS, FS_IOC_FSGETXATTR/
# FSSETXATTR) and the rules they impose, as root and as unprivileged uids:
# immutable (+i), append-only (+a) on files and directories, noatime (+A),
# nodump (+d), sync (+S), inheritance, who may change what.  Run as root on
# the directory argv[1]; leaves flagged files in argv[1]/keep for the caller
# to check after a remount.  The errnos are ext4's (run it on ext4 to see).
import fcntl
import os
import struct
import subprocess
import sys
import time
from errno import EPERM, EOPNOTSUPP, EACCES
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from semlib import *  # noqa: F401,F403

m = sys.argv[1]
p = lambda *n: os.path.join(m, *n)
U = (1500, 1500, [])              # an unprivileged owner
V = (1501, 1501, [])              # another unprivileged user
os.umask(0o022)

GETFLAGS, SETFLAGS = 0x80086601, 0x40086602          # _IOR/_IOW('f', 1/2, long)
FSGETXATTR, FSSETXATTR = 0x801c581f, 0x401c5820      # _IOR/_IOW('X', 31/32, fsxattr)
SYNC, IMM, APP, NODUMP, NOATIME, COMPR, DIRSYNC = 0x8, 0x10, 0x20, 0x40, 0x80, 0x4, 0x10000


KNOWN = SYNC | IMM | APP | NODUMP | NOATIME | DIRSYNC
HFS = subprocess.run(["stat", "-f", "-c", "%T", m], capture_output=True,
                     text=True).stdout.strip() == "fuseblk"   # else: ext4, to compare


def getflags(path):
    """the chattr flags this test is about (ext4 also shows e.g. extents)"""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        return struct.unpack("i", fcntl.ioctl(fd, GETFLAGS, b"\0" * 4))[0] & KNOWN
    finally:
        os.close(fd)


def setflags(path, fl):
    """set the chattr flags, keeping the bits a filesystem sets itself"""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        old = struct.unpack("i", fcntl.ioctl(fd, GETFLAGS, b"\0" * 4))[0]
        fcntl.ioctl(fd, SETFLAGS, struct.pack("i", (old & ~KNOWN & ~COMPR) | fl))
    finally:
        os.close(fd)


def fsxattr(path, xflags=None):
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        b = fcntl.ioctl(fd, FSGETXATTR, b"\0" * 28)
        if xflags is None:
            return struct.unpack("5I8x", b)
        fcntl.ioctl(fd, FSSETXATTR, struct.pack("5I8x", xflags, *struct.unpack("5I8x", b)[1:]))
    finally:
        os.close(fd)


def open_close(path, flags):
    os.close(os.open(path, flags, 0o644))


def append(path, data):
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        return os.write(fd, data)
    finally:
        os.close(fd)


def fallocate(path, mode, off, ln):
    fd = os.open(path, os.O_RDWR | os.O_APPEND)
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.fallocate(fd, mode, ctypes.c_long(off), ctypes.c_long(ln)):
            raise OSError(ctypes.get_errno(), "fallocate")
    finally:
        os.close(fd)


# ---- get/set, both interfaces --------------------------------------------------
write_file(p("f"), b"hello")
eq("a new file has no flags", getflags(p("f")), 0)
expect("root sets +i", 0, setflags, p("f"), IMM)
eq("GETFLAGS returns +i", getflags(p("f")), IMM)
eq("FSGETXATTR shows FS_XFLAG_IMMUTABLE", fsxattr(p("f"))[0], 0x8)
expect("root clears +i", 0, setflags, p("f"), 0)
expect("FSSETXATTR sets noatime|nodump|sync", 0, fsxattr, p("f"), 0x40 | 0x80 | 0x20)
eq("... which GETFLAGS shows", getflags(p("f")), NOATIME | NODUMP | SYNC)
expect("FSSETXATTR clears them", 0, fsxattr, p("f"), 0)
eq("no flags left", getflags(p("f")), 0)
if HFS:   # ext4 takes +c and ignores it
    expect("+c (compression) is not supported", EOPNOTSUPP, setflags, p("f"), COMPR)
    eq("raw GETFLAGS of a new file is 0", struct.unpack("i", fcntl.ioctl(
        os.open(p("f"), os.O_RDONLY), GETFLAGS, b"\0" * 4))[0], 0)

# ---- immutable file ------------------------------------------------------------
write_file(p("i"), b"data")
os.setxattr(p("i"), "user.a", b"1")
wfd = os.open(p("i"), os.O_WRONLY)          # opened before +i
setflags(p("i"), IMM)
# a regular file's ctime under the writeback cache is the kernel's, which
# FUSE_IOCTL does not move (t_iflags.sh checks the stored one after a remount)
os.mkdir(p("ct"))
ctime0 = os.stat(p("ct")).st_ctime_ns
time.sleep(0.02)
setflags(p("ct"), NODUMP)
check("chattr changes a directory's ctime", os.stat(p("ct")).st_ctime_ns > ctime0)
for fl, name in ((os.O_WRONLY, "O_WRONLY"), (os.O_RDWR, "O_RDWR"),
                 (os.O_WRONLY | os.O_APPEND, "O_WRONLY|O_APPEND"),
                 (os.O_RDONLY | os.O_TRUNC, "O_RDONLY|O_TRUNC")):
    expect("+i: open %s" % name, EPERM, open_close, p("i"), fl)
eq("+i: reading still works", read_file(p("i")), b"data")
expect("+i: write through a descriptor opened before", EPERM, os.write, wfd, b"x")
os.close(wfd)
expect("+i: truncate", EPERM, os.truncate, p("i"), 0)
expect("+i: unlink", EPERM, os.unlink, p("i"))
expect("+i: rename", EPERM, os.rename, p("i"), p("i2"))
expect("+i: link", EPERM, os.link, p("i"), p("i3"))
expect("+i: chmod", EPERM, os.chmod, p("i"), 0o600)
expect("+i: chown", EPERM, os.chown, p("i"), 1500, 1500)
expect("+i: utime with times", EPERM, os.utime, p("i"), (1, 1))
expect("+i: touch (utime now)", EPERM, os.utime, p("i"))
expect("+i: setxattr", EPERM, os.setxattr, p("i"), "user.a", b"2")
expect("+i: removexattr", EPERM, os.removexattr, p("i"), "user.a")
expect("+i: a renamed-over target", EPERM, lambda: (write_file(p("o")), os.rename(p("o"), p("i"))))
expect("+i: may only be cleared, other flags stay", EPERM, setflags, p("i"), IMM | NODUMP)
eq("+i: the file is unchanged", (read_file(p("i")), os.getxattr(p("i"), "user.a")), (b"data", b"1"))
expect("root clears +i", 0, setflags, p("i"), 0)
expect("after -i: write", 0, write_file, p("i"), b"new")
expect("after -i: unlink", 0, os.unlink, p("i"))

# ---- who may change flags ------------------------------------------------------
os.mkdir(p("ud"))
os.chmod(p("ud"), 0o777)
write_file(p("ud", "u"), b"u")
os.chown(p("ud", "u"), U[0], U[1])
os.chmod(p("ud", "u"), 0o666)
expect_as(U, "owner sets +d", 0, setflags, p("ud", "u"), NODUMP)
expect_as(U, "owner sets +A too", 0, setflags, p("ud", "u"), NODUMP | NOATIME)
expect_as(U, "owner without CAP_LINUX_IMMUTABLE cannot set +i", EPERM, setflags, p("ud", "u"), IMM)
expect_as(U, "nor +a", EPERM, setflags, p("ud", "u"), APP)
expect_as(V, "another user cannot change the flags", EPERM, setflags, p("ud", "u"), 0)
eq("flags as the owner left them", getflags(p("ud", "u")), NODUMP | NOATIME)
setflags(p("ud", "u"), IMM)
expect_as(U, "owner cannot clear +i", EPERM, setflags, p("ud", "u"), 0)
expect_as(V, "+i: a 0666 file cannot be opened for writing by others", EPERM, open_close,
          p("ud", "u"), os.O_WRONLY)
expect_as(U, "+i: nor unlinked by its owner", EPERM, os.unlink, p("ud", "u"))
setflags(p("ud", "u"), 0)

# ---- append-only file ----------------------------------------------------------
write_file(p("a"), b"start")
setflags(p("a"), APP)
expect("+a: open O_WRONLY", EPERM, open_close, p("a"), os.O_WRONLY)
expect("+a: open O_RDWR", EPERM, open_close, p("a"), os.O_RDWR)
expect("+a: open O_WRONLY|O_APPEND|O_TRUNC", EPERM, open_close, p("a"),
       os.O_WRONLY | os.O_APPEND | os.O_TRUNC)
eq("+a: O_APPEND writes", append(p("a"), b"+more"), 5)
eq("+a: appended after the old data", read_file(p("a")), b"start+more")
fd = os.open(p("a"), os.O_WRONLY | os.O_APPEND)
expect("+a: ftruncate", EPERM, os.ftruncate, fd, 0)
os.close(fd)
expect("+a: truncate", EPERM, os.truncate, p("a"), 0)
expect("+a: unlink", EPERM, os.unlink, p("a"))
expect("+a: rename", EPERM, os.rename, p("a"), p("a2"))
expect("+a: link", EPERM, os.link, p("a"), p("a3"))
expect("+a: chmod", EPERM, os.chmod, p("a"), 0o600)
expect("+a: utime with times", EPERM, os.utime, p("a"), (1, 1))
expect("+a: touch (utime now)", 0, os.utime, p("a"))
expect("+a: setxattr", EPERM, os.setxattr, p("a"), "user.a", b"2")
expect("+a: punch a hole", EPERM, fallocate, p("a"), 3, 0, 4096)
expect("+a: allocate past the end", 0, fallocate, p("a"), 1, 0, 65536)
eq("+a: the data is intact", read_file(p("a")), b"start+more")
setflags(p("a"), 0)
os.unlink(p("a"))

# ---- immutable and append-only directories --------------------------------------
os.mkdir(p("di"))
write_file(p("di", "in"), b"in")
setflags(p("di"), IMM)
eq("+i directory: GETFLAGS", getflags(p("di")), IMM)
expect("+i dir: create", EPERM, write_file, p("di", "new"))
expect("+i dir: mkdir", EPERM, os.mkdir, p("di", "sub"))
expect("+i dir: symlink", EPERM, os.symlink, "x", p("di", "sl"))
expect("+i dir: unlink", EPERM, os.unlink, p("di", "in"))
expect("+i dir: rename out", EPERM, os.rename, p("di", "in"), p("out"))
write_file(p("x"))
expect("+i dir: rename in", EPERM, os.rename, p("x"), p("di", "x"))
expect("+i dir: link in", EPERM, os.link, p("x"), p("di", "x"))
expect("+i dir: a file in it can still be written", 0, write_file, p("di", "in"), b"changed")
expect("+i dir: rmdir", EPERM, os.rmdir, p("di"))
setflags(p("di"), 0)
os.mkdir(p("da"))
write_file(p("da", "in"))
setflags(p("da"), APP)
expect("+a dir: create", 0, write_file, p("da", "new"))
expect("+a dir: rename in", 0, os.rename, p("x"), p("da", "x"))
expect("+a dir: unlink", EPERM, os.unlink, p("da", "in"))
expect("+a dir: rename out", EPERM, os.rename, p("da", "in"), p("out"))
expect("+a dir: replace an entry", EPERM, os.rename, p("da", "new"), p("da", "in"))
setflags(p("da"), 0)

# ---- noatime, inheritance --------------------------------------------------------
write_file(p("na"), b"atime")
os.utime(p("na"), (1000000, 1000000))          # atime old: relatime would move it
setflags(p("na"), NOATIME)
read_file(p("na"))
eq("+A: a read leaves atime", os.stat(p("na")).st_atime, 1000000)
setflags(p("na"), 0)
read_file(p("na"))
check("without +A the same read moves it", os.stat(p("na")).st_atime > 1000000)
os.mkdir(p("inh"))
setflags(p("inh"), NODUMP | NOATIME | SYNC)
write_file(p("inh", "f"), b"sync data")
eq("a new file inherits nodump, noatime, sync", getflags(p("inh", "f")), NODUMP | NOATIME | SYNC)
os.mkdir(p("inh", "d"))
eq("so does a new directory", getflags(p("inh", "d")), NODUMP | NOATIME | SYNC)
eq("+S: data written", read_file(p("inh", "f")), b"sync data")
os.mkdir(p("ds"))
expect("+D on a directory", 0, setflags, p("ds"), DIRSYNC)
eq("GETFLAGS shows +D", getflags(p("ds")), DIRSYNC)
write_file(p("ds", "f"))
os.mkdir(p("ds", "sub"))
eq("a new file does not inherit +D", getflags(p("ds", "f")), 0)
eq("a new directory does", getflags(p("ds", "sub")), DIRSYNC)
expect("+D dir: rename", 0, os.rename, p("ds", "f"), p("ds", "g"))
expect("+D dir: unlink", 0, os.unlink, p("ds", "g"))
expect("+D on a file is not supported", EOPNOTSUPP, setflags, p("f"), DIRSYNC)

# ---- kept for the remount check -------------------------------------------------
os.mkdir(p("keep"))
write_file(p("keep", "imm"), b"immutable")
write_file(p("keep", "app"), b"append")
write_file(p("keep", "misc"), b"misc")
setflags(p("keep", "imm"), IMM)
setflags(p("keep", "app"), APP)
setflags(p("keep", "misc"), NODUMP | NOATIME | SYNC)
finish()
