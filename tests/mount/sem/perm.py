# Multi-user semantics on a mount serving every user (run as root):
# owner/group/other bits, sticky and setgid directories, set-ID bits cleared
# on write/truncate/chown, chown rules, POSIX ACLs enforced and inherited.
import os
import stat
import subprocess
import sys
import time
from errno import EACCES, EPERM, ENODATA, EINVAL
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from semlib import *  # noqa: F401,F403

m = sys.argv[1]
G = 1600                          # a group A is not in, B is in
A = (1500, 1500, [])
B = (1501, 1501, [G])
C = (1502, 1502, [])
p = lambda *n: os.path.join(m, *n)
os.umask(0o022)

# ---- owner / group / other bits ------------------------------------------
os.mkdir(p("base"), 0o755)
expect_as(A, "user cannot create in root's 0755 directory", EACCES, write_file, p("base", "x"))
expect_as(A, "user can list root's 0755 directory", 0, os.listdir, p("base"))
write_file(p("base", "f"), b"secret")
os.chown(p("base", "f"), A[0], G)
os.chmod(p("base", "f"), 0o640)
eq("owner reads a 0640 file", run_as(*A, read_file, p("base", "f")), ("ok", b"secret"))
expect_as(A, "owner writes a 0640 file", 0, write_file, p("base", "f"), b"secret",
          os.O_WRONLY)
eq("group member reads a 0640 file", run_as(*B, read_file, p("base", "f")), ("ok", b"secret"))
expect_as(B, "group member cannot write a 0640 file", EACCES, os.open, p("base", "f"),
          os.O_WRONLY)
expect_as(C, "other cannot read a 0640 file", EACCES, read_file, p("base", "f"))
os.chmod(p("base", "f"), 0o044)
expect_as(A, "owner class wins: owner without bits cannot read a 0044 file", EACCES,
          read_file, p("base", "f"))
eq("others can read the 0044 file", run_as(*C, read_file, p("base", "f")), ("ok", b"secret"))
os.mkdir(p("base", "noexec"), 0o766)
write_file(p("base", "noexec", "g"))
expect_as(C, "search permission needed to stat inside a directory", EACCES, os.stat,
          p("base", "noexec", "g"))
expect_as(A, "chmod by a non-owner fails", EPERM, os.chmod, p("base", "noexec"), 0o777)
expect_as(A, "owner chmod works", 0, os.chmod, p("base", "f"), 0o640)
write_file(p("base", "prog"), b"#!/bin/sh\nexit 0\n", mode=0o700)
expect_as(C, "exec needs the x bit for the user", EACCES, os.execv, p("base", "prog"),
          ["prog"])

write_file(p("base", "t0"), b"root data")
os.chmod(p("base", "t0"), 0o644)
expect_as(A, "truncate without write permission", EACCES, os.truncate, p("base", "t0"), 0)
expect("ftruncate of a read-only descriptor", EINVAL, lambda: os.ftruncate(
    os.open(p("base", "t0"), os.O_RDONLY), 0))
os.chmod(p("base", "t0"), 0o000)
eq("root reads a mode 0000 file (CAP_DAC_OVERRIDE)", read_file(p("base", "t0")), b"root data")
expect("root cannot execute a file without any x bit", EACCES, os.execv, p("base", "t0"), ["t0"])
os.mkdir(p("base", "gw"), 0o775)
os.chown(p("base", "gw"), 0, G)
os.chmod(p("base", "gw"), 0o775)
expect_as(B, "a supplementary group grants create in a group-writable directory", 0, write_file,
          p("base", "gw", "byB"))
expect_as(A, "without the group: EACCES", EACCES, write_file, p("base", "gw", "byA"))
eq("access(W_OK) follows the same rules", (run_as(*B, os.access, p("base", "gw"), os.W_OK),
                                           run_as(*A, os.access, p("base", "gw"), os.W_OK)),
   (("ok", True), ("ok", False)))

# ---- utimes: explicit times need ownership; "now" needs write access --------
write_file(p("base", "t"))
os.chmod(p("base", "t"), 0o666)
expect_as(A, "non-owner with write access may set times to now", 0, os.utime, p("base", "t"))
expect_as(A, "non-owner may not set explicit times", EPERM, os.utime, p("base", "t"), (1, 1))

# ---- sticky directory ----------------------------------------------------
os.mkdir(p("tmp"))
os.chmod(p("tmp"), 0o1777)
expect_as(A, "user creates a file in a sticky directory", 0, write_file, p("tmp", "a"))
expect_as(B, "another user cannot unlink it", EPERM, os.unlink, p("tmp", "a"))
expect_as(B, "another user cannot rename it", EPERM, os.rename, p("tmp", "a"), p("tmp", "b"))
expect_as(B, "another user cannot replace it by rename", EPERM, lambda: (
    write_file(p("tmp", "bb")), os.rename(p("tmp", "bb"), p("tmp", "a"))))
expect_as(A, "the owner renames it", 0, os.rename, p("tmp", "a"), p("tmp", "a2"))
expect_as(A, "the owner unlinks it", 0, os.unlink, p("tmp", "a2"))
expect_as(A, "user creates another", 0, write_file, p("tmp", "c"))
expect("root unlinks any file in a sticky directory", 0, os.unlink, p("tmp", "c"))
os.mkdir(p("tmp", "own"))
os.chown(p("tmp", "own"), B[0], B[1])
os.chmod(p("tmp", "own"), 0o1777)
expect_as(A, "user creates in B's sticky directory", 0, write_file, p("tmp", "own", "x"))
expect_as(B, "the directory's owner unlinks other users' files", 0, os.unlink,
          p("tmp", "own", "x"))

# ---- setgid directory inheritance ---------------------------------------
os.mkdir(p("sg"))
os.chown(p("sg"), 0, G)
os.chmod(p("sg"), 0o2777)
write_file(p("sg", "f"))
eq("file in a setgid directory gets the directory's group", os.stat(p("sg", "f")).st_gid, G)
os.mkdir(p("sg", "sub"))
st = os.stat(p("sg", "sub"))
eq("subdirectory gets the group", st.st_gid, G)
check("subdirectory inherits the setgid bit", st.st_mode & stat.S_ISGID)
expect_as(A, "a non-member creates a file there", 0, write_file, p("sg", "a"))
eq("its group is still the directory's", os.stat(p("sg", "a")).st_gid, G)
expect_as(A, "a non-member creates a 02755 file", 0, lambda: os.close(
    os.open(p("sg", "a2"), os.O_CREAT | os.O_WRONLY, 0o2755)))
eq("setgid stripped from a non-member's group-executable file", mode_of(p("sg", "a2")), 0o755)
expect_as(A, "a non-member creates a directory", 0, os.mkdir, p("sg", "ad"))
check("... which still inherits setgid", os.stat(p("sg", "ad")).st_mode & stat.S_ISGID)
expect_as(A, "chmod g+s by a non-member of the file's group is silently dropped", 0,
          os.chmod, p("sg", "a"), 0o2644)
eq("... mode without setgid", mode_of(p("sg", "a")), 0o644)

# ---- set-ID bits cleared on write, truncate, chown ----------------------
def setid_file(name, owner, mode):
    write_file(p(name), b"0123456789")
    os.chown(p(name), owner[0], owner[1])
    os.chmod(p(name), mode)

setid_file("s1", A, 0o6755)
expect_as(A, "owner writes a 06755 file", 0, write_file, p("s1"), b"abc", os.O_WRONLY)
os.sync()
eq("write by the owner cleared setuid and setgid", mode_of(p("s1")), 0o755)
setid_file("s2", A, 0o2644)
expect_as(A, "owner writes a 02644 file (setgid without group exec)", 0, write_file, p("s2"),
          b"abc", os.O_WRONLY)
os.sync()
eq("setgid without group exec kept for a group member", mode_of(p("s2")), 0o2644)
setid_file("s3", (0, 0), 0o6777)
write_file(p("s3"), b"abc", os.O_WRONLY)
os.sync()
eq("write by root (CAP_FSETID) keeps both bits", mode_of(p("s3")), 0o6777)
expect_as(A, "another user writes root's 06777 file", 0, write_file, p("s3"), b"abc",
          os.O_WRONLY)
os.sync()
eq("write by another user cleared both bits", mode_of(p("s3")), 0o777)
setid_file("s4", (0, 0), 0o4777)
expect_as(A, "another user truncates root's 04777 file", 0, os.truncate, p("s4"), 3)
eq("truncate cleared setuid", mode_of(p("s4")), 0o777)
eq("truncated size", os.stat(p("s4")).st_size, 3)
setid_file("s5", (0, 0), 0o4777)
expect_as(A, "another user opens root's 04777 file with O_TRUNC", 0, write_file, p("s5"),
          b"", os.O_WRONLY | os.O_TRUNC)
eq("O_TRUNC cleared setuid", mode_of(p("s5")), 0o777)
setid_file("s6", (0, 0), 0o6755)
os.chown(p("s6"), A[0], -1)
eq("chown by root cleared setuid and setgid", mode_of(p("s6")), 0o755)
eq("chown -1 kept the group", (os.stat(p("s6")).st_uid, os.stat(p("s6")).st_gid), (A[0], 0))
setid_file("s7", (0, 0), 0o6755)
os.chown(p("s7"), -1, -1)
eq("chown -1 -1 clears setuid too (as Linux does)", mode_of(p("s7")), 0o755)
os.mkdir(p("sd"))
os.chmod(p("sd"), 0o2755)
os.chown(p("sd"), A[0], A[1])
check("chown of a directory keeps setgid", mode_of(p("sd")) & stat.S_ISGID)

# ---- chown rules -----------------------------------------------------------
write_file(p("o"))
os.chown(p("o"), B[0], B[1])
expect_as(B, "owner cannot give a file away", EPERM, os.chown, p("o"), A[0], -1)
expect_as(B, "owner chgrp to a group he is in", 0, os.chown, p("o"), -1, G)
eq("group changed", os.stat(p("o")).st_gid, G)
expect_as(B, "owner cannot chgrp to a group he is not in", EPERM, os.chown, p("o"), -1, A[1])
expect_as(B, "chown -1 -1 by the owner", 0, os.chown, p("o"), -1, -1)
expect_as(A, "non-owner cannot chgrp", EPERM, os.chown, p("o"), -1, A[1])
c0 = os.stat(p("o")).st_ctime_ns
time.sleep(0.02)   # the kernel's FUSE ctime is clock-tick grained
os.chown(p("o"), C[0], C[1])
st = os.stat(p("o"))
eq("root chowns to anyone", (st.st_uid, st.st_gid), (C[0], C[1]))
check("chown changed ctime", st.st_ctime_ns > c0)
os.symlink("target", p("ln"))
os.chown(p("ln"), A[0], A[1], follow_symlinks=False)
eq("lchown of a symlink", (os.lstat(p("ln")).st_uid, os.lstat(p("ln")).st_gid), (A[0], A[1]))

# ---- umask applies at create when there is no default ACL ----------------
os.mkdir(p("um"))
os.chmod(p("um"), 0o777)
expect_as(A, "create with umask 027", 0, write_file, p("um", "f"), b"", umask=0o027,
          mode=0o666)
eq("umask applied to a file", mode_of(p("um", "f")), 0o640)
expect_as(A, "mkdir with umask 077", 0, os.mkdir, p("um", "d"), 0o777, umask=0o077)
eq("umask applied to a directory", mode_of(p("um", "d")), 0o700)
expect_as(A, "mkfifo with umask 002", 0, os.mkfifo, p("um", "p"), 0o666, umask=0o002)
eq("umask applied to a fifo", mode_of(p("um", "p")), 0o664)


# ---- fallocate drops set-ID bits as a write does (setattr_should_drop_suidgid:
# setuid always, setgid without group-exec only for a non-member) ---------
def falloc(path):
    fd = os.open(path, os.O_WRONLY)
    try:
        os.posix_fallocate(fd, 0, 65536)
    finally:
        os.close(fd)
for who, cred, want in (("a non-member", A, 0o666), ("a member", B, 0o2666)):
    f = p("base", "fa%d" % cred[0])
    write_file(f, b"x")
    os.chown(f, 0, G)
    os.chmod(f, 0o6666)
    expect_as(cred, who + " fallocates a 06666 file", 0, falloc, f)
    eq("... set-ID bits after " + who + "'s fallocate", mode_of(f), want)

# ---- POSIX ACLs --------------------------------------------------------------
def acl(*args):
    r = subprocess.run(["setfacl"] + list(args), capture_output=True, text=True)
    return r.returncode == 0 or print(r.stderr.strip()) or False


def getfacl(path):
    r = subprocess.run(["getfacl", "-cpE", path], capture_output=True, text=True)
    return sorted(l for l in r.stdout.split("\n") if l and not l.startswith("#"))


os.mkdir(p("acl"))
os.chmod(p("acl"), 0o755)
write_file(p("acl", "f"), b"acl data")
os.chmod(p("acl", "f"), 0o600)
expect_as(A, "no access before the ACL", EACCES, read_file, p("acl", "f"))
check("setfacl u:A:rw", acl("-m", "u:%d:rw" % A[0], p("acl", "f")))
eq("ACL grants read to the named user", run_as(*A, read_file, p("acl", "f")),
   ("ok", b"acl data"))
expect_as(A, "ACL grants write to the named user", 0, write_file, p("acl", "f"), b"acl data",
          os.O_WRONLY)
expect_as(C, "others still denied", EACCES, read_file, p("acl", "f"))
eq("mode group bits show the mask", mode_of(p("acl", "f")), 0o660)
check("setfacl g:G:r", acl("-m", "g:%d:r" % G, p("acl", "f")))
eq("named group entry grants read", run_as(*B, read_file, p("acl", "f")), ("ok", b"acl data"))
expect_as(B, "named group entry denies write", EACCES, os.open, p("acl", "f"), os.O_WRONLY)
check("setfacl m::r", acl("-m", "m::r", p("acl", "f")))
expect_as(A, "the mask limits the named user to read", EACCES, os.open, p("acl", "f"),
          os.O_WRONLY)
os.chmod(p("acl", "f"), 0o600)
expect_as(A, "chmod g-rwx sets the mask to none: named user denied", EACCES, read_file,
          p("acl", "f"))
check("chmod rewrote the ACL mask", "mask::---" in getfacl(p("acl", "f")), getfacl(p("acl", "f")))
os.chmod(p("acl", "f"), 0o640)
check("setfacl -x u:A", acl("-x", "u:%d" % A[0], p("acl", "f")))
expect_as(A, "removed entry: access gone", EACCES, read_file, p("acl", "f"))
check("setfacl -b", acl("-b", p("acl", "f")))
expect("no access ACL xattr after -b", ENODATA, os.getxattr, p("acl", "f"),
       "system.posix_acl_access")
expect_as(B, "after -b the group is the owning group only", EACCES, read_file, p("acl", "f"))
ACL_RWX = (b"\x02\0\0\0\x01\0\x07\0\xff\xff\xff\xff\x04\0\x07\0\xff\xff\xff\xff"
           b"\x20\0\x07\0\xff\xff\xff\xff")
expect_as(A, "only the owner may set an ACL", EPERM, os.setxattr, p("acl", "f"),
          "system.posix_acl_access", ACL_RWX)
# setting an access ACL clears setgid when the caller is outside the file's
# group (posix_acl_update_mode), and keeps it for a member and for root
for who, cred, keeps in (("a non-member owner", A, False), ("a member owner", B, True)):
    f = p("acl", "sg%d" % cred[0])
    write_file(f, b"sg")
    os.chown(f, cred[0], G)
    os.chmod(f, 0o2750)
    expect_as(cred, who + " sets an access ACL on a setgid file", 0, os.setxattr, f,
              "system.posix_acl_access", ACL_RWX)
    eq("... setgid " + ("kept" if keeps else "cleared"), mode_of(f),
       0o2777 if keeps else 0o777)
f = p("acl", "sgroot")
write_file(f, b"sg")
os.chown(f, A[0], G)
os.chmod(f, 0o2750)
os.setxattr(f, "system.posix_acl_access", ACL_RWX)
eq("root setting an ACL keeps setgid", mode_of(f), 0o2777)

# default ACLs: inherited by new files and directories, umask ignored
os.mkdir(p("acl", "d"))
os.chmod(p("acl", "d"), 0o755)
check("setfacl -d", acl("-d", "-m", "u:%d:rwx,g::rx,o::-" % A[0], p("acl", "d")))
os.umask(0o077)
write_file(p("acl", "d", "f"), b"inherited", mode=0o666)
os.mkdir(p("acl", "d", "sub"), 0o777)
os.umask(0o022)
eq("new file's mode from the default ACL (umask ignored)", mode_of(p("acl", "d", "f")), 0o660)
check("new file has the named user entry", "user:%d:rwx" % A[0] in getfacl(p("acl", "d", "f")),
      getfacl(p("acl", "d", "f")))
check("... masked by the create mode", "mask::rw-" in getfacl(p("acl", "d", "f")),
      getfacl(p("acl", "d", "f")))
eq("inherited ACL grants access", run_as(*A, read_file, p("acl", "d", "f")), ("ok", b"inherited"))
expect_as(C, "inherited ACL: others none", EACCES, read_file, p("acl", "d", "f"))
eq("new directory's mode from the default ACL", mode_of(p("acl", "d", "sub")), 0o770)
check("new directory inherits the default ACL",
      "default:user:%d:rwx" % A[0] in getfacl(p("acl", "d", "sub")), getfacl(p("acl", "d", "sub")))
expect_as(A, "inherited directory ACL lets the user create", 0, write_file,
          p("acl", "d", "sub", "byA"))
os.symlink("x", p("acl", "d", "sym"))
eq("symlinks get no ACL and mode 0777", mode_of(p("acl", "d", "sym")), 0o777)
expect("a file cannot have a default ACL", EACCES, os.setxattr, p("acl", "d", "f"),
       "system.posix_acl_default", ACL_RWX)
os.mkfifo(p("acl", "d", "fifo"), 0o640)
eq("mknod under a default ACL: mode masked", mode_of(p("acl", "d", "fifo")), 0o640)
check("mknod inherits the named user entry",
      "user:%d:rwx" % A[0] in getfacl(p("acl", "d", "fifo")), getfacl(p("acl", "d", "fifo")))
finish()
