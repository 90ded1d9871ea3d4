# Space: ENOSPC from metadata (xattrs, then empty files and directories)
# and from data (big and small files); every refusal is ENOSPC (never EIO or
# a crash), what was acknowledged reads back, the full filesystem still
# reads, lists, renames and unlinks, and freeing gives the space back.
# usage: space.py DIR fill STATE   (fills; leaves the filesystem full; what
#                                  was acknowledged goes to the file STATE)
#        space.py DIR check STATE  (after a remount: contents, then free all)
#        space.py DIR data STATE / datacheck STATE: the same with file data
import json
import os
import sys
from errno import ENOSPC
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from semlib import *  # noqa: F401,F403

m, phase, state = sys.argv[1], sys.argv[2], sys.argv[3]
p = lambda *n: os.path.join(m, *n)
XV = b"v" * 4000


def errs_other(errs):
    return {k: v for k, v in errs.items() if k != "ENOSPC"}


if phase == "fill":
    s0 = os.statvfs(m)
    os.mkdir(p("x"))
    os.mkdir(p("e"))
    made = []

    def fill_names(start):
        """empty files, every tenth a directory, until ENOSPC (50 refusals)"""
        errs, i = {}, start
        while i < start + 200000:
            try:
                nm = ("d%06d" if i % 10 == 9 else "f%06d") % i
                if i % 10 == 9:
                    os.mkdir(p("e", nm))
                else:
                    write_file(p("e", nm), b"")
                made.append(nm)
            except OSError as e:
                c = errno.errorcode[e.errno]
                errs[c] = errs.get(c, 0) + 1
                if errs[c] >= 50:
                    break
            i += 1
        return errs, i

    # 1. metadata: 4000-byte xattrs on files of 500 each until the B-tree is full
    have, nx, errs = {}, 0, {}
    while True:
        f = "f%d" % (nx // 500)
        try:
            if nx % 500 == 0:
                write_file(p("x", f), b"")
                have[f] = 0
            os.setxattr(p("x", f), "user.k%d" % (nx % 500), XV)
            have[f] += 1
            nx += 1
        except OSError as e:
            errs[errno.errorcode[e.errno]] = errs.get(errno.errorcode[e.errno], 0) + 1
            break
    eq("xattrs until the filesystem is full: stops with ENOSPC", errs, {"ENOSPC": 1})
    check("many xattrs fitted first (%d)" % nx, nx > 1000)
    errs, nxt = fill_names(0)
    eq("empty files and directories in the crumbs: refused with ENOSPC only", list(errs),
       ["ENOSPC"])
    expect("mkdir when the B-tree is full", ENOSPC, os.mkdir, p("full"))
    expect("create when the B-tree is full", ENOSPC, write_file, p("full"))
    expect("symlink when the B-tree is full", ENOSPC, os.symlink, "t", p("full"))
    # 2. free one file's 500 xattrs, fill that with empty files and directories
    expect("removing xattrs when full", 0, lambda: [os.removexattr(p("x", "f1"), "user.k%d" % i)
                                                    for i in range(500)])
    have["f1"] = 0
    n0 = len(made)
    errs, nxt = fill_names(nxt)
    eq("empty files and directories: refused with ENOSPC only", list(errs), ["ENOSPC"])
    check("%d files and directories fitted in the freed space" % (len(made) - n0),
          len(made) - n0 > 1000)
    st = os.statvfs(m)
    # space is owned per 8 MiB big-block by zone (B-tree, small data, large
    # data): the free rest of another zone's big-blocks cannot hold B-tree
    # nodes, so statfs may show up to two big-blocks free at a metadata ENOSPC
    check("statfs: the filesystem is full but for other zones' big-blocks (%d blocks left)"
          % st.f_bavail, st.f_bavail < 2 * 2048 + 256)
    # 3. data on a full filesystem
    errs = {}
    for i in range(20):
        try:
            fd = os.open(p("data%d" % i), os.O_WRONLY | os.O_CREAT, 0o644)
            try:
                os.write(fd, b"d" * 65536)
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as e:
            c = errno.errorcode[e.errno]
            errs[c] = errs.get(c, 0) + 1
    eq("data writes on the full filesystem: ENOSPC only", list(errs), ["ENOSPC"])
    # 4. still usable: read, list, rename, unlink
    eq("xattrs read back when full", os.getxattr(p("x", "f0"), "user.k0"), XV)
    eq("listing when full", len(os.listdir(p("x"))), len(have))
    expect("rename when full", 0, os.rename, p("x", "f0"), p("x", "renamed"))
    expect("unlink when full", 0, os.unlink, p("x", "renamed"))
    del have["f0"]
    expect("rmdir when full", 0, os.rmdir, p("e", [n for n in made if n[0] == "d"][0]))
    made.remove([n for n in made if n[0] == "d"][0])
    with open(state, "w") as f:
        json.dump({"have": have, "made": made, "free0": s0.f_bavail, "ffree0": s0.f_ffree}, f)
    finish()

if phase == "data":
    # small and large files with fsync until ENOSPC; what fsync acknowledged
    # is recorded (its size), a file that failed is removed
    s0 = os.statvfs(m)
    os.mkdir(p("d"))
    sizes, errs, i = {}, {}, 0
    while len(errs) == 0 or sum(errs.values()) < 20:
        n = (i * 7919) % 200000 + 1 if i % 4 else 65536 * 3
        nm = "f%05d" % i
        try:
            fd = os.open(p("d", nm), os.O_WRONLY | os.O_CREAT, 0o644)
            try:
                os.write(fd, bytes([i % 251]) * n)
                os.fsync(fd)
            finally:
                os.close(fd)
            sizes[nm] = n
        except OSError as e:
            c = errno.errorcode[e.errno]
            errs[c] = errs.get(c, 0) + 1
            try:
                os.unlink(p("d", nm))
            except OSError:
                pass
        i += 1
    eq("data until ENOSPC: only ENOSPC", list(errs), ["ENOSPC"])
    check("%d files written first" % len(sizes), len(sizes) > 100)
    st = os.statvfs(m)
    check("statfs: full (%d blocks left)" % st.f_bavail, st.f_bavail < 2 * 2048 + 256)
    bad = [nm for nm, n in sizes.items() if read_file(p("d", nm)) != bytes([int(nm[1:]) % 251]) * n]
    eq("every acknowledged file reads back when full", bad, [])
    with open(state, "w") as f:
        json.dump({"sizes": sizes, "free0": s0.f_bavail, "ffree0": s0.f_ffree}, f)
    finish()

if phase == "datacheck":
    c = json.load(open(state))
    bad = [nm for nm, n in c["sizes"].items()
           if read_file(p("d", nm)) != bytes([int(nm[1:]) % 251]) * n]
    eq("every acknowledged file after the remount", bad, [])
    eq("and nothing else", sorted(os.listdir(p("d"))), sorted(c["sizes"]))
    for nm in c["sizes"]:
        os.unlink(p("d", nm))
    os.rmdir(p("d"))
    st = os.statvfs(m)
    check("freeing gives the space back (%d -> %d blocks)" % (c["free0"], st.f_bavail),
          st.f_bavail >= c["free0"] - 64)
    finish()

# ---- check: after the remount -------------------------------------------------
c = json.load(open(state))
free0, ffree0 = c["free0"], c["ffree0"]
bad = 0
for f, n in c["have"].items():
    try:
        bad += sum(os.getxattr(p("x", f), "user.k%d" % i) != XV for i in range(n))
        bad += len(os.listxattr(p("x", f))) != n
    except OSError:
        bad += 1
eq("every acknowledged xattr survived the remount", bad, 0)
names = set(os.listdir(p("e")))
eq("every acknowledged file and directory survived", names, set(c["made"]))
# free everything, in bulk
for f in os.listdir(p("x")):
    os.unlink(p("x", f))
for f in names:
    (os.rmdir if f.startswith("d") else os.unlink)(p("e", f))
for f in os.listdir(m):
    if f.startswith("data"):
        os.unlink(p(f))
os.rmdir(p("x"))
os.rmdir(p("e"))
st = os.statvfs(m)
check("freeing gives the space back (%d -> %d blocks)" % (free0, st.f_bavail),
      st.f_bavail >= free0 - 64)
check("and the inodes (%d -> %d)" % (ffree0, st.f_ffree), st.f_ffree >= ffree0 - 4)
expect("a 20 MiB file fits again", 0, write_file, p("again"), b"a" * (20 << 20))
os.unlink(p("again"))
finish()
