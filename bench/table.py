#!/usr/bin/env python3
"""bench/table.py RESULTS SIZE RUNTIME NFILES NSMALL NFSYNC

Prints the table of bench/bench.sh: absolute figures per configuration,
then ratios hfs/peer (hfs-mirror/zfs-mirror for the mirror column).  For
rows marked "lower is better" a ratio below 1 means hfs wins."""
import sys

ROWS = [
    # key, label, unit, higher_is_better
    ("seqw", "seq write 1M +fsync", "MB/s", True),
    ("seqr", "seq read 1M (cold)", "MB/s", True),
    ("randw", "rand write 4K fsync/32", "IOPS", True),
    ("randr1", "rand read 4K 1 job", "IOPS", True),
    ("randr4", "rand read 4K 4 jobs", "IOPS", True),
    ("create", "create empty files", "files/s", True),
    ("stat", "stat (cold)", "files/s", True),
    ("delete", "delete", "files/s", True),
    ("smallw", "write 4K files", "files/s", True),
    ("smallr", "read 4K files (cold)", "files/s", True),
    ("fsync50", "append 4K+fsync p50", "us", False),
    ("fsync99", "append 4K+fsync p99", "us", False),
    ("cpu_gib", "daemon CPU / GiB written", "s", False),
    ("cpu", "daemon CPU whole run", "s", False),
]
CONFIGS = ["hfs", "hfs-mirror", "fuse2fs", "ntfs-3g", "zfs", "zfs-mirror", "ext4", "fuse-null"]
RATIOS = [("hfs", "fuse2fs"), ("hfs", "ntfs-3g"), ("hfs", "zfs"),
          ("hfs-mirror", "zfs-mirror"), ("hfs", "ext4"), ("hfs", "fuse-null")]


def num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def fmt(v):
    if v is None:
        return "-"
    if v >= 100:
        return "%.0f" % v
    return "%.2f" % v if v < 10 else "%.1f" % v


def main():
    res = {}
    for line in open(sys.argv[1]):
        parts = line.split()
        if len(parts) == 3:
            res[(parts[0], parts[1])] = num(parts[2])
    size, runtime, nfiles, nsmall, nfsync = sys.argv[2:7]
    present = [c for c in CONFIGS if any(k[0] == c for k in res)]
    ratios = [(a, b) for a, b in RATIOS if a in present and b in present]
    head = ["metric", "unit"] + present + ["%s/%s" % (a.replace("-mirror", "M"), b.replace("-mirror", "M"))
                                           for a, b in ratios]
    rows = []
    for key, label, unit, hib in ROWS:
        if not any((c, key) in res for c in present):
            continue
        r = [label, unit + ("" if hib else " (lower better)")]
        r += [fmt(res.get((c, key))) for c in present]
        for a, b in ratios:
            x, y = res.get((a, key)), res.get((b, key))
            r.append("%.2f" % (x / y) if x is not None and y else "-")
        rows.append(r)
    w = [max(len(str(row[i])) for row in [head] + rows) for i in range(len(head))]
    print("hfs benchmark: file %s, random phases %ss, %s metadata files, %s small files, %s fsyncs"
          % (size, runtime, nfiles, nsmall, nfsync))
    print("  ".join(h.ljust(w[i]) if i < 2 else h.rjust(w[i]) for i, h in enumerate(head)))
    for row in rows:
        print("  ".join(str(c).ljust(w[i]) if i < 2 else str(c).rjust(w[i]) for i, c in enumerate(row)))
    print("ratios are hfs/peer (hfsM = hfs mirror, zfsM = zfs-fuse mirror); for 'lower better'"
          " rows a ratio < 1 means hfs is better.  ext4 is the kernel's (no daemon CPU).")
    if "fuse-null" in present:
        print("fuse-null keeps no data (writes dropped, reads zeros): hfs/fuse-null is how close"
              " hfs comes to what FUSE itself allows here.")


if __name__ == "__main__":
    main()
