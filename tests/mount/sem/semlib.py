# semlib.py — helpers for the semantics checks (tests/mount/sem/*.py).
# Each check prints "ok: ..." or "FAIL: ..."; finish() exits with the number
# of failures (capped), so the calling t_*.sh counts them.  The scripts take
# the directory to test as argv[1]: the same script runs on an ext4 mount to
# confirm what Linux does (the expected values are ext4's).
import errno
import os
import pickle
import stat
import sys

FAILS = 0


def ok(msg):
    print("ok:", msg, flush=True)


def fail(msg):
    global FAILS
    FAILS += 1
    print("FAIL:", msg, flush=True)


def check(msg, cond, detail=""):
    if cond:
        ok(msg)
    else:
        fail(msg + (" (" + str(detail) + ")" if detail != "" else ""))
    return cond


def eq(msg, got, want):
    """check that got == want, printing both on a mismatch"""
    return check(msg, got == want, "got %r, want %r" % (got, want))


def _call(fn, a, kw):
    try:
        return ("ok", fn(*a, **kw))
    except OSError as e:
        return ("err", e.errno)


def run_as(uid, gid, groups, fn, *a, umask=None, **kw):
    """Run fn(*a) in a child with these credentials (no capabilities when uid
    is not 0); returns ("ok", value) or ("err", errno)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            os.setgroups(list(groups))
            os.setresgid(gid, gid, gid)
            os.setresuid(uid, uid, uid)
            if umask is not None:
                os.umask(umask)
            res = _call(fn, a, kw)
        except BaseException as e:  # report, never run the parent's code
            res = ("exc", repr(e))
        os.write(w, pickle.dumps(res))
        os._exit(0)
    os.close(w)
    data = b""
    while True:
        chunk = os.read(r, 65536)
        if not chunk:
            break
        data += chunk
    os.close(r)
    os.waitpid(pid, 0)
    res = pickle.loads(data)
    if res[0] == "exc":
        raise RuntimeError("child failed: " + res[1])
    return res


def _name(e):
    return "success" if e == 0 else errno.errorcode.get(e, str(e))


def _expect(msg, res, want):
    """want: 0 (success) or an errno value"""
    got = 0 if res[0] == "ok" else res[1]
    check(msg, got == want, "got %s, want %s" % (_name(got), _name(want)))
    return res[1] if res[0] == "ok" else None


def expect(msg, want, fn, *a, **kw):
    """fn(*a) must succeed (want 0) or fail with errno want; returns its value."""
    return _expect(msg, _call(fn, a, kw), want)


def expect_as(ids, msg, want, fn, *a, **kw):
    """expect() in a child with ids = (uid, gid, groups)."""
    return _expect(msg, run_as(ids[0], ids[1], ids[2], fn, *a, **kw), want)


def mode_of(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def write_file(path, data=b"x", flags=os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode=0o644):
    fd = os.open(path, flags, mode)
    try:
        return os.write(fd, data)
    finally:
        os.close(fd)


def read_file(path):
    with open(path, "rb") as f:
        return f.read()


def finish():
    print("%s: %d failed" % (os.path.basename(sys.argv[0]), FAILS), flush=True)
    sys.exit(min(FAILS, 100))
