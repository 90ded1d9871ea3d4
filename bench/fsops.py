#!/usr/bin/env python3
"""bench/fsops.py — the per-operation phases of bench/bench.sh.

fio measures throughput and IOPS; these phases are about the cost of one
system call each (metadata, small files) or of one write+fsync pair, which
fio reports only as separate write and sync latencies.  Each subcommand does
its work under DIR and prints one number (documented per command).

  create DIR NFILES NDIRS   empty files spread over NDIRS directories: files/s
  stat   DIR NFILES NDIRS   stat every file: files/s
  delete DIR NFILES NDIRS   unlink every file and directory: files/s
  smallw DIR NFILES         write NFILES files of 4 KiB each: files/s
  smallr DIR NFILES         read them back and check every byte: files/s
  fsync  FILE N             N x (append 4 KiB, fsync): "p50_us p99_us"
"""
import os
import sys
import time

BLK = 4096


def names(top, nfiles, ndirs):
    for i in range(nfiles):
        yield os.path.join(top, "d%03d" % (i % ndirs), "f%06d" % i)


def rate(n, t0):
    dt = time.perf_counter() - t0
    return "%.1f" % (n / dt if dt > 0 else 0.0)


def content(i):
    # distinct per file so a read of the wrong file is caught
    return (b"%08d" % i) * (BLK // 8)


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    cmd, top = argv[1], argv[2]
    n = int(argv[3]) if len(argv) > 3 else 0
    ndirs = int(argv[4]) if len(argv) > 4 else 1
    if cmd == "create":
        for d in range(ndirs):
            os.mkdir(os.path.join(top, "d%03d" % d))
        t0 = time.perf_counter()
        for p in names(top, n, ndirs):
            os.close(os.open(p, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
        print(rate(n, t0))
    elif cmd == "stat":
        t0 = time.perf_counter()
        for p in names(top, n, ndirs):
            if os.stat(p).st_size != 0:
                raise SystemExit("fsops: %s: size not 0" % p)
        print(rate(n, t0))
    elif cmd == "delete":
        t0 = time.perf_counter()
        for p in names(top, n, ndirs):
            os.unlink(p)
        for d in range(ndirs):
            os.rmdir(os.path.join(top, "d%03d" % d))
        print(rate(n, t0))
    elif cmd == "smallw":
        for d in range(100):
            os.mkdir(os.path.join(top, "d%03d" % d))
        t0 = time.perf_counter()
        for i, p in enumerate(names(top, n, 100)):
            fd = os.open(p, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            if os.write(fd, content(i)) != BLK:
                raise SystemExit("fsops: %s: short write" % p)
            os.close(fd)
        print(rate(n, t0))
    elif cmd == "smallr":
        t0 = time.perf_counter()
        for i, p in enumerate(names(top, n, 100)):
            fd = os.open(p, os.O_RDONLY)
            b = os.read(fd, 2 * BLK)
            os.close(fd)
            if b != content(i):
                raise SystemExit("fsops: %s: wrong content" % p)
        print(rate(n, t0))
    elif cmd == "fsync":
        fd = os.open(top, os.O_CREAT | os.O_TRUNC | os.O_WRONLY | os.O_APPEND, 0o644)
        buf = b"\xa5" * BLK
        lat = []
        for _ in range(n):
            t0 = time.perf_counter_ns()
            if os.write(fd, buf) != BLK:
                raise SystemExit("fsops: short append")
            os.fsync(fd)
            lat.append(time.perf_counter_ns() - t0)
        os.close(fd)
        lat.sort()

        def pct(p):
            return lat[min(len(lat) - 1, int(len(lat) * p / 100.0))] / 1000.0

        print("%.0f %.0f" % (pct(50), pct(99)))
    else:
        print("fsops: unknown command %s" % cmd, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
