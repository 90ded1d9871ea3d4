# Names and sizes: NAME_MAX, PATH_MAX, any byte but '/' and NUL in a name,
# deep trees, files past 4 GiB and 1 TiB (sparse), EFBIG at the file size
# limit and at RLIMIT_FSIZE, statfs counts that follow creates and frees.
# usage: names.py DIR MAX_FILE_SIZE   (hfs: 2^63-1, ext4: 16 TiB - 4 KiB)
import ctypes
import os
import resource
import signal
import sys
import time
from errno import EEXIST, EFBIG, ENAMETOOLONG, ENOENT, ERANGE, EINVAL
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from semlib import *  # noqa: F401,F403

m = sys.argv[1].encode()
MAXSZ = int(sys.argv[2])
p = lambda *n: os.path.join(m, *[x if isinstance(x, bytes) else x.encode() for x in n])
libc = ctypes.CDLL(None, use_errno=True)
libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]


def fallocate(fd, mode, off, ln):
    if libc.fallocate(fd, mode, off, ln) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


# ---- NAME_MAX -------------------------------------------------------------
os.mkdir(p("nm"))
n255, n256 = b"a" * 255, b"b" * 256
expect("create a 255-byte name", 0, write_file, p("nm", n255), b"255")
expect("mkdir a 255-byte name", 0, os.mkdir, p("nm", b"d" * 255))
expect("symlink a 255-byte name", 0, os.symlink, b"t", p("nm", b"s" * 255))
expect("mkfifo a 255-byte name", 0, os.mkfifo, p("nm", b"f" * 255))
expect("link to a 255-byte name", 0, os.link, p("nm", n255), p("nm", b"l" * 255))
expect("rename to a 255-byte name", 0, os.rename, p("nm", b"l" * 255), p("nm", b"r" * 255))
expect("create a 256-byte name", ENAMETOOLONG, write_file, p("nm", n256))
expect("mkdir a 256-byte name", ENAMETOOLONG, os.mkdir, p("nm", n256))
expect("symlink a 256-byte name", ENAMETOOLONG, os.symlink, b"t", p("nm", n256))
expect("mkfifo a 256-byte name", ENAMETOOLONG, os.mkfifo, p("nm", n256))
expect("link to a 256-byte name", ENAMETOOLONG, os.link, p("nm", n255), p("nm", n256))
expect("rename to a 256-byte name", ENAMETOOLONG, os.rename, p("nm", n255), p("nm", n256))
expect("stat a 256-byte name", ENAMETOOLONG, os.stat, p("nm", n256))
expect("unlink a 256-byte name", ENAMETOOLONG, os.unlink, p("nm", n256))
utf = "é".encode() * 127 + b"z"          # 255 bytes, 128 characters
expect("a 255-byte UTF-8 name", 0, write_file, p("nm", utf))
expect("a 256-byte UTF-8 name", ENAMETOOLONG, write_file, p("nm", "é".encode() * 128))
expect("xattr name of 255 bytes", 0, os.setxattr, p("nm", n255), b"user." + b"x" * 250, b"v")
expect("xattr name of 256 bytes", ERANGE, os.setxattr, p("nm", n255), b"user." + b"x" * 251, b"v")
expect("symlink target of 4095 bytes", 0, os.symlink, b"t" * 4095, p("nm", "long"))
eq("readlink of 4095 bytes", os.readlink(p("nm", "long")), b"t" * 4095)
expect("symlink target of 4096 bytes", ENAMETOOLONG, os.symlink, b"t" * 4096, p("nm", "long2"))
eq("directory intact after the refusals", sorted(os.listdir(p("nm"))),
   sorted([n255, b"d" * 255, b"s" * 255, b"f" * 255, b"r" * 255, utf, b"long"]))
eq("content through the 255-byte name", read_file(p("nm", n255)), b"255")
eq("hard link count", os.stat(p("nm", b"r" * 255)).st_nlink, 2)

# ---- any byte but '/' and NUL -------------------------------------------
os.mkdir(p("bytes"))
want = set()
for c in range(1, 256):
    if c == ord("/"):
        continue
    nm = b"x" + bytes([c]) + b"y"
    write_file(p("bytes", nm), nm)
    want.add(nm)
allb = bytes(c for c in range(1, 256) if c != ord("/"))       # 254 bytes
write_file(p("bytes", allb), b"all")
want.add(allb)
for nm in (b" ", b"  ", b"-", b"\n", b"...", b"\xff\xfe", b".x", b"..x"):
    write_file(p("bytes", nm), nm)
    want.add(nm)
eq("every byte but / and NUL round-trips through readdir", set(os.listdir(p("bytes"))), want)
bad = [nm for nm in want if nm != allb and read_file(p("bytes", nm)) != nm]
eq("each such name opens its own file", bad, [])
eq("the 254-byte all-bytes name", read_file(p("bytes", allb)), b"all")
expect("mkdir '.' exists", EEXIST, os.mkdir, p("bytes", "."))
expect("mkdir '..' exists", EEXIST, os.mkdir, p("bytes", ".."))

# ---- PATH_MAX and deep trees ---------------------------------------------
# a path of exactly 4095 bytes (PATH_MAX with its NUL) opens; 4096 does not
os.mkdir(p("pm"))
base = p("pm")
comps, cur = [], base
while len(cur) + 1 + 255 < 4095 - 2:
    cur = os.path.join(cur, b"c" * 255)
    os.mkdir(cur)
last = 4095 - len(cur) - 1
write_file(os.path.join(cur, b"f" * last), b"deep")
full = os.path.join(cur, b"f" * last)
eq("path of 4095 bytes", len(full), 4095)
eq("open by a 4095-byte path", read_file(full), b"deep")
expect("a 4096-byte path", ENAMETOOLONG, os.stat, os.path.join(cur, b"f" * (last + 1)))
expect("a 4096-byte path with ./", ENAMETOOLONG, os.stat,
       os.path.join(cur, b"." + b"/" + b"f" * (last - 1)))

# 3000 levels deep (beyond any path): walk with directory descriptors
DEPTH = 5000
fd = os.open(p("pm"), os.O_RDONLY | os.O_DIRECTORY)
os.mkdir(b"deep", dir_fd=fd)
top = os.open(b"deep", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
os.close(fd)
fd = os.dup(top)
for i in range(DEPTH):
    os.mkdir(b"d", dir_fd=fd)
    nfd = os.open(b"d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
    os.close(fd)
    fd = nfd
bfd = os.open(b"bottom", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
os.write(bfd, b"bottom")
os.close(bfd)
up = os.dup(fd)
for i in range(DEPTH):
    nfd = os.open(b"..", os.O_RDONLY | os.O_DIRECTORY, dir_fd=up)
    os.close(up)
    up = nfd
eq("%d times '..' from the bottom is the top" % DEPTH, os.fstat(up).st_ino, os.fstat(top).st_ino)
os.close(up)
eq("the file at the bottom", os.pread(os.open(b"bottom", os.O_RDONLY, dir_fd=fd), 10, 0), b"bottom")
os.mkdir(p("movein"))
expect("rename a directory into a directory %d levels deep" % DEPTH, 0, os.rename,
       p("movein"), b"movein", dst_dir_fd=fd)
expect("rename the top of the tree into its own bottom", EINVAL, os.rename,
       p("pm", "deep"), b"x", dst_dir_fd=fd)
os.close(fd)
os.close(top)

# ---- files past 4 GiB and past 1 TiB ----------------------------------
G4, T1 = 1 << 32, 1 << 40
pat = bytes(range(256)) * 4096          # 1 MiB
fd = os.open(p("f4g"), os.O_RDWR | os.O_CREAT, 0o644)
eq("write 1 MiB across the 4 GiB boundary", os.pwrite(fd, pat, G4 - 512 * 1024), len(pat))
eq("size past 4 GiB", os.fstat(fd).st_size, G4 + 512 * 1024)
eq("read back across 4 GiB", os.pread(fd, len(pat), G4 - 512 * 1024), pat)
eq("hole before it reads zeros", os.pread(fd, 4096, 1 << 31), b"\0" * 4096)
os.close(fd)
fd = os.open(p("f1t"), os.O_RDWR | os.O_CREAT, 0o644)
eq("write past 1 TiB", os.pwrite(fd, pat[:100000], T1 + 12345), 100000)
os.fsync(fd)
st = os.fstat(fd)
eq("size past 1 TiB", st.st_size, T1 + 112345)
check("a sparse 1 TiB file uses little space", st.st_blocks < 2048, st.st_blocks)
eq("read back past 1 TiB", os.pread(fd, 100000, T1 + 12345), pat[:100000])
eq("hole at 512 GiB reads zeros", os.pread(fd, 65536, T1 // 2), b"\0" * 65536)
d = os.lseek(fd, 0, os.SEEK_DATA)
check("SEEK_DATA finds the data past 1 TiB", T1 - 65536 <= d <= T1 + 12345, d)
h = os.lseek(fd, T1 + 12345, os.SEEK_HOLE)
check("SEEK_HOLE after it", T1 + 112345 <= h <= st.st_size, h)
t0 = time.time()
fallocate(fd, 3, 0, T1)                 # PUNCH_HOLE | KEEP_SIZE over 1 TiB of hole
check("punching a 1 TiB hole range is quick", time.time() - t0 < 5, time.time() - t0)
eq("data after the punched range intact", os.pread(fd, 100000, T1 + 12345), pat[:100000])
fallocate(fd, 3, T1, 1 << 20)
eq("punched data reads zeros", os.pread(fd, 100000, T1 + 12345), b"\0" * 100000)
check("punched blocks freed", os.fstat(fd).st_blocks < 200, os.fstat(fd).st_blocks)
os.ftruncate(fd, 5 << 30)
eq("truncate a 1 TiB file to 5 GiB", os.fstat(fd).st_size, 5 << 30)
os.close(fd)

# ---- EFBIG --------------------------------------------------------------
fd = os.open(p("efbig"), os.O_RDWR | os.O_CREAT, 0o644)
if MAXSZ < (1 << 63) - 1:
    expect("write at the maximum file size", EFBIG, os.pwrite, fd, b"x", MAXSZ)
    eq("write across the maximum is short", os.pwrite(fd, b"ab", MAXSZ - 1), 1)
else:
    # the format's limit is the kernel's (off_t): past it the kernel refuses
    # the range itself, before the filesystem sees it
    expect("write of a range past the off_t limit", EINVAL, os.pwrite, fd, b"ab", MAXSZ - 1)
    eq("write of the last byte below the limit", os.pwrite(fd, b"a", MAXSZ - 1), 1)
eq("size is the maximum", os.fstat(fd).st_size, MAXSZ)
expect("fsync after writing the last byte", 0, os.fsync, fd)
eq("the last byte reads back", os.pread(fd, 1, MAXSZ - 1), b"a")
if MAXSZ < (1 << 63) - 1:
    expect("truncate past the maximum", EFBIG, os.ftruncate, fd, MAXSZ + 1)
expect("fallocate past the maximum", EFBIG, fallocate, fd, 0, MAXSZ - 65536, 1 << 20)
expect("truncate to 0", 0, os.ftruncate, fd, 0)
os.close(fd)


def fsize_limited():
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))
    fd = os.open(p("rlim"), os.O_RDWR | os.O_CREAT, 0o644)
    res = []
    for f in (lambda: os.pwrite(fd, b"x" * 100, (1 << 20) - 10),
              lambda: os.pwrite(fd, b"x", 1 << 20),
              lambda: os.ftruncate(fd, 2 << 20)):
        try:
            res.append(f())
        except OSError as e:
            res.append(errno.errorcode[e.errno])
    return res


eq("RLIMIT_FSIZE: short write, then EFBIG for write and truncate",
   run_as(0, 0, [], fsize_limited), ("ok", [10, "EFBIG", "EFBIG"]))

# ---- statfs ------------------------------------------------------------------
os.mkdir(p("sf"))
s0 = os.statvfs(m)
for i in range(100):
    write_file(p("sf", "e%d" % i), b"")
s1 = os.statvfs(m)
eq("f_files does not change with creates", s1.f_files, s0.f_files)
eq("100 creates take 100 from f_ffree", s0.f_ffree - s1.f_ffree, 100)
for i in range(100):
    os.unlink(p("sf", "e%d" % i))
s2 = os.statvfs(m)
eq("100 unlinks give them back", s2.f_ffree, s0.f_ffree)
fd = os.open(p("sf", "data"), os.O_WRONLY | os.O_CREAT, 0o644)
os.write(fd, pat * 20)
os.fsync(fd)
os.close(fd)
s3 = os.statvfs(m)
check("20 MiB written take at least 20 MiB from f_bavail",
      s2.f_bavail - s3.f_bavail >= 20 * 256, (s2.f_bavail - s3.f_bavail))
check("... and not much more", s2.f_bavail - s3.f_bavail <= 20 * 256 + 256,
      (s2.f_bavail - s3.f_bavail))
os.unlink(p("sf", "data"))
s4 = os.statvfs(m)
check("unlink gives the 20 MiB back at once", s4.f_bavail >= s2.f_bavail - 16,
      (s2.f_bavail, s4.f_bavail))
eq("f_namemax", s4.f_namemax, 255)
finish()
