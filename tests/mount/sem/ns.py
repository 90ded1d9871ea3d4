# Namespace: rename over an empty / onto a non-empty directory, into its own
# subtree, between hard links of one inode, RENAME_EXCHANGE and NOREPLACE;
# link count limit; rmdir and unlink errors; mknod of every type.
# usage: ns.py DIR LINK_MAX DEV_MOUNT(0|1: opening device nodes works)
import ctypes
import os
import socket
import stat
import sys
from errno import (EBUSY, EEXIST, EINVAL, EISDIR, EMLINK, ENOENT, ENOTDIR, ENOTEMPTY, EPERM,
                   ELOOP, EACCES)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from semlib import *  # noqa: F401,F403

m = sys.argv[1]
LINK_MAX = int(sys.argv[2])
DEV_OK = sys.argv[3] == "1"
p = lambda *n: os.path.join(m, *n)
libc = ctypes.CDLL(None, use_errno=True)
NOREPLACE, EXCHANGE, WHITEOUT = 1, 2, 4


def renameat2(a, b, flags):
    if libc.renameat2(-100, a.encode(), -100, b.encode(), flags) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


nl = lambda path: os.lstat(path).st_nlink
ino = lambda path: os.lstat(path).st_ino

# ---- rename and directories ---------------------------------------------
os.makedirs(p("r", "a", "sub"))
os.mkdir(p("r", "empty"))
os.makedirs(p("r", "full", "x"))
write_file(p("r", "file"))
ia = ino(p("r", "a"))
expect("rename a directory over an empty one", 0, os.rename, p("r", "a"), p("r", "empty"))
eq("the target name is the moved directory", ino(p("r", "empty")), ia)
check("the source name is gone", not os.path.exists(p("r", "a")))
eq("parent link count: one directory less", nl(p("r")), 2 + 2)   # empty, full
expect("rename a directory onto a non-empty one", ENOTEMPTY, os.rename, p("r", "empty"),
       p("r", "full"))
expect("rename a directory over a file", ENOTDIR, os.rename, p("r", "empty"), p("r", "file"))
expect("rename a file over a directory", EISDIR, os.rename, p("r", "file"), p("r", "full"))
expect("rename a directory into its own subtree", EINVAL, os.rename, p("r", "empty"),
       p("r", "empty", "sub", "x"))
expect("rename a directory onto its own child", EINVAL, os.rename, p("r", "empty"),
       p("r", "empty", "sub"))
expect("rename a directory to itself", 0, os.rename, p("r", "empty"), p("r", "empty"))
expect("rename of '.'", EBUSY, os.rename, p("r", "empty", "."), p("r", "dot"))
expect("rename a missing name", ENOENT, os.rename, p("r", "nothere"), p("r", "x"))
expect("rename into a missing directory", ENOENT, os.rename, p("r", "file"), p("r", "no", "x"))
expect("rename through a file", ENOTDIR, os.rename, p("r", "file"), p("r", "file", "x"))
write_file(p("r", "h1"), b"hl")
os.link(p("r", "h1"), p("r", "h2"))
expect("rename between hard links of one inode", 0, os.rename, p("r", "h1"), p("r", "h2"))
check("both names remain (a no-op)", os.path.exists(p("r", "h1")) and os.path.exists(p("r", "h2")))
eq("link count unchanged", nl(p("r", "h1")), 2)
os.mkdir(p("r", "d2"))
expect("rename a directory across parents", 0, os.rename, p("r", "empty"), p("r", "d2", "moved"))
eq("its '..' is the new parent", ino(p("r", "d2", "moved", "..")), ino(p("r", "d2")))
eq("old parent's link count", nl(p("r")), 2 + 2)                 # full, d2
eq("new parent's link count", nl(p("r", "d2")), 3)

# RENAME_EXCHANGE / NOREPLACE
os.makedirs(p("x", "dir", "inner"))
write_file(p("x", "f"), b"file")
idir, ifile = ino(p("x", "dir")), ino(p("x", "f"))
expect("RENAME_EXCHANGE of a file and a directory", 0, renameat2, p("x", "f"), p("x", "dir"),
       EXCHANGE)
eq("names swapped", (ino(p("x", "f")), ino(p("x", "dir"))), (idir, ifile))
eq("the directory keeps its entries", os.listdir(p("x", "f")), ["inner"])
eq("content follows the file", read_file(p("x", "dir")), b"file")
os.mkdir(p("x", "other"))
expect("RENAME_EXCHANGE across parents", 0, renameat2, p("x", "f"), p("x", "other", "g"), 0)
write_file(p("x", "g2"))
expect("RENAME_EXCHANGE of a directory and a file in another parent", 0, renameat2,
       p("x", "other", "g"), p("x", "g2"), EXCHANGE)
eq("'..' of the exchanged directory", ino(p("x", "g2", "..")), ino(p("x")))
eq("link counts after the exchange", (nl(p("x")), nl(p("x", "other"))), (4, 2))
expect("RENAME_EXCHANGE with a missing target", ENOENT, renameat2, p("x", "g2"), p("x", "none"),
       EXCHANGE)
expect("RENAME_EXCHANGE of a directory into its own subtree", EINVAL, renameat2, p("x", "g2"),
       p("x", "g2", "inner"), EXCHANGE)
expect("RENAME_NOREPLACE onto an existing name", EEXIST, renameat2, p("x", "dir"), p("x", "g2"),
       NOREPLACE)
expect("RENAME_NOREPLACE to a new name", 0, renameat2, p("x", "dir"), p("x", "new"), NOREPLACE)
expect("NOREPLACE and EXCHANGE together", EINVAL, renameat2, p("x", "new"), p("x", "g2"),
       NOREPLACE | EXCHANGE)
write_file(p("x", "wsrc"), b"moved")
expect("RENAME_WHITEOUT", 0, renameat2, p("x", "wsrc"), p("x", "wdst"), WHITEOUT)
st = os.lstat(p("x", "wsrc"))
eq("the source name is a whiteout (char device 0:0)",
   (stat.S_ISCHR(st.st_mode), os.major(st.st_rdev), os.minor(st.st_rdev)), (True, 0, 0))
eq("the target has the content", read_file(p("x", "wdst")), b"moved")
expect("RENAME_WHITEOUT with EXCHANGE", EINVAL, renameat2, p("x", "wdst"), p("x", "g2"),
       WHITEOUT | EXCHANGE)

# ---- link counts ------------------------------------------------------------
os.mkdir(p("lk"))
write_file(p("lk", "t"))
n = 1
err = 0
while n < LINK_MAX + 5:
    try:
        os.link(p("lk", "t"), p("lk", "l%d" % n))
    except OSError as e:
        err = e.errno
        break
    n += 1
eq("links until EMLINK", (n, errno.errorcode.get(err, err)), (LINK_MAX, "EMLINK"))
eq("link count at the limit", nl(p("lk", "t")), LINK_MAX)
expect("unlink one at the limit", 0, os.unlink, p("lk", "l1"))
expect("then a link works again", 0, os.link, p("lk", "t"), p("lk", "again"))
expect("link to a directory", EPERM, os.link, p("r"), p("lk", "dirlink"))
expect("link onto an existing name", EEXIST, os.link, p("lk", "t"), p("lk", "again"))
os.symlink("t", p("lk", "sym"))
expect("link of a symlink itself", 0, os.link, p("lk", "sym"), p("lk", "sym2"),
       follow_symlinks=False)
check("the new link is the symlink", os.path.islink(p("lk", "sym2")) and
      ino(p("lk", "sym2")) == ino(p("lk", "sym")))
os.mkdir(p("sub"))
for i in range(100):
    os.mkdir(p("sub", "d%d" % i))
eq("a directory's link count counts its subdirectories", nl(p("sub")), 102)

# ---- rmdir / unlink errors -------------------------------------------------
os.makedirs(p("rm", "d"))
write_file(p("rm", "d", "f"))
expect("rmdir of '.'", EINVAL, os.rmdir, p("rm", "d", "."))
expect("rmdir of '..'", ENOTEMPTY, os.rmdir, p("rm", "d", ".."))
expect("rmdir of a non-empty directory", ENOTEMPTY, os.rmdir, p("rm", "d"))
expect("rmdir of a file", ENOTDIR, os.rmdir, p("rm", "d", "f"))
expect("unlink of a directory", EISDIR, os.unlink, p("rm", "d"))
expect("unlink of a missing name", ENOENT, os.unlink, p("rm", "nothere"))
expect("rmdir of the mount root", EBUSY, os.rmdir, m)
os.unlink(p("rm", "d", "f"))
fd = os.open(p("rm", "d"), os.O_RDONLY)
expect("rmdir of an emptied directory", 0, os.rmdir, p("rm", "d"))
expect("create in a removed directory", ENOENT, os.open, "new", os.O_CREAT | os.O_WRONLY, 0o644,
       dir_fd=fd)
eq("a removed directory has no links", os.fstat(fd).st_nlink, 0)
eq("... and lists empty", os.listdir(fd), [])
os.close(fd)
expect("mkdir over an existing name", EEXIST, os.mkdir, p("rm"))
os.symlink("loop2", p("loop1"))
os.symlink("loop1", p("loop2"))
expect("a symlink loop", ELOOP, os.stat, p("loop1"))

# ---- mknod of every type -------------------------------------------------
os.mkdir(p("nod"))
cases = [("fifo", stat.S_IFIFO, 0), ("sock", stat.S_IFSOCK, 0),
         ("chr", stat.S_IFCHR, os.makedev(1, 5)), ("blk", stat.S_IFBLK, os.makedev(7, 200)),
         ("bigdev", stat.S_IFCHR, os.makedev(4095, 1048575)), ("reg", stat.S_IFREG, 0)]
for name, t, dev in cases:
    expect("mknod " + name, 0, os.mknod, p("nod", name), t | 0o640, dev)
    st = os.lstat(p("nod", name))
    eq("mknod %s: type and mode" % name, (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode)),
       (t, 0o640))
    if dev:
        eq("mknod %s: device number" % name, (os.major(st.st_rdev), os.minor(st.st_rdev)),
           (os.major(dev), os.minor(dev)))
os.chmod(p("nod"), 0o777)
expect_as((1500, 1500, []), "mknod of a device by a user", EPERM, os.mknod, p("nod", "u"),
          stat.S_IFCHR | 0o600, os.makedev(1, 3))
expect_as((1500, 1500, []), "mkfifo by a user", 0, os.mkfifo, p("nod", "ufifo"))
if DEV_OK:
    eq("a char device node opens as the device (dev mount)", os.pread(os.open(
        p("nod", "chr"), os.O_RDONLY), 4, 0), b"\0" * 4)
else:
    expect("a char device node does not open on a nodev mount", EACCES, os.open,
           p("nod", "chr"), os.O_RDONLY)
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(p("nod", "bound"))
s.listen(1)
check("a bound unix socket is a socket node", stat.S_ISSOCK(os.lstat(p("nod", "bound")).st_mode))
c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
expect("connect through the socket node", 0, c.connect, p("nod", "bound"))
a, _ = s.accept()
c.sendall(b"ping")
eq("data through the socket", a.recv(4), b"ping")
for x in (a, c, s):
    x.close()
rd, wr = os.open(p("nod", "fifo"), os.O_RDONLY | os.O_NONBLOCK), None
wr = os.open(p("nod", "fifo"), os.O_WRONLY)
os.write(wr, b"through the fifo")
eq("data through the fifo", os.read(rd, 100), b"through the fifo")
os.close(rd)
os.close(wr)
finish()
